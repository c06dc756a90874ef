using System.Text.Json;
using Sidep.Indicators;
using Sidep.Domain;
using Sidep.Journal;
using Sidep.Pipeline;
using Sidep.Storage.Sqlite;

namespace Sidep.Ingestion;

/// <summary>
/// AGGREGATE in embedded mode: the identity stage's output (matched results and merges, in order) through the SPF
/// counting rules. Each batch's net counter changes are one revision, written with the stage's position in one
/// transaction and stamped with the time it was processed, so tables can be read as of a past moment. At start-up the
/// counts and per-person state are rebuilt by replaying the output log up to that position (the same records give
/// the same counts; the revisions already written are not written again).
/// </summary>
public sealed class IndicatorStage : IIndicatorReader
{
    public const string ConsumerName = "indicators";

    private readonly EmbeddedLog _matched;
    private readonly StateStore _store;
    private readonly TimeProvider _time;
    private Aggregator _aggregator = new();
    private readonly Func<string?, TestKind> _kindOf;
    private readonly Lock _sync = new();
    private long _next;

    public IndicatorStage(EmbeddedLog matched, StateStore store, Terminology terminology, TimeProvider? time = null)
    {
        _matched = matched;
        _store = store;
        _time = time ?? TimeProvider.System;
        _kindOf = terminology.KindOf;
        Restore();
    }

    /// <summary>Rebuilds the counts from the matched log up to the position the store holds (at start-up, and after a
    /// store write failed: the counts of a batch whose revision was not written are taken back).</summary>
    public void Restore()
    {
        lock (_sync)
        {
            _aggregator = new Aggregator();
            _next = StageReplay.UpTo(_matched, _store.GetOffset(ConsumerName, -1), batch => Apply(batch));
            _aggregator.TakeDeltas();
        }
    }

    /// <summary>Results known to the aggregator (latest versions).</summary>
    public int ResultCount
    {
        get
        {
            lock (_sync)
            {
                return _aggregator.ResultCount;
            }
        }
    }

    /// <summary>How far the stage has read its input.</summary>
    public long Position => Interlocked.Read(ref _next);

    private void Apply(List<LogEntry> batch) => MatchedRecords.Apply(batch, _aggregator, _kindOf);

    public int DrainOnce(int max = 4096)
    {
        List<LogEntry> batch = _matched.ReadInJournalOrder(_next, max);
        if (batch.Count == 0)
        {
            return 0;
        }
        lock (_sync)
        {
            // The revision is written under the lock: a snapshot never sees counts whose revision is not yet stored.
            Apply(batch);
            List<CountDelta> deltas = _aggregator.TakeDeltas();
            _store.ApplyIndicatorRevision(ConsumerName, _next + batch.Count, _time.GetUtcNow(), batch.Count,
                deltas.ConvertAll(d => new IndicatorDelta(d.Day, d.Cell, d.P, d.T)));
            Interlocked.Add(ref _next, batch.Count);
        }
        return batch.Count;
    }

    /// <summary>The counts of the days in [<paramref name="fromDay"/>, <paramref name="toDay"/>], now or as they were at
    /// <paramref name="asOf"/> (the revisions processed after it taken back).</summary>
    public CountTable Snapshot(int fromDay = int.MinValue, int toDay = int.MaxValue, DateTimeOffset? asOf = null)
    {
        CountTable copy;
        lock (_sync)
        {
            // Taken under the lock with the store read, so no revision is both in the copy and missing from the store.
            copy = _aggregator.Counts.Copy(fromDay, toDay);
            if (asOf is DateTimeOffset at)
            {
                foreach (IndicatorDelta d in _store.IndicatorChangesAfter(at, fromDay, toDay))
                {
                    copy.Add(d.Day, d.Cell, -d.P, -d.T);
                }
            }
        }
        return copy;
    }

    public async Task RunAsync(CancellationToken cancellationToken)
    {
        while (!cancellationToken.IsCancellationRequested)
        {
            if (DrainOnce() == 0)
            {
                await _matched.WaitForDataAsync(TimeSpan.FromMilliseconds(200), cancellationToken).ConfigureAwait(false);
            }
        }
    }
}

/// <summary>Where the gateway reads the indicators' counts: now, or as they were at a moment.</summary>
public interface IIndicatorReader
{
    CountTable Snapshot(int fromDay = int.MinValue, int toDay = int.MaxValue, DateTimeOffset? asOf = null);
}

/// <summary>
/// The indicators of the distributed mode, read from the store: count changes are additive, so the counts are the sum
/// of every revision of every partition's aggregator (as of a moment: without the revisions processed after it).
/// </summary>
public sealed class StoredIndicators(IStageStore store) : IIndicatorReader
{
    public CountTable Snapshot(int fromDay = int.MinValue, int toDay = int.MaxValue, DateTimeOffset? asOf = null)
    {
        var table = new CountTable();
        foreach (IndicatorDelta d in store.IndicatorChangesAfter(DateTimeOffset.MinValue, fromDay, toDay))
        {
            table.Add(d.Day, d.Cell, d.P, d.T);
        }
        if (asOf is DateTimeOffset at)
        {
            foreach (IndicatorDelta d in store.IndicatorChangesAfter(at, fromDay, toDay))
            {
                table.Add(d.Day, d.Cell, -d.P, -d.T);
            }
        }
        return table;
    }
}
