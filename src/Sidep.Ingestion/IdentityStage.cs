using System.Text.Json;
using Sidep.Domain;
using Sidep.Identity;
using Sidep.Journal;
using Sidep.Pipeline;
using Sidep.Storage.Sqlite;

namespace Sidep.Ingestion;

/// <summary>
/// MATCH in embedded mode: every result, in the journal's global order, through the identity matcher; each match
/// (person id, rule, score, the fields compared — nothing nominative) and each merge written with the stage's
/// position in one transaction, after the matched results and merges are durable in the stage's output log (the
/// input of the aggregator and the fan-out). The matcher's index is rebuilt at start-up by replaying the journal up to
/// that position: the order is fixed, so the same persons get the same ids, and output already written before a
/// crash is recognised by its input sequence and not written twice.
/// </summary>
public sealed class IdentityStage
{
    public const string ConsumerName = "identity";

    private readonly EmbeddedLog _log;
    private readonly StateStore _store;
    private readonly EmbeddedLog? _output;
    private readonly bool _sandbox;
    private Matcher _matcher = new();
    private long _next;
    /// <summary>The input sequence of the last record in the output log: anything up to it was already emitted.</summary>
    private long _emitted = -1;

    private readonly Terminology _terminology;

    public IdentityStage(EmbeddedLog log, StateStore store, EmbeddedLog? output = null, bool sandbox = true, Terminology? terminology = null)
    {
        _terminology = terminology ?? Terminology.CreateNational();
        _log = log;
        _store = store;
        _output = output;
        _sandbox = sandbox;
        Restore();
    }

    /// <summary>Rebuilds the matcher from the journal up to the position the store holds (at start-up, and after a
    /// store write failed: what the matcher learnt from a batch whose write failed is forgotten, then learnt again).</summary>
    public void Restore()
    {
        var matcher = new Matcher();
        long next = StageReplay.UpTo(_log, _store.GetOffset(ConsumerName, -1), batch =>
        {
            foreach (LogEntry entry in batch.Where(e => e.Kind != RecordKind.Lost))
            {
                matcher.Match(Envelope(entry).Result.Patient, _sandbox);
            }
        });
        long emitted = -1;
        if (_output is not null && _output.OrderedCount > 0)
        {
            LogEntry last = _output.ReadInJournalOrder(_output.OrderedCount - 1, 1)[0];
            emitted = long.Parse(last.Key, System.Globalization.CultureInfo.InvariantCulture);
        }
        lock (_sync)
        {
            _matcher = matcher;
            _emitted = emitted;
            Interlocked.Exchange(ref _next, next);
        }
    }

    private readonly Lock _sync = new();

    public int PersonCount => _matcher.PersonCount;

    /// <summary>How far the stage has read its input.</summary>
    public long Position => Interlocked.Read(ref _next);

    /// <summary>The person a (possibly merged) id designates now.</summary>
    public long Current(long personId)
    {
        lock (_sync)
        {
            return _matcher.Current(personId);
        }
    }

    /// <summary>The person an identity designates (INS, same or similar traits), without recording it.</summary>
    public long? Find(PatientIdentity identity)
    {
        lock (_sync)
        {
            return _matcher.Find(identity, _sandbox);
        }
    }

    private static ResultEnvelope Envelope(LogEntry entry) => JsonSerializer.Deserialize(ResultRecords.Envelope(entry.Payload.Span), SidepJson.Default.ResultEnvelope)!;

    public int DrainOnce(int max = 1000) => DrainOnceAsync(max).GetAwaiter().GetResult();

    public async Task<int> DrainOnceAsync(int max = 1000, CancellationToken cancellationToken = default)
    {
        List<LogEntry> batch = _log.ReadInJournalOrder(_next, max);
        if (batch.Count == 0)
        {
            return 0;
        }
        var rows = new List<MatchRow>(batch.Count);
        var merges = new List<(long From, long Into)>();
        var output = new List<LogRecord>(batch.Count);
        long sequence = _next;
        foreach (LogEntry entry in batch)
        {
            if (entry.Kind == RecordKind.Lost)
            {
                sequence++; // moved aside by journal repair: its number stays, its content is gone
                continue;
            }
            ResultEnvelope envelope = Envelope(entry);
            int mergesBefore;
            MatchDecision decision;
            lock (_sync)
            {
                mergesBefore = _matcher.Merges.Count;
                decision = _matcher.Match(envelope.Result.Patient, _sandbox);
            }
            ResultKey key = envelope.Result.Key;
            rows.Add(new MatchRow(key.LabId, key.AccessionId, key.TestCode, envelope.Version, decision.PersonId, decision.Rule.ToString(),
                decision.Score, JsonSerializer.Serialize(decision, SidepJson.Default.MatchDecision)));
            string seq = sequence.ToString(System.Globalization.CultureInfo.InvariantCulture);
            for (int m = mergesBefore; m < _matcher.Merges.Count; m++)
            {
                MergeEvent merge = _matcher.Merges[m];
                merges.Add((merge.From, merge.Into));
                if (sequence > _emitted)
                {
                    output.Add(new LogRecord(RecordKind.Merged, -1, seq,
                        JsonSerializer.SerializeToUtf8Bytes(new PersonMerge(sequence, merge.From, merge.Into, merge.Reason), SidepJson.Default.PersonMerge)));
                }
            }
            if (sequence > _emitted)
            {
                // The indicator fact rides along, so that the indicators never parse the JSON.
                Sidep.Indicators.IndicatorFact? fact = Sidep.Indicators.Facts.From(envelope.Result, envelope.Version, decision.PersonId, envelope.ReceivedAt, _terminology.KindOf);
                output.Add(new LogRecord(RecordKind.Matched, entry.Partition, seq,
                    MatchedRecords.Encode(sequence, decision.PersonId, decision.Rule.ToString(), decision.Score, ResultRecords.Envelope(entry.Payload.Span), fact)));
            }
            sequence++;
        }
        if (_output is not null && output.Count > 0)
        {
            await _output.AppendAsync(output, cancellationToken).ConfigureAwait(false);
        }
        _emitted = Math.Max(_emitted, sequence - 1);
        _store.ApplyMatches(ConsumerName, _next + batch.Count, rows, merges);
        Interlocked.Add(ref _next, batch.Count);
        return batch.Count;
    }

    public async Task RunAsync(CancellationToken cancellationToken)
    {
        while (!cancellationToken.IsCancellationRequested)
        {
            if (await DrainOnceAsync(1000, cancellationToken).ConfigureAwait(false) == 0)
            {
                await _log.WaitForDataAsync(TimeSpan.FromMilliseconds(200), cancellationToken).ConfigureAwait(false);
            }
        }
    }
}
