using System.Text;
using System.Text.Json;
using System.Text.RegularExpressions;
using System.Xml;
using Hl7.Fhir.Model;
using Sidep.Ingestion;
using Hl7.Fhir.Serialization;

namespace Sidep.Gateway;

/// <summary>Where Firely's full model is the right tool: the XML form (turned into JSON for the fast path) and the
/// strict validation a sender asks for with ?mode=strict. Firely reads only what Sidep's own readers passed first
/// (depth and element count: a 20,000-deep document overflowed Firely's stack and killed the process), every failure
/// of it is a problem to report (never a 500), and no value of the input is echoed back (quoted values in Firely's
/// messages are masked; the path and the rule broken stay).</summary>
public static partial class FhirFirely
{
    /// <summary>The deepest nesting read, in XML elements or JSON objects and arrays (the fast path's limit too).</summary>
    public const int MaxDepth = 64;

    /// <summary>The most XML elements in one document.</summary>
    public const int MaxElements = 2_000_000;

    /// <summary>Null when the XML is within the limits and well-formed; else why not, with its line and position.</summary>
    public static string? XmlLimits(string xml)
    {
        var settings = new XmlReaderSettings
        {
            DtdProcessing = DtdProcessing.Prohibit,
            XmlResolver = null,
            MaxCharactersFromEntities = 0,
            IgnoreComments = true,
            IgnoreWhitespace = true,
        };
        using var reader = XmlReader.Create(new StringReader(xml), settings);
        var info = (IXmlLineInfo)reader;
        long elements = 0;
        try
        {
            while (reader.Read())
            {
                if (reader.NodeType != XmlNodeType.Element)
                {
                    continue;
                }
                if (reader.Depth >= MaxDepth)
                {
                    return $"FHIR XML nested deeper than {MaxDepth} elements at line {info.LineNumber}, position {info.LinePosition}: refused before it is read";
                }
                if (++elements > MaxElements)
                {
                    return $"FHIR XML holds more than {MaxElements} elements (line {info.LineNumber}): refused before it is read";
                }
            }
            return null;
        }
        catch (XmlException ex)
        {
            return $"not well-formed XML at line {ex.LineNumber}, position {ex.LinePosition}";
        }
    }

    /// <summary>Null when the JSON is within the depth limit and well-formed; else why not, with its line and byte.</summary>
    public static string? JsonLimits(ReadOnlySpan<byte> json)
    {
        var reader = new Utf8JsonReader(json, new JsonReaderOptions { MaxDepth = MaxDepth, CommentHandling = JsonCommentHandling.Skip });
        try
        {
            while (reader.Read())
            {
            }
            return null;
        }
        catch (JsonException ex)
        {
            return reader.CurrentDepth >= MaxDepth - 1
                ? $"JSON nested deeper than {MaxDepth} levels at line {ex.LineNumber + 1}, byte {ex.BytePositionInLine}: refused before it is read"
                : $"not well-formed JSON at line {ex.LineNumber + 1}, byte {ex.BytePositionInLine}";
        }
    }

    /// <summary>A message of Firely's without the values it quotes from the input: <c>'1985-13-45'</c> becomes <c>'…'</c>.</summary>
    public static string Masked(string message) => Quoted().Replace(message, "'…'");

    [GeneratedRegex("'[^']*'")]
    private static partial Regex Quoted();

    private static readonly FhirXmlDeserializer s_xml = new(new DeserializerSettings().UsingMode(DeserializationMode.Recoverable));
    private static readonly FhirJsonDeserializer s_strict = new();
    private static readonly FhirJsonSerializer s_json = new();

    /// <summary>FHIR XML to FHIR JSON, or the reason it cannot be read.</summary>
    public static (byte[]? Json, string? Problem) XmlToJson(string xml)
    {
        if (XmlLimits(xml) is string refused)
        {
            return (null, refused);
        }
        try
        {
            Resource resource = s_xml.Deserialize<Resource>(xml);
            return (Encoding.UTF8.GetBytes(s_json.SerializeToString(resource)), null);
        }
        catch (Exception ex) when (ex is not OutOfMemoryException)
        {
            return (null, "not readable as FHIR R4 XML: " + Masked(ex.Message));
        }
    }

    /// <summary>Firely's strict reading of the JSON: every cardinality, type and unknown-element error, with its path and position.</summary>
    public static List<string> StrictProblems(string json)
    {
        if (JsonLimits(Encoding.UTF8.GetBytes(json)) is string refused)
        {
            return [refused];
        }
        try
        {
            s_strict.Deserialize<Resource>(json);
            return [];
        }
        catch (DeserializationFailedException ex)
        {
            return [.. ex.Exceptions.Select(e => Masked(e.Message))];
        }
        catch (Exception ex) when (ex is not OutOfMemoryException)
        {
            return ["not readable as FHIR R4 JSON: " + Masked(ex.Message)];
        }
    }

    /// <summary>Strict validation's problems as an OperationOutcome (written by the one writer of Sidep's outcomes), each
    /// with the element's path when Firely's message gives it ("… At Bundle.entry[0]…, line …").</summary>
    public static byte[] StrictOutcome(IEnumerable<string> problems) => FhirOutcomes.Invalid(problems.Select(problem =>
    {
        int at = problem.IndexOf(" At ", StringComparison.Ordinal);
        return (problem, at > 0 ? problem[(at + 4)..].Split(',')[0].Trim() : null);
    }));
}
