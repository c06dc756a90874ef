using System.Text.Json.Serialization;
using Sidep.Parsing;

namespace Sidep.Ingestion;

/// <summary>What happened to one result of a submission.</summary>
[JsonConverter(typeof(JsonStringEnumConverter<ItemStatus>))]
public enum ItemStatus
{
    /// <summary>New result, durable.</summary>
    Accepted,
    /// <summary>Refused: see its errors; nothing was stored for it.</summary>
    Rejected,
    /// <summary>Same key, same content as a result already received: no effect.</summary>
    Duplicate,
    /// <summary>Same key, new content: stored as a new version.</summary>
    Correction,
    /// <summary>Accepted, pending mapping: the local code has no LOINC yet; held durably and replayed when it is mapped.</summary>
    Quarantined,
    /// <summary>The lab cancelled the result (entered in error, deleted: OBX-11 W, X or D; FHIR entered-in-error or
    /// cancelled): stored as the result's latest version, so it no longer counts nor opens a case.</summary>
    Retraction,
    /// <summary>Not a laboratory result (document metadata, an embedded document): ignored, nothing stored; its
    /// information problem says why. Not an error: the message is acknowledged AA.</summary>
    NotAResult,
}

/// <summary>One local code of a lab waiting for its LOINC mapping.</summary>
public sealed record QuarantineSummary(string Lab, string LocalCode, string? Label, int Count, DateTimeOffset FirstReceivedAt, DateTimeOffset LastReceivedAt,
    IReadOnlyList<QuarantineExample> Examples);

public sealed record QuarantineExample(string SubmissionId, string AccessionId, string Value, DateTimeOffset ReceivedAt);

/// <summary>One problem: severity (an error rejects the result, a warning does not, information says what was done — an
/// item ignored as not a result), what, where, and — when it is
/// not an identity trait — the value found and what was expected.</summary>
public sealed record ProblemReport(
    string Severity, string Code, string Message, string Segment, int Line, int Field, int Component, long ByteOffset, string? Found = null, string? Expected = null)
{
    public static ProblemReport From(Diagnostic d) => new(
        d.Severity switch { Parsing.Severity.Error => "error", Parsing.Severity.Information => "information", _ => "warning" }, d.Code.ToString(), d.Message,
        d.Position.Segment, d.Position.Line, d.Position.Field, d.Position.Component, d.Position.ByteOffset, d.Found, d.Expected);
}

public sealed record ItemReport(
    int Index,
    string? MessageControlId,
    string Segment,
    int Line,
    long ByteOffset,
    [property: JsonConverter(typeof(JsonStringEnumConverter<ItemStatus>))] ItemStatus Status,
    string? ResultKey,
    int? Version,
    string? Loinc,
    string? Interpretation,
    IReadOnlyList<ProblemReport> Problems);

/// <summary>The MSH fields an acknowledgement needs (no patient data).</summary>
public sealed record MessageHeader(string? Version, string? SendingApplication, string? SendingFacility, string? ReceivingApplication,
    string? ReceivingFacility, string? AcceptAckType, string? ApplicationAckType);

public sealed record MessageReport(
    string? ControlId,
    MessageHeader Header,
    int Line,
    long ByteOffset,
    long ByteLength,
    /// <summary>HL7 acknowledgement code this message gets: AA (all accepted, or ignored as not results), AE (some rejected),
    /// AR (message refused).</summary>
    string AckCode,
    IReadOnlyList<ProblemReport> Problems);

public sealed record ReportCounts(int Accepted, int Rejected, int Duplicate, int Correction, int Quarantined = 0, int Retraction = 0, int NotAResult = 0)
{
    /// <summary>Items stored by this submission: new results, corrections and retractions.</summary>
    [System.Text.Json.Serialization.JsonIgnore]
    public int Stored => Accepted + Correction + Retraction;
}

/// <summary>The per-item answer to a submission (JSON). Rejections carry segment, field, line, byte offset and reason.</summary>
public sealed record SubmissionReport(
    string? SubmissionId,
    DateTimeOffset ReceivedAt,
    string Lab,
    string Format,
    bool DryRun,
    bool Durable,
    string Sha256,
    long Bytes,
    ReportCounts Counts,
    IReadOnlyList<ProblemReport> Problems,
    IReadOnlyList<MessageReport> Messages,
    IReadOnlyList<ItemReport> Items)
{
    [JsonIgnore]
    public bool AnyRejected => Counts.Rejected > 0 || Problems.Any(p => p.Severity == "error") || Messages.Any(m => m.AckCode != "AA");
}
