using System.Text.Json;
using Sidep.Domain;
using Sidep.Identity;
using Sidep.Storage.Embedded;

namespace Sidep.Ingestion;

/// <summary>
/// MATCH in embedded mode: every result, in the journal's global order, through the identity matcher; each match
/// (person id, rule, score, the fields compared — nothing nominative) and each merge written with the stage's
/// position in one transaction. The matcher's index is rebuilt at start-up by replaying the journal up to that
/// position: the order is fixed, so the same persons get the same ids.
/// </summary>
public sealed class IdentityStage
{
    public const string ConsumerName = "identity";

    private readonly EmbeddedLog _log;
    private readonly StateStore _store;
    private readonly bool _sandbox;
    private readonly Matcher _matcher = new();
    private long _next;

    public IdentityStage(EmbeddedLog log, StateStore store, bool sandbox = true)
    {
        _log = log;
        _store = store;
        _sandbox = sandbox;
        long committed = store.GetOffset(ConsumerName, -1);
        while (_next < committed)
        {
            List<LogEntry> batch = _log.ReadInJournalOrder(_next, (int)Math.Min(4096, committed - _next));
            if (batch.Count == 0)
            {
                break;
            }
            foreach (LogEntry entry in batch)
            {
                _matcher.Match(Envelope(entry).Result.Patient, _sandbox);
            }
            _next += batch.Count;
        }
    }

    public int PersonCount => _matcher.PersonCount;

    /// <summary>The person a (possibly merged) id designates now.</summary>
    public long Current(long personId) => _matcher.Current(personId);

    private static ResultEnvelope Envelope(LogEntry entry) => JsonSerializer.Deserialize(entry.Payload.Span[36..], SidepJson.Default.ResultEnvelope)!;

    public int DrainOnce(int max = 1000)
    {
        List<LogEntry> batch = _log.ReadInJournalOrder(_next, max);
        if (batch.Count == 0)
        {
            return 0;
        }
        int mergesBefore = _matcher.Merges.Count;
        var rows = new List<StateStore.MatchRow>(batch.Count);
        foreach (LogEntry entry in batch)
        {
            ResultEnvelope envelope = Envelope(entry);
            MatchDecision decision = _matcher.Match(envelope.Result.Patient, _sandbox);
            ResultKey key = envelope.Result.Key;
            rows.Add(new StateStore.MatchRow(key.LabId, key.AccessionId, key.TestCode, envelope.Version, decision.PersonId, decision.Rule.ToString(),
                decision.Score, JsonSerializer.Serialize(decision, SidepJson.Default.MatchDecision)));
        }
        var merges = _matcher.Merges.Skip(mergesBefore).Select(m => (m.From, m.Into)).ToList();
        _store.ApplyMatches(ConsumerName, _next + batch.Count, rows, merges);
        _next += batch.Count;
        return batch.Count;
    }

    public async Task RunAsync(CancellationToken cancellationToken)
    {
        while (!cancellationToken.IsCancellationRequested)
        {
            if (DrainOnce() == 0)
            {
                await _log.WaitForDataAsync(TimeSpan.FromMilliseconds(200), cancellationToken).ConfigureAwait(false);
            }
        }
    }
}
