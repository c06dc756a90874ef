using Sidep.Domain;
using Sidep.Pipeline;

namespace Sidep.Ingestion.Tests;

/// <summary>A store that fails like a worker killed between its output and its store write: the Nth write of each
/// stage throws before it reaches the database.</summary>
internal sealed class CrashingStore(IStageStore inner, int failOnWrite) : IStageStore
{
    private int _matches, _revisions, _fanOuts, _research;

    public bool Crashed { get; private set; }

    private void MaybeCrash(ref int count)
    {
        if (++count == failOnWrite)
        {
            Crashed = true;
            throw new IOException("killed before the store write");
        }
    }

    public long GetOffset(string consumer, int partition) => inner.GetOffset(consumer, partition);

    public void ApplyMatches(string consumer, long nextSequence, IReadOnlyList<MatchRow> rows, IReadOnlyList<(long From, long Into)> merges)
    {
        MaybeCrash(ref _matches);
        inner.ApplyMatches(consumer, nextSequence, rows, merges);
    }

    public List<MatchRow> DecisionsOf(long personId) => inner.DecisionsOf(personId);
    public List<(long Id, MatchRow Row)> ReviewQueue(long after, int limit) => inner.ReviewQueue(after, limit);

    public long ApplyIndicatorRevision(string consumer, long nextSequence, DateTimeOffset processedAt, int results, IReadOnlyList<IndicatorDelta> deltas)
    {
        MaybeCrash(ref _revisions);
        return inner.ApplyIndicatorRevision(consumer, nextSequence, processedAt, results, deltas);
    }

    public List<IndicatorRevision> ListIndicatorRevisions(DateTimeOffset? since = null, int limit = 1000) => inner.ListIndicatorRevisions(since, limit);
    public List<IndicatorDelta> IndicatorChangesAfter(DateTimeOffset asOf, int fromDay, int toDay, long throughRevision = long.MaxValue) =>
        inner.IndicatorChangesAfter(asOf, fromDay, toDay, throughRevision);

    public IndicatorChanges IndicatorChangesSince(long afterRevision) => inner.IndicatorChangesSince(afterRevision);
    public void SetConsumerOffset(string consumer, int partition, long next) => inner.SetConsumerOffset(consumer, partition, next);

    public void ApplyFanOut(string consumer, long nextSequence, IReadOnlyList<PositiveResult> positives, IReadOnlyList<CaseChange> changes,
        Func<string, string> caseIdOf, DateTimeOffset now)
    {
        MaybeCrash(ref _fanOuts);
        inner.ApplyFanOut(consumer, nextSequence, positives, changes, caseIdOf, now);
    }

    public string? PositiveResultJson(string key) => inner.PositiveResultJson(key);
    public List<StoredCase> Cases(IReadOnlyCollection<string> territories, long afterSeq, DateTimeOffset? since, int limit) => inner.Cases(territories, afterSeq, since, limit);
    public List<StoredCase> CasesChangedAfter(long afterSeq, int limit) => inner.CasesChangedAfter(afterSeq, limit);
    public StoredCase? Case(string caseId) => inner.Case(caseId);
    public List<StoredCase> OpenCasesOf(long personId) => inner.OpenCasesOf(personId);
    public List<StoredNotice> Outbox(int limit) => inner.Outbox(limit);

    public void ApplyResearch(string consumer, long nextSequence, IReadOnlyList<ResearchChange> changes)
    {
        MaybeCrash(ref _research);
        inner.ApplyResearch(consumer, nextSequence, changes);
    }

    public void RecordOpposition(long? personId, string? identityKey, DateTimeOffset at) => inner.RecordOpposition(personId, identityKey, at);
    public bool OpposedPerson(long personId) => inner.OpposedPerson(personId);
    public bool HasIdentityOppositions => inner.HasIdentityOppositions;
    public string? OpposedIdentity(IEnumerable<string> identityKeys) => inner.OpposedIdentity(identityKeys);
    public void AttachOpposition(long personId, string identityKey) => inner.AttachOpposition(personId, identityKey);
    public List<string> DirtyResearchDates(int limit) => inner.DirtyResearchDates(limit);
    public List<ResearchRowRecord> ResearchRows(string sampleDate, string? after = null, int limit = int.MaxValue) => inner.ResearchRows(sampleDate, after, limit);
    public void ResearchWritten(IEnumerable<string> sampleDates) => inner.ResearchWritten(sampleDates);
    public List<long> ResearchPersons() => inner.ResearchPersons();
    public bool AcknowledgeNotice(long id, DateTimeOffset at) => inner.AcknowledgeNotice(id, at);
    public void Audit(string agent, string role, string action, string query, IReadOnlyList<string> caseIds, DateTimeOffset at) => inner.Audit(agent, role, action, query, caseIds, at);
    public List<AuditRecord> AuditLog(long afterId, int limit) => inner.AuditLog(afterId, limit);

    public void Dispose()
    {
    }
}
