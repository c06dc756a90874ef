using System.Buffers;
using System.Text.Json;

namespace Sidep.Ingestion;

/// <summary>Answers FHIR senders in FHIR: an OperationOutcome with an informational summary issue, then one issue per
/// problem (severity, issue type, Sidep's code, the FHIRPath expression of the element, the line and byte offset).
/// Written straight as FHIR JSON: the resource is small and fixed, and the answer is on every FHIR submission's path.</summary>
public static class FhirOutcomes
{
    /// <summary>Where Sidep's diagnostic codes live (an issue's <c>details.coding.system</c>).</summary>
    public const string DiagnosticSystem = "https://sidep.example/fhir/CodeSystem/diagnostic";

    public static byte[] For(SubmissionReport report)
    {
        ReportCounts c = report.Counts;
        return Write(w =>
        {
            Issue(w, "information", "informational", null,
                $"submission {report.SubmissionId ?? "(not stored: validation)"}: {c.Accepted} accepted, {c.Correction} corrected, {c.Retraction} retracted, " +
                $"{c.Duplicate} duplicate, {c.Quarantined} pending mapping, {c.NotAResult} not a result (ignored), {c.Rejected} rejected", null);
            foreach (ProblemReport p in report.Problems.Concat(report.Messages.SelectMany(m => m.Problems)).Concat(report.Items.SelectMany(i => i.Problems)))
            {
                if (p.Code == "MessageRejected")
                {
                    continue;
                }
                string severity = p.Severity switch { "error" => "error", "information" => "information", _ => "warning" };
                Issue(w, severity, p.Severity == "information" ? "informational" : IssueType(p.Code), p.Code,
                    p.Message + (p.Found is null ? "" : $" (found: {p.Found})") + (p.Expected is null ? "" : $" (expected: {p.Expected})") + $" [line {p.Line}, byte {p.ByteOffset}]",
                    p.Segment.Length > 0 ? p.Segment : null);
            }
        });
    }

    /// <summary>A resource found invalid as a whole (FHIR's strict validation): one error issue per problem, with the
    /// FHIRPath of the element when it is known.</summary>
    public static byte[] Invalid(IEnumerable<(string Diagnostics, string? Expression)> problems) =>
        Write(w =>
        {
            foreach ((string diagnostics, string? expression) in problems)
            {
                Issue(w, "error", "invalid", null, diagnostics, expression);
            }
        });

    /// <summary>A submission refused as a whole (its lab may not submit as the lab it names), saying why.</summary>
    public static byte[] Refusal(string code, string reason) => Write(w => Issue(w, "error", "forbidden", code, reason, null));

    private static byte[] Write(Action<Utf8JsonWriter> issues)
    {
        var buffer = new ArrayBufferWriter<byte>(512);
        using (var w = new Utf8JsonWriter(buffer))
        {
            w.WriteStartObject();
            w.WriteString("resourceType", "OperationOutcome");
            w.WriteStartArray("issue");
            issues(w);
            w.WriteEndArray();
            w.WriteEndObject();
        }
        return buffer.WrittenSpan.ToArray();
    }

    private static void Issue(Utf8JsonWriter w, string severity, string type, string? code, string diagnostics, string? expression)
    {
        w.WriteStartObject();
        w.WriteString("severity", severity);
        w.WriteString("code", type);
        if (code is not null)
        {
            w.WriteStartObject("details");
            w.WriteStartArray("coding");
            w.WriteStartObject();
            w.WriteString("system", DiagnosticSystem);
            w.WriteString("code", code);
            w.WriteEndObject();
            w.WriteEndArray();
            w.WriteString("text", code);
            w.WriteEndObject();
        }
        w.WriteString("diagnostics", diagnostics);
        if (expression is not null)
        {
            w.WriteStartArray("expression");
            w.WriteStringValue(expression);
            w.WriteEndArray();
        }
        w.WriteEndObject();
    }

    /// <summary>The FHIR issue type (http://hl7.org/fhir/issue-type) of a Sidep diagnostic code.</summary>
    private static string IssueType(string code) => code switch
    {
        "MissingField" or "MissingPatient" or "MissingResultStatus" => "required",
        "InvalidDate" or "InvalidField" or "InvalidIns" or "UninterpretableValue" or "UnknownPostcode" => "value",
        "InvalidJson" or "NotHl7" or "NotHprim" or "EmptyInput" or "BadDelimiters" => "structure",
        "NotAResult" or "UnsupportedMessageType" => "not-supported",
        "NoLoinc" => "code-invalid",
        "UnresolvedReference" => "not-found",
        "SegmentTooLong" or "TooManySegments" => "too-long",
        "TruncatedMessage" => "incomplete",
        "MissingIns" or "AssumedTimeZone" => "informational",
        _ => "processing",
    };
}
