using System.Text.Json;
using Sidep.Parsing.Internals;

namespace Sidep.Parsing.Fhir.Internals;

internal readonly record struct Coding(string? System, string? Code, string? Display);

internal sealed record Concept(List<Coding> Codings, string? Text);

internal readonly record struct Identifier(string? System, string? Value);

/// <summary>Small readers for FHIR datatypes, over a Utf8JsonReader positioned on a property name.
/// Each reads the value that follows and leaves the reader on its last token; anything unexpected is skipped.</summary>
internal static class JsonRead
{
    /// <summary>The short strings a bundle repeats (systems, codes, displays, statuses, references to the patient),
    /// decoded once per thread: parsing is synchronous, and the pool is bounded (see <see cref="StringPool"/>).</summary>
    [ThreadStatic]
    private static StringPool? t_pool;

    public static string? String(ref Utf8JsonReader r)
    {
        r.Read();
        if (r.TokenType is JsonTokenType.String)
        {
            // The body was checked to be UTF-8 before it was read: an unescaped value's bytes are its text.
            return r.ValueIsEscaped || r.HasValueSequence ? r.GetString() : (t_pool ??= new StringPool()).Get(r.ValueSpan, Hl7Charset.Utf8);
        }
        if (r.TokenType is JsonTokenType.Number or JsonTokenType.True or JsonTokenType.False)
        {
            return System.Text.Encoding.UTF8.GetString(r.ValueSpan);
        }
        r.Skip();
        return null;
    }

    /// <summary>Calls <paramref name="property"/> for each property of the object that follows.</summary>
    public static void Object(ref Utf8JsonReader r, PropertyReader property)
    {
        r.Read();
        if (r.TokenType != JsonTokenType.StartObject)
        {
            r.Skip();
            return;
        }
        while (r.Read() && r.TokenType == JsonTokenType.PropertyName)
        {
            long before = r.TokenStartIndex;
            property(ref r);
            if (r.TokenType == JsonTokenType.PropertyName && r.TokenStartIndex == before)
            {
                r.Skip(); // the callback did not consume the value
            }
        }
    }

    public delegate void PropertyReader(ref Utf8JsonReader r);

    /// <summary>Calls <paramref name="element"/> for each element of the array that follows (positioned on the element's first token).</summary>
    public static void Array(ref Utf8JsonReader r, ElementReader element)
    {
        r.Read();
        if (r.TokenType != JsonTokenType.StartArray)
        {
            r.Skip();
            return;
        }
        int index = 0;
        while (r.Read() && r.TokenType != JsonTokenType.EndArray)
        {
            element(ref r, index++);
            if (r.TokenType is JsonTokenType.StartObject or JsonTokenType.StartArray)
            {
                r.Skip();
            }
        }
    }

    public delegate void ElementReader(ref Utf8JsonReader r, int index);

    /// <summary>Reads the object the reader is on (StartObject), property by property.</summary>
    public static void ObjectHere(ref Utf8JsonReader r, PropertyReader property)
    {
        if (r.TokenType != JsonTokenType.StartObject)
        {
            return;
        }
        while (r.Read() && r.TokenType == JsonTokenType.PropertyName)
        {
            long before = r.TokenStartIndex;
            property(ref r);
            if (r.TokenType == JsonTokenType.PropertyName && r.TokenStartIndex == before)
            {
                r.Skip();
            }
        }
    }

    public static Coding CodingHere(ref Utf8JsonReader r)
    {
        string? system = null, code = null, display = null;
        ObjectHere(ref r, (ref Utf8JsonReader p) =>
        {
            if (p.ValueTextEquals("system"u8)) system = String(ref p);
            else if (p.ValueTextEquals("code"u8)) code = String(ref p);
            else if (p.ValueTextEquals("display"u8)) display = String(ref p);
        });
        return new Coding(system, code, display);
    }

    public static Concept CodeableConcept(ref Utf8JsonReader r)
    {
        var codings = new List<Coding>(2);
        string? text = null;
        Object(ref r, (ref Utf8JsonReader p) =>
        {
            if (p.ValueTextEquals("coding"u8))
            {
                Array(ref p, (ref Utf8JsonReader e, int _) => codings.Add(CodingHere(ref e)));
            }
            else if (p.ValueTextEquals("text"u8))
            {
                text = String(ref p);
            }
        });
        return new Concept(codings, text);
    }

    public static string? Reference(ref Utf8JsonReader r)
    {
        string? reference = null;
        Object(ref r, (ref Utf8JsonReader p) =>
        {
            if (p.ValueTextEquals("reference"u8)) reference = String(ref p);
        });
        return reference;
    }

    public static Identifier IdentifierHere(ref Utf8JsonReader r)
    {
        string? system = null, value = null;
        ObjectHere(ref r, (ref Utf8JsonReader p) =>
        {
            if (p.ValueTextEquals("system"u8)) system = String(ref p);
            else if (p.ValueTextEquals("value"u8)) value = String(ref p);
        });
        return new Identifier(system, value);
    }

    public static List<Identifier> Identifiers(ref Utf8JsonReader r)
    {
        var list = new List<Identifier>(1);
        Array(ref r, (ref Utf8JsonReader e, int _) => list.Add(IdentifierHere(ref e)));
        return list;
    }

    public static List<string> References(ref Utf8JsonReader r)
    {
        var list = new List<string>(1);
        Array(ref r, (ref Utf8JsonReader e, int _) =>
        {
            string? reference = null;
            ObjectHere(ref e, (ref Utf8JsonReader p) =>
            {
                if (p.ValueTextEquals("reference"u8)) reference = String(ref p);
            });
            if (reference is not null)
            {
                list.Add(reference);
            }
        });
        return list;
    }

    public static List<string> Strings(ref Utf8JsonReader r)
    {
        var list = new List<string>(1);
        Array(ref r, (ref Utf8JsonReader e, int _) =>
        {
            if (e.TokenType == JsonTokenType.String && e.GetString() is string s)
            {
                list.Add(s);
            }
        });
        return list;
    }
}
