using Sidep.Indicators;
using Sidep.Pipeline;
using Sidep.Transport;

namespace Sidep.Ingestion;

/// <summary>
/// AGGREGATE: the identity stage's output (matched results and merges, in order) through the SPF counting rules, one
/// aggregator per partition of <see cref="StageTopics.Matched"/> (a person's state lives on their partition). Each
/// batch's net counter changes are one revision, written with the partition's position in one transaction and stamped
/// with the time it was processed, so that tables can be read as of a past moment. Deltas are additive: the indicators
/// are the sum of every partition's revisions (<see cref="StoredIndicators"/>).
/// </summary>
/// <param name="bySpf2021">Count persons by Santé publique France's 2021 key (birth name, first given name, age, sex)
/// instead of the matcher's persons (<c>--person-key spf2021</c>): to reproduce the published figures. Exact in the
/// embedded mode; in the distributed mode a partition holds a birth date's persons, so two persons sharing a key but not a
/// birth date may be counted on two partitions.</param>
public sealed class IndicatorStage(IStageTransport transport, IIndicatorStore store, Terminology terminology, TimeProvider? time = null,
    string group = "sidep-aggregate", bool bySpf2021 = false)
    : StageRunner<IndicatorStage.CountState, IIndicatorStore>(transport, store, StageTopics.Matched, group, ConsumerName)
{
    public const string ConsumerName = "indicators";

    public sealed class CountState : State
    {
        public Aggregator Aggregator { get; } = new();
        public Dictionary<int, long> Done { get; } = [];
    }

    protected override CountState NewState(int partition) => new();

    protected override void Replay(CountState state, IReadOnlyList<IncomingMessage> messages)
    {
        MatchedRecords.Apply(StageTopics.Unseen(messages, state.Done), state.Aggregator, terminology.KindOf, bySpf2021: bySpf2021);
        state.Aggregator.TakeDeltas();
    }

    protected override Task ProcessAsync(int partition, CountState state, IReadOnlyList<IncomingMessage> messages, long next, CancellationToken cancellationToken)
    {
        MatchedRecords.Apply(StageTopics.Unseen(messages, state.Done), state.Aggregator, terminology.KindOf, bySpf2021: bySpf2021);
        List<CountDelta> deltas = state.Aggregator.TakeDeltas();
        Store.ApplyIndicatorRevision(PositionName(partition), next, (time ?? TimeProvider.System).GetUtcNow(), messages.Count,
            deltas.ConvertAll(d => new IndicatorDelta(d.Day, d.Cell, d.P, d.T)));
        return Task.CompletedTask;
    }
}

/// <summary>Where the gateway reads the indicators' counts: now, or as they were at a moment.</summary>
public interface IIndicatorReader
{
    CountTable Snapshot(int fromDay = int.MinValue, int toDay = int.MaxValue, DateTimeOffset? asOf = null);
}

/// <summary>
/// The indicators, read from the store in both modes: count changes are additive, so the counts are the sum of every
/// revision of every partition's aggregator (as of a moment: without the revisions processed after it). A running
/// total is kept and each read adds only the revisions committed since the last one, so a read costs what changed,
/// not the whole history. What a reader sees was written with its position: never counts whose revision is not stored.
/// </summary>
public sealed class StoredIndicators(IIndicatorStore store) : IIndicatorReader
{
    private readonly Lock _sync = new();
    private readonly CountTable _total = new();
    private long _lastRevision;

    public CountTable Snapshot(int fromDay = int.MinValue, int toDay = int.MaxValue, DateTimeOffset? asOf = null)
    {
        CountTable table;
        long through;
        lock (_sync)
        {
            IndicatorChanges changes = store.IndicatorChangesSince(_lastRevision);
            foreach (IndicatorDelta d in changes.Deltas)
            {
                _total.Add(d.Day, d.Cell, d.P, d.T);
            }
            _lastRevision = through = changes.LastRevision;
            table = _total.Copy(fromDay, toDay);
        }
        if (asOf is DateTimeOffset at)
        {
            // Taken back: the revisions after the moment among those the total holds (not those committed since).
            foreach (IndicatorDelta d in store.IndicatorChangesAfter(at, fromDay, toDay, through))
            {
                table.Add(d.Day, d.Cell, -d.P, -d.T);
            }
        }
        return table;
    }
}
