namespace Sidep.Pipeline;

// The store contracts of the stages (ARCHITECTURE.md decision 6), by role: what the embedded SQLite store and the
// PostgreSQL store both do, and what the shared contract tests check on both. Every Apply* writes its rows and moves
// the consumer's position in one transaction, idempotently, so a crash between a write and its position cannot count
// anything twice. A stage depends on its role's contract only.

/// <summary>Where each stage stands in each partition of its input (the position its rows were written with).</summary>
public interface IStagePositions
{
    long GetOffset(string consumer, int partition);

    /// <summary>Moves a consumer's position on its own (what it covers is elsewhere: a topic it published to).</summary>
    void SetConsumerOffset(string consumer, int partition, long next);
}

/// <summary>The identity stage's rows: every decision (nothing nominative) and every merge.</summary>
public interface IIdentityStore : IStagePositions
{
    void ApplyMatches(string consumer, long nextSequence, IReadOnlyList<MatchRow> rows, IReadOnlyList<(long From, long Into)> merges);

    List<MatchRow> DecisionsOf(long personId);

    /// <summary>The decisions a person must review, oldest first: possible matches (similar, not linked) and INS
    /// conflicts (same INS, incompatible traits), after the one numbered <paramref name="after"/>.</summary>
    List<(long Id, MatchRow Row)> ReviewQueue(long after, int limit);
}

/// <summary>The aggregate stage's rows: indicator revisions, stamped with when they were processed.</summary>
public interface IIndicatorStore : IStagePositions
{
    long ApplyIndicatorRevision(string consumer, long nextSequence, DateTimeOffset processedAt, int results, IReadOnlyList<IndicatorDelta> deltas);

    List<IndicatorRevision> ListIndicatorRevisions(DateTimeOffset? since = null, int limit = 1000);

    /// <summary>The summed changes of the revisions processed after <paramref name="asOf"/> (up to revision
    /// <paramref name="throughRevision"/>), on days in [<paramref name="fromDay"/>, <paramref name="toDay"/>].</summary>
    List<IndicatorDelta> IndicatorChangesAfter(DateTimeOffset asOf, int fromDay, int toDay, long throughRevision = long.MaxValue);

    /// <summary>The summed changes of the revisions numbered after <paramref name="afterRevision"/>, and the last
    /// revision they reach. Revisions become visible in the order of their numbers (a reader that has read up to a
    /// number never sees a smaller one appear later), so a reader can keep a running total.</summary>
    IndicatorChanges IndicatorChangesSince(long afterRevision);
}

/// <summary>The fan-out's rows: cases, their feed, patient advice notices and their acknowledgements, the kept positives.</summary>
public interface ICaseStore : IStagePositions
{
    /// <summary>The fan-out's batch in one transaction with its position: positive results kept, case changes in
    /// order (an episode that starts again updates its case, never opens a second), one notice per case ever.</summary>
    void ApplyFanOut(string consumer, long nextSequence, IReadOnlyList<PositiveResult> positives, IReadOnlyList<CaseChange> changes,
        Func<string, string> caseIdOf, DateTimeOffset now);

    string? PositiveResultJson(string key);

    /// <summary>Cases of the given territories changed after a feed cursor, in feed order.</summary>
    List<StoredCase> Cases(IReadOnlyCollection<string> territories, long afterSeq, DateTimeOffset? since, int limit);

    List<StoredCase> CasesChangedAfter(long afterSeq, int limit);

    StoredCase? Case(string caseId);

    /// <summary>A person's open cases (their positive episodes), latest sample date first: what the prior-positive
    /// question answers from, each with its territory.</summary>
    List<StoredCase> OpenCasesOf(long personId);

    /// <summary>Notices not yet acknowledged by the sending service (those with a channel), oldest first.</summary>
    List<StoredNotice> Outbox(int limit);

    /// <summary>Marks a notice sent; false when there is no such notice or it was acknowledged already.</summary>
    bool AcknowledgeNotice(long id, DateTimeOffset at);
}

/// <summary>The research stage's rows (pseudonymisable, nothing nominative), the oppositions that filter them, the partitions to write.</summary>
public interface IResearchStore : IStagePositions
{
    /// <summary>Applies research changes (upserts by version, removals, merges) with the stage's position in one
    /// transaction, remembering the sample dates whose partition must be written again.</summary>
    void ApplyResearch(string consumer, long nextSequence, IReadOnlyList<ResearchChange> changes);

    /// <summary>Records an opposition to research use, by person or by identity key (INS or traits).</summary>
    void RecordOpposition(long? personId, string? identityKey, DateTimeOffset at);

    bool OpposedPerson(long personId);

    bool HasIdentityOppositions { get; }


    string? OpposedIdentity(IEnumerable<string> identityKeys);

    void AttachOpposition(long personId, string identityKey);

    List<string> DirtyResearchDates(int limit);

    /// <summary>The research rows of a sample date, without those of persons who opposed, in an order of the store's
    /// that stays the same from page to page: those after the row whose <see cref="ResearchRowRecord.Cursor"/> is
    /// <paramref name="after"/> (null: from the first), at most <paramref name="limit"/> (a page).</summary>
    List<ResearchRowRecord> ResearchRows(string sampleDate, string? after = null, int limit = int.MaxValue);

    /// <summary>Marks the partitions of these dates written (unless changed again since they were listed).</summary>
    void ResearchWritten(IEnumerable<string> sampleDates);

    List<long> ResearchPersons();
}

/// <summary>The audit log of nominative reads: appended, never changed.</summary>
public interface IAuditLog
{
    /// <summary>Appends an audit record; the log refuses updates and deletes.</summary>
    void Audit(string agent, string role, string action, string query, IReadOnlyList<string> caseIds, DateTimeOffset at);

    List<AuditRecord> AuditLog(long afterId, int limit);
}

/// <summary>
/// Every role at once: what one database serving every stage implements (the PostgreSQL store; each of the embedded
/// mode's SQLite files), and what the gateway reads through.
/// </summary>
public interface IStageStore : IIdentityStore, IIndicatorStore, ICaseStore, IResearchStore, IAuditLog, IDisposable
{
}
