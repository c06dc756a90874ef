using System.Text.Json;
using System.Text.Json.Serialization;
using Sidep.Domain;
using Sidep.Pipeline;

namespace Sidep.Ingestion;


/// <summary>The identity stage's output: a result with its person and the decision's rule and score. <see cref="Sequence"/>
/// is the result's position in the input journal's order.</summary>
public sealed record MatchedResult(long Sequence, long PersonId, string Rule, double Score, ResultEnvelope Envelope);

/// <summary>The identity stage's output: <see cref="From"/> and <see cref="Into"/> proved one person, while matching the
/// result at <see cref="Sequence"/>.</summary>
public sealed record PersonMerge(long Sequence, long From, long Into, string Reason);

[JsonSourceGenerationOptions(JsonSerializerDefaults.Web, UseStringEnumConverter = true, DefaultIgnoreCondition = JsonIgnoreCondition.WhenWritingNull, WriteIndented = false)]
[JsonSerializable(typeof(LabResult))]
[JsonSerializable(typeof(ResultEnvelope))]
[JsonSerializable(typeof(SubmissionReport))]
[JsonSerializable(typeof(UnderstoodSubmission))]
[JsonSerializable(typeof(StoredSubmission))]
[JsonSerializable(typeof(List<QuarantineSummary>))]
[JsonSerializable(typeof(Sidep.Identity.MatchDecision))]
[JsonSerializable(typeof(MatchedResult))]
[JsonSerializable(typeof(PersonMerge))]
[JsonSerializable(typeof(CaseDetails))]
[JsonSerializable(typeof(NoticeDetails))]
public sealed partial class SidepJson : JsonSerializerContext
{
}

/// <summary>The submission record kept in the journal: metadata and report; the raw bytes follow it.</summary>
public sealed record StoredSubmission(string Id, string Lab, string Format, string Channel, DateTimeOffset ReceivedAt, string Sha256, SubmissionReport Report);
