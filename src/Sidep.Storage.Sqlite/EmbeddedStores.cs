using Sidep.Pipeline;

namespace Sidep.Storage.Sqlite;

/// <summary>
/// The embedded mode's stores: each stage's rows and positions in a SQLite file of its own, with its own connection and
/// lock, so that no stage waits for another stage's write (they did, all under one lock, for most of a busy day); what
/// users write — labs, transcoding tables, audit — in <c>sidep.db</c>. Oppositions live with the research rows they
/// filter, acknowledgements with the notices they acknowledge. <see cref="Reads"/> is the one store the gateway asks:
/// each question goes to the file that holds its answer.
/// </summary>
public sealed class EmbeddedStores : IDisposable
{
    private EmbeddedStores(StateStore main, StateStore identity, StateStore indicators, StateStore cases, StateStore research)
    {
        (Main, Identity, Indicators, Cases, Research) = (main, identity, indicators, cases, research);
        Reads = new RoutedStageStore(this);
    }

    /// <summary>Labs, transcoding tables, audit (<c>sidep.db</c>).</summary>
    public StateStore Main { get; }

    /// <summary>Identity decisions and merges (<c>identity.db</c>).</summary>
    public StateStore Identity { get; }

    /// <summary>Indicator revisions (<c>indicators.db</c>).</summary>
    public StateStore Indicators { get; }

    /// <summary>Cases, notices and kept positives (<c>cases.db</c>).</summary>
    public StateStore Cases { get; }

    /// <summary>Research rows and oppositions (<c>research.db</c>).</summary>
    public StateStore Research { get; }

    /// <summary>The gateway's view: every question to the file that holds its answer.</summary>
    public IStageStore Reads { get; }

    /// <summary>The database files and their page caches, the main one first, then the stages' in the order of
    /// <see cref="EmbeddedStores"/>' constructor: the main file is small; each stage's file gets what its busiest index
    /// needs. Sized by measurement: halving them from 32/64/32/64/128 MiB (up to 320 MiB of native memory on a busy day)
    /// changed nothing in the peak day's CPU and took ≈ 200 MB off its memory peak — the kernel's page cache holds the
    /// files anyway, and a miss costs a read from it (perf/README.md). (A <c>results.db</c> left by a release before
    /// 2026-12 held a results table nothing read; it is no longer opened and may be deleted.)</summary>
    private static readonly (string File, int CacheMiB)[] s_files =
        [("sidep.db", 16), ("identity.db", 32), ("indicators.db", 32), ("cases.db", 32), ("research.db", 48)];

    /// <summary>The database files of a data directory, the main one first.</summary>
    public static readonly string[] Files = [.. s_files.Select(f => f.File)];

    public static EmbeddedStores Open(string directory)
    {
        var opened = new List<StateStore>();
        try
        {
            foreach ((string file, int cacheMiB) in s_files)
            {
                opened.Add(StateStore.Open(directory, file, cacheMiB));
            }
            return new EmbeddedStores(opened[0], opened[1], opened[2], opened[3], opened[4]);
        }
        catch
        {
            opened.ForEach(s => s.Dispose());
            throw;
        }
    }

    /// <summary>The store a stage (by its name in <c>Stages.Names</c>) writes its rows and positions to.</summary>
    public IStageStore ForStage(string stage) => stage switch
    {
        "match" => Identity,
        "aggregate" => Indicators,
        "fanout" => Cases,
        "research" => Research,
        _ => throw new ArgumentException($"no stage '{stage}'", nameof(stage)),
    };

    /// <summary>The store that holds a consumer's positions (its rows are written with them).</summary>
    internal StateStore ForConsumer(string consumer) =>
        consumer.StartsWith("identity", StringComparison.Ordinal) ? Identity
        : consumer.StartsWith("indicators", StringComparison.Ordinal) ? Indicators
        : consumer.StartsWith("fanout", StringComparison.Ordinal) || consumer.StartsWith("cases-topic", StringComparison.Ordinal) ? Cases
        : consumer.StartsWith("research", StringComparison.Ordinal) ? Research
        : Main;

    public void Dispose()
    {
        foreach (StateStore store in new[] { Research, Cases, Indicators, Identity, Main })
        {
            store.Dispose();
        }
    }

    /// <summary>Every question to the file that holds its answer.</summary>
    private sealed class RoutedStageStore(EmbeddedStores s) : IStageStore
    {
        public long GetOffset(string consumer, int partition) => s.ForConsumer(consumer).GetOffset(consumer, partition);
        public void SetConsumerOffset(string consumer, int partition, long next) => s.ForConsumer(consumer).SetConsumerOffset(consumer, partition, next);
        public void ApplyMatches(string consumer, long nextSequence, IReadOnlyList<MatchRow> rows, IReadOnlyList<(long From, long Into)> merges) =>
            s.Identity.ApplyMatches(consumer, nextSequence, rows, merges);
        public List<MatchRow> DecisionsOf(long personId) => s.Identity.DecisionsOf(personId);
        public List<(long Id, MatchRow Row)> ReviewQueue(long after, int limit) => s.Identity.ReviewQueue(after, limit);
        public long ApplyIndicatorRevision(string consumer, long nextSequence, DateTimeOffset processedAt, int results, IReadOnlyList<IndicatorDelta> deltas) =>
            s.Indicators.ApplyIndicatorRevision(consumer, nextSequence, processedAt, results, deltas);
        public List<IndicatorRevision> ListIndicatorRevisions(DateTimeOffset? since = null, int limit = 1000) => s.Indicators.ListIndicatorRevisions(since, limit);
        public List<IndicatorDelta> IndicatorChangesAfter(DateTimeOffset asOf, int fromDay, int toDay, long throughRevision = long.MaxValue) =>
            s.Indicators.IndicatorChangesAfter(asOf, fromDay, toDay, throughRevision);
        public IndicatorChanges IndicatorChangesSince(long afterRevision) => s.Indicators.IndicatorChangesSince(afterRevision);
        public void ApplyFanOut(string consumer, long nextSequence, IReadOnlyList<PositiveResult> positives, IReadOnlyList<CaseChange> changes,
            Func<string, string> caseIdOf, DateTimeOffset now) => s.Cases.ApplyFanOut(consumer, nextSequence, positives, changes, caseIdOf, now);
        public string? PositiveResultJson(string key) => s.Cases.PositiveResultJson(key);
        public List<StoredCase> Cases(IReadOnlyCollection<string> territories, long afterSeq, DateTimeOffset? since, int limit) => s.Cases.Cases(territories, afterSeq, since, limit);
        public List<StoredCase> CasesChangedAfter(long afterSeq, int limit) => s.Cases.CasesChangedAfter(afterSeq, limit);
        public StoredCase? Case(string caseId) => s.Cases.Case(caseId);
        public List<StoredCase> OpenCasesOf(long personId) => s.Cases.OpenCasesOf(personId);
        public List<StoredNotice> Outbox(int limit) => s.Cases.Outbox(limit);
        public bool AcknowledgeNotice(long id, DateTimeOffset at) => s.Cases.AcknowledgeNotice(id, at);
        public void ApplyResearch(string consumer, long nextSequence, IReadOnlyList<ResearchChange> changes) => s.Research.ApplyResearch(consumer, nextSequence, changes);
        public void RecordOpposition(long? personId, string? identityKey, DateTimeOffset at) => s.Research.RecordOpposition(personId, identityKey, at);
        public bool OpposedPerson(long personId) => s.Research.OpposedPerson(personId);
        public bool HasIdentityOppositions => s.Research.HasIdentityOppositions;
        public string? OpposedIdentity(IEnumerable<string> identityKeys) => s.Research.OpposedIdentity(identityKeys);
        public void AttachOpposition(long personId, string identityKey) => s.Research.AttachOpposition(personId, identityKey);
        public List<string> DirtyResearchDates(int limit) => s.Research.DirtyResearchDates(limit);
        public List<ResearchRowRecord> ResearchRows(string sampleDate, string? after = null, int limit = int.MaxValue) =>
            s.Research.ResearchRows(sampleDate, after, limit);
        public void ResearchWritten(IEnumerable<string> sampleDates) => s.Research.ResearchWritten(sampleDates);
        public List<long> ResearchPersons() => s.Research.ResearchPersons();
        public void Audit(string agent, string role, string action, string query, IReadOnlyList<string> caseIds, DateTimeOffset at) =>
            s.Main.Audit(agent, role, action, query, caseIds, at);
        public List<AuditRecord> AuditLog(long afterId, int limit) => s.Main.AuditLog(afterId, limit);

        public void Dispose()
        {
            // The files belong to EmbeddedStores.
        }
    }
}
