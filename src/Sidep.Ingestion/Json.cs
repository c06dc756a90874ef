using System.Text.Json;
using System.Text.Json.Serialization;
using Sidep.Domain;

namespace Sidep.Ingestion;

/// <summary>A result as carried on the log: the canonical result with its version and provenance.</summary>
public sealed record ResultEnvelope(string SubmissionId, int Version, string Disposition, DateTimeOffset ReceivedAt, string Channel, LabResult Result);

[JsonSourceGenerationOptions(JsonSerializerDefaults.Web, UseStringEnumConverter = true, DefaultIgnoreCondition = JsonIgnoreCondition.WhenWritingNull, WriteIndented = false)]
[JsonSerializable(typeof(LabResult))]
[JsonSerializable(typeof(ResultEnvelope))]
[JsonSerializable(typeof(SubmissionReport))]
[JsonSerializable(typeof(StoredSubmission))]
[JsonSerializable(typeof(List<QuarantineSummary>))]
[JsonSerializable(typeof(Sidep.Identity.MatchDecision))]
public sealed partial class SidepJson : JsonSerializerContext
{
}

/// <summary>The submission record kept in the journal: metadata and report; the raw bytes follow it.</summary>
public sealed record StoredSubmission(string Id, string Lab, string Format, string Channel, DateTimeOffset ReceivedAt, string Sha256, SubmissionReport Report);
