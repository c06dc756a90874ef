namespace Sidep.Pipeline;

/// <summary>What registering a lab needs: its FINESS and name, the facility ids it sends as, where its MLLP
/// connections come from (source addresses, client certificate thumbprints).</summary>
public sealed record LabRegistration(string Finess, string Name, IReadOnlyList<string> FacilityIds, IReadOnlyList<string> MllpSources, IReadOnlyList<string> MllpCertificates);

/// <summary>One row of a lab's transcoding table: its local analysis code and the LOINC it means.</summary>
public sealed record TranscodingRow(string LocalCode, string Loinc, string? Label);

/// <summary>One matched result: the person it belongs to and the decision, as JSON.</summary>
public sealed record MatchRow(string LabId, string AccessionId, string TestCode, int Version, long PersonId, string Rule, double Score, string DecisionJson);

/// <summary>A case as stored: an episode (first positive in more than 60 days) with what investigators need, as JSON.
/// <see cref="Seq"/> is the feed cursor: it grows every time the case changes.</summary>
public sealed record StoredCase(long Seq, string CaseId, long PersonId, string SampleDate, string Territory, string Region, string Status,
    DateTimeOffset UpdatedAt, string Json);

/// <summary>A patient advice notice waiting to be sent (one per case, ever).</summary>
public sealed record StoredNotice(long Id, string CaseId, string Channel, DateTimeOffset CreatedAt, DateTimeOffset? AckedAt, string Json);

/// <summary>An audit record: who read which nominative data, when, how.</summary>
public sealed record AuditRecord(long Id, DateTimeOffset At, string Agent, string Role, string Action, string Query, IReadOnlyList<string> CaseIds);

/// <summary>One change the fan-out applies to the cases: an episode started (a case opened or updated, with its
/// details) or ended (the case withdrawn).</summary>
public sealed record CaseChange(bool Started, string PositiveKey, long PersonId, string SampleDate, string Territory, string Region, string? Json,
    string? Channel, string? NoticeJson);

/// <summary>The latest version of a positive result, kept for the case it may open.</summary>
public sealed record PositiveResult(string Key, int Version, string Json);

/// <summary>One revision of the indicators: when it was processed, how many results it covered, how many counters it moved.</summary>
public sealed record IndicatorRevision(long Rev, DateTimeOffset ProcessedAt, int Results, int Cells);

/// <summary>The summed changes of the revisions after a revision number, up to <see cref="LastRevision"/> (the last one
/// committed when read: every revision up to it is in <see cref="Deltas"/> or was read before).</summary>
public sealed record IndicatorChanges(long LastRevision, List<IndicatorDelta> Deltas);

/// <summary>A net change of one indicator counter (sample day number, cell, P, T).</summary>
public readonly record struct IndicatorDelta(int Day, int Cell, int P, int T);

/// <summary>A research row as kept before pseudonymisation: the result it comes from (by its key fingerprint), the
/// person (internal id, never exported), the sample date (its partition) and the row's non-identifying fields as JSON.</summary>
public sealed record ResearchRowRecord(string Key, long PersonId, int Version, string SampleDate, string Json)
{
    /// <summary>Where the next page of its date's rows starts, in the store's own terms (set when read).</summary>
    public string Cursor { get; init; } = "";
}

/// <summary>One change to the research rows: an upsert (a newer version), a removal (a retraction, or a result
/// that is no longer a research row), or a merge of two persons.</summary>
public abstract record ResearchChange;

public sealed record ResearchUpsert(ResearchRowRecord Row) : ResearchChange;

public sealed record ResearchRemove(string Key, int Version) : ResearchChange;

public sealed record ResearchMerge(long From, long Into) : ResearchChange;
