using Hl7.Fhir.Model;
using Hl7.Fhir.Serialization;
using Sidep.Ingestion;

namespace Sidep.Gateway;

/// <summary>Answers FHIR senders in FHIR: an OperationOutcome with one issue per problem (severity, code, the
/// FHIRPath expression of the element, the line and byte offset), and an informational summary issue.</summary>
public static class FhirOutcomes
{
    private static readonly FhirJsonSerializer s_serializer = new();

    public static string For(SubmissionReport report)
    {
        var outcome = new OperationOutcome();
        ReportCounts c = report.Counts;
        outcome.Issue.Add(new OperationOutcome.IssueComponent
        {
            Severity = OperationOutcome.IssueSeverity.Information,
            Code = OperationOutcome.IssueType.Informational,
            Diagnostics = $"submission {report.SubmissionId ?? "(not stored: validation)"}: {c.Accepted} accepted, {c.Correction} corrected, {c.Retraction} retracted, " +
                $"{c.Duplicate} duplicate, {c.Quarantined} pending mapping, {c.NotAResult} not a result (ignored), {c.Rejected} rejected",
        });
        foreach (ProblemReport p in report.Problems.Concat(report.Messages.SelectMany(m => m.Problems)).Concat(report.Items.SelectMany(i => i.Problems)))
        {
            if (p.Code == "MessageRejected")
            {
                continue;
            }
            var issue = new OperationOutcome.IssueComponent
            {
                Severity = p.Severity switch
                {
                    "error" => OperationOutcome.IssueSeverity.Error,
                    "information" => OperationOutcome.IssueSeverity.Information,
                    _ => OperationOutcome.IssueSeverity.Warning,
                },
                Code = p.Severity == "information" ? OperationOutcome.IssueType.Informational : IssueType(p.Code),
                Details = new CodeableConcept("https://sidep.example/fhir/CodeSystem/diagnostic", p.Code, p.Code),
                Diagnostics = p.Message + (p.Found is null ? "" : $" (found: {p.Found})") + (p.Expected is null ? "" : $" (expected: {p.Expected})") + $" [line {p.Line}, byte {p.ByteOffset}]",
            };
            if (p.Segment.Length > 0)
            {
                issue.Expression = [p.Segment];
            }
            outcome.Issue.Add(issue);
        }
        return s_serializer.SerializeToString(outcome);
    }

    public static string Forbidden(string reason) => s_serializer.SerializeToString(new OperationOutcome
    {
        Issue = [new OperationOutcome.IssueComponent { Severity = OperationOutcome.IssueSeverity.Error, Code = OperationOutcome.IssueType.Forbidden, Diagnostics = reason }],
    });

    private static OperationOutcome.IssueType IssueType(string code) => code switch
    {
        "MissingField" or "MissingPatient" or "MissingResultStatus" => OperationOutcome.IssueType.Required,
        "InvalidDate" or "InvalidField" or "InvalidIns" or "UninterpretableValue" or "UnknownPostcode" => OperationOutcome.IssueType.Value,
        "InvalidJson" or "NotHl7" or "NotHprim" or "EmptyInput" or "BadDelimiters" => OperationOutcome.IssueType.Structure,
        "NotAResult" or "UnsupportedMessageType" => OperationOutcome.IssueType.NotSupported,
        "NoLoinc" => OperationOutcome.IssueType.CodeInvalid,
        "UnresolvedReference" => OperationOutcome.IssueType.NotFound,
        "SegmentTooLong" or "TooManySegments" => OperationOutcome.IssueType.TooLong,
        "TruncatedMessage" => OperationOutcome.IssueType.Incomplete,
        "MissingIns" or "AssumedTimeZone" => OperationOutcome.IssueType.Informational,
        _ => OperationOutcome.IssueType.Processing,
    };
}
