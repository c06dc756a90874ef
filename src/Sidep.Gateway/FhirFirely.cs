using System.Text;
using Hl7.Fhir.Model;
using Hl7.Fhir.Serialization;

namespace Sidep.Gateway;

/// <summary>Where Firely's full model is the right tool: the XML form (turned into JSON for the fast path) and the
/// strict validation a sender asks for with ?mode=strict.</summary>
public static class FhirFirely
{
    private static readonly FhirXmlDeserializer s_xml = new(new DeserializerSettings().UsingMode(DeserializationMode.Recoverable));
    private static readonly FhirJsonDeserializer s_strict = new();
    private static readonly FhirJsonSerializer s_json = new();

    /// <summary>FHIR XML to FHIR JSON, or the reason it cannot be read.</summary>
    public static (byte[]? Json, string? Problem) XmlToJson(string xml)
    {
        try
        {
            Resource resource = s_xml.Deserialize<Resource>(xml);
            return (Encoding.UTF8.GetBytes(s_json.SerializeToString(resource)), null);
        }
        catch (Exception ex) when (ex is FormatException or DeserializationFailedException or System.Xml.XmlException or InvalidOperationException)
        {
            return (null, "not readable as FHIR R4 XML: " + ex.Message);
        }
    }

    /// <summary>Firely's strict reading of the JSON: every cardinality, type and unknown-element error, with its path and position.</summary>
    public static List<string> StrictProblems(string json)
    {
        try
        {
            s_strict.Deserialize<Resource>(json);
            return [];
        }
        catch (DeserializationFailedException ex)
        {
            return ex.Exceptions.Select(e => e.Message).ToList();
        }
        catch (FormatException ex)
        {
            return [ex.Message];
        }
    }

    public static string StrictOutcome(IEnumerable<string> problems)
    {
        var outcome = new OperationOutcome();
        foreach (string problem in problems)
        {
            var issue = new OperationOutcome.IssueComponent { Severity = OperationOutcome.IssueSeverity.Error, Code = OperationOutcome.IssueType.Invalid, Diagnostics = problem };
            int at = problem.IndexOf(" At ", StringComparison.Ordinal);
            if (at > 0)
            {
                string path = problem[(at + 4)..].Split(',')[0].Trim();
                issue.Expression = [path];
            }
            outcome.Issue.Add(issue);
        }
        return s_json.SerializeToString(outcome);
    }
}
