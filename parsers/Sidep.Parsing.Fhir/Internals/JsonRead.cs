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
    /// <summary>The string value that follows a property name (numbers and booleans as their text), or null. The short
    /// strings a bundle repeats (systems, codes, displays, statuses, references to the patient) come from the thread's
    /// bounded pool (<see cref="StringPool.ForThisThread"/>).</summary>
    public static string? String(ref Utf8JsonReader r)
    {
        r.Read();
        if (r.TokenType is JsonTokenType.String)
        {
            // The body was checked to be UTF-8 before it was read: an unescaped value's bytes are its text.
            return r.ValueIsEscaped || r.HasValueSequence ? r.GetString() : StringPool.ForThisThread().Get(r.ValueSpan, Hl7Charset.Utf8);
        }
        if (r.TokenType is JsonTokenType.Number or JsonTokenType.True or JsonTokenType.False)
        {
            return System.Text.Encoding.UTF8.GetString(r.ValueSpan);
        }
        r.Skip();
        return null;
    }

    // The readers below are plain loops over the reader (no callback): they run for every observation of a bundle, and
    // a callback per object and per array cost a closure and a delegate each (18 % of the bytes a large bundle
    // allocated). The loop idiom: EnterObject / NextProperty, each branch reading its value — always: `x ??= Read(ref r)`
    // would leave it unread when x is set, and the loop would go on inside it —, `else r.Skip()`; EnterArray /
    // NextElement (or NextObject), each element read from its first token.

    /// <summary>Moves onto the object that follows a property name; false, the value skipped, when it is not one.</summary>
    public static bool EnterObject(ref Utf8JsonReader r) => Enter(ref r, JsonTokenType.StartObject);

    /// <summary>Moves onto the array that follows a property name; false, the value skipped, when it is not one.</summary>
    public static bool EnterArray(ref Utf8JsonReader r) => Enter(ref r, JsonTokenType.StartArray);

    private static bool Enter(ref Utf8JsonReader r, JsonTokenType start)
    {
        r.Read();
        if (r.TokenType == start)
        {
            return true;
        }
        r.Skip();
        return false;
    }

    /// <summary>The next property of the object being read (the reader on its name); false at the object's end.</summary>
    public static bool NextProperty(ref Utf8JsonReader r) => r.Read() && r.TokenType == JsonTokenType.PropertyName;

    /// <summary>The next element of the array being read, the reader on its first token; false at the array's end.
    /// <paramref name="started"/> is false before the first element: from the second on, an element left unread (the
    /// reader still on its first token) is skipped first.</summary>
    public static bool NextElement(ref Utf8JsonReader r, ref bool started)
    {
        if (started && r.TokenType is JsonTokenType.StartObject or JsonTokenType.StartArray)
        {
            r.Skip();
        }
        started = true;
        return r.Read() && r.TokenType != JsonTokenType.EndArray;
    }

    /// <summary>The next element of the array being read that is an object (other elements skipped), the reader on its
    /// StartObject; false at the array's end.</summary>
    public static bool NextObject(ref Utf8JsonReader r, ref bool started)
    {
        while (NextElement(ref r, ref started))
        {
            if (r.TokenType == JsonTokenType.StartObject)
            {
                return true;
            }
        }
        return false;
    }

    public static Coding CodingHere(ref Utf8JsonReader r)
    {
        string? system = null, code = null, display = null;
        if (r.TokenType != JsonTokenType.StartObject)
        {
            return default;
        }
        while (NextProperty(ref r))
        {
            if (r.ValueTextEquals("system"u8)) system = String(ref r);
            else if (r.ValueTextEquals("code"u8)) code = String(ref r);
            else if (r.ValueTextEquals("display"u8)) display = String(ref r);
            else r.Skip();
        }
        return new Coding(system, code, display);
    }

    public static Concept CodeableConcept(ref Utf8JsonReader r)
    {
        var codings = new List<Coding>(1);
        string? text = null;
        if (EnterObject(ref r))
        {
            while (NextProperty(ref r))
            {
                if (r.ValueTextEquals("coding"u8))
                {
                    bool started = false;
                    if (EnterArray(ref r))
                    {
                        while (NextElement(ref r, ref started))
                        {
                            codings.Add(CodingHere(ref r));
                        }
                    }
                }
                else if (r.ValueTextEquals("text"u8))
                {
                    text = String(ref r);
                }
                else
                {
                    r.Skip();
                }
            }
        }
        return new Concept(codings, text);
    }

    /// <summary>The <c>reference</c> of the Reference object the reader is on (StartObject).</summary>
    public static string? ReferenceHere(ref Utf8JsonReader r)
    {
        string? reference = null;
        if (r.TokenType != JsonTokenType.StartObject)
        {
            return null;
        }
        while (NextProperty(ref r))
        {
            if (r.ValueTextEquals("reference"u8)) reference = String(ref r);
            else r.Skip();
        }
        return reference;
    }

    public static string? Reference(ref Utf8JsonReader r)
    {
        r.Read();
        if (r.TokenType != JsonTokenType.StartObject)
        {
            r.Skip();
            return null;
        }
        return ReferenceHere(ref r);
    }

    /// <summary>The Identifier object that follows a property name (default, the value skipped, when it is not one).</summary>
    public static Identifier Identifier(ref Utf8JsonReader r) => EnterObject(ref r) ? IdentifierHere(ref r) : default;

    /// <summary>The <c>start</c> of the Period object that follows a property name, or null.</summary>
    public static string? PeriodStart(ref Utf8JsonReader r)
    {
        string? start = null;
        if (EnterObject(ref r))
        {
            while (NextProperty(ref r))
            {
                if (r.ValueTextEquals("start"u8)) start = String(ref r);
                else r.Skip();
            }
        }
        return start;
    }

    public static Identifier IdentifierHere(ref Utf8JsonReader r)
    {
        string? system = null, value = null;
        if (r.TokenType != JsonTokenType.StartObject)
        {
            return default;
        }
        while (NextProperty(ref r))
        {
            if (r.ValueTextEquals("system"u8)) system = String(ref r);
            else if (r.ValueTextEquals("value"u8)) value = String(ref r);
            else r.Skip();
        }
        return new Identifier(system, value);
    }

    public static List<Identifier> Identifiers(ref Utf8JsonReader r)
    {
        var list = new List<Identifier>(1);
        bool started = false;
        if (EnterArray(ref r))
        {
            while (NextElement(ref r, ref started))
            {
                list.Add(IdentifierHere(ref r));
            }
        }
        return list;
    }

    /// <summary>The value of the first identifier of the array that follows that has one.</summary>
    public static string? FirstIdentifierValue(ref Utf8JsonReader r)
    {
        string? first = null;
        bool started = false;
        if (EnterArray(ref r))
        {
            while (NextElement(ref r, ref started))
            {
                string? value = IdentifierHere(ref r).Value;
                first ??= value;
            }
        }
        return first;
    }

    /// <summary>The references of the array that follows (an empty list, shared, when there is none).</summary>
    public static IReadOnlyList<string> References(ref Utf8JsonReader r)
    {
        List<string>? list = null;
        bool started = false;
        if (EnterArray(ref r))
        {
            while (NextElement(ref r, ref started))
            {
                if (ReferenceHere(ref r) is string reference)
                {
                    (list ??= new List<string>(1)).Add(reference);
                }
            }
        }
        return (IReadOnlyList<string>?)list ?? [];
    }

    public static List<string> Strings(ref Utf8JsonReader r)
    {
        var list = new List<string>(1);
        bool started = false;
        if (EnterArray(ref r))
        {
            while (NextElement(ref r, ref started))
            {
                if (r.TokenType == JsonTokenType.String && r.GetString() is string s)
                {
                    list.Add(s);
                }
            }
        }
        return list;
    }
}
