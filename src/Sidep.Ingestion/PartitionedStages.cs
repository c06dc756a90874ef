using System.Globalization;
using System.Text.Json;
using Sidep.Domain;
using Sidep.Identity;
using Sidep.Indicators;
using Sidep.Journal;
using Sidep.Pipeline;
using Sidep.Storage.Sqlite;
using Sidep.Transport;

namespace Sidep.Ingestion;

/// <summary>A stage of the distributed mode as a worker runs it: until cancelled, or until it fails (loudly).</summary>
public interface IStageWorker : IDisposable
{
    Task RunAsync(CancellationToken cancellationToken);
}

/// <summary>The distributed mode's stages by name, as `sidep worker --stage NAME` and `sidep serve --kafka` run them.</summary>
public static class DistributedStages
{
    public static readonly string[] Names = ["store", "match", "aggregate", "fanout", "research"];

    /// <summary>The input topic of a stage.</summary>
    public static string TopicOf(string name) => name is "store" or "match" ? StageTopics.Results : StageTopics.Matched;

    /// <param name="pseudonyms">The research sink's keys (research only).</param>
    public static IStageWorker Create(string name, IStageTransport transport, IStageStore store, Terminology terminology, bool sandbox,
        Pseudonyms? pseudonyms, string researchDirectory) => name switch
        {
            "store" => new TransportResultStore(transport, store),
            "match" => new PartitionedIdentityStage(transport, store, terminology, sandbox),
            "aggregate" => new PartitionedIndicatorStage(transport, store, terminology),
            "fanout" => new PartitionedFanOutStage(transport, store, terminology),
            "research" => new PartitionedResearchStage(transport, store, terminology,
                pseudonyms ?? throw new ArgumentException("the research stage needs its pseudonymisation keys", nameof(pseudonyms)), researchDirectory),
            _ => throw new ArgumentException($"no stage '{name}': {string.Join(", ", Names)}", nameof(name)),
        };
}

/// <summary>
/// A stage of the distributed mode (`sidep worker --stage ...`): one topic read by a consumer group, with state per
/// partition (ARCHITECTURE.md decision 5: the partition key is the person's blocking key, so a partition holds every
/// record of its persons). For each partition it holds, the worker writes its output and then, in one store
/// transaction, its rows and the partition's position; only then is the transport told. A partition's state is valid
/// only at the position the store has: when a worker gets a partition it does not hold at that position (at start,
/// after a rebalance, after another worker moved it), it restores the state first by replaying the partition's input
/// up to that position through the same code, writing nothing. What the transport delivers again below the store's
/// position is skipped, so a crash anywhere counts nothing twice. An unreadable message goes to the dead-letter
/// topic with the reason, and the stream goes on.
/// </summary>
public abstract class PartitionedStage<TState> : IStageWorker where TState : PartitionedStage<TState>.State
{
    /// <summary>What a stage keeps per partition; <see cref="Next"/> is the input position it is valid at.</summary>
    public abstract class State
    {
        public long Next { get; set; }
    }

    private readonly IStageConsumer _consumer;
    private readonly Dictionary<int, TState> _states = [];
    private readonly string _topic;

    protected PartitionedStage(IStageTransport transport, IStageStore store, string topic, string group, string consumerName)
    {
        Transport = transport;
        Store = store;
        _topic = topic;
        ConsumerName = consumerName;
        _consumer = transport.Subscribe(topic, group);
    }

    protected IStageTransport Transport { get; }

    protected IStageStore Store { get; }

    protected string ConsumerName { get; }

    /// <summary>The store's name for this stage's position in a partition.</summary>
    protected string PositionName(int partition) => $"{ConsumerName}/{partition.ToString(CultureInfo.InvariantCulture)}";

    /// <summary>How many partition states were restored by replay (a rebalance, a restart): for tests and metrics.</summary>
    public int Restores { get; private set; }

    /// <summary>How many times the transport delivered a partition past the stored position and was sent back to it.</summary>
    public int Rewinds { get; private set; }

    protected abstract TState NewState(int partition);

    /// <summary>Whether a partition's state is rebuilt by replay (false: the stage keeps no state, its writes are
    /// idempotent).</summary>
    protected virtual bool Stateful => true;

    /// <summary>What the stage does when its input is drained (the research stage writes its partitions).</summary>
    protected virtual Task IdleAsync(CancellationToken cancellationToken) => Task.CompletedTask;

    /// <summary>Applies messages already processed to the state only (restore).</summary>
    protected abstract void Replay(TState state, IReadOnlyList<IncomingMessage> messages);

    /// <summary>Processes new messages: output first (dead letters included), then the store's rows with the position
    /// <paramref name="next"/> in one transaction, so that a crash in between sends everything again rather than
    /// nothing.</summary>
    protected abstract Task ProcessAsync(int partition, TState state, IReadOnlyList<IncomingMessage> messages, long next, CancellationToken cancellationToken);

    /// <summary>Moves what is there (waiting up to <paramref name="wait"/>); returns how many messages it handled.</summary>
    public async Task<int> DrainOnceAsync(TimeSpan wait, int max = 1000, CancellationToken cancellationToken = default)
    {
        IReadOnlyList<IncomingMessage> messages = _consumer.Poll(max, wait);
        if (messages.Count == 0)
        {
            return 0;
        }
        foreach (IGrouping<int, IncomingMessage> group in messages.GroupBy(m => m.Partition))
        {
            int partition = group.Key;
            long stored = Store.GetOffset(PositionName(partition), -1);
            if (!_states.TryGetValue(partition, out TState? state) || state.Next != stored)
            {
                _states[partition] = state = Restore(partition, stored);
            }
            List<IncomingMessage> fresh = [.. group.Where(m => m.Offset >= stored).OrderBy(m => m.Offset)];
            long? backTo = Holes.Cut(Transport, _topic, partition, stored, fresh);
            if (fresh.Count > 0)
            {
                long next = fresh[^1].Offset + 1;
                await ProcessAsync(partition, state, fresh, next, cancellationToken).ConfigureAwait(false);
                state.Next = next;
            }
            if (backTo is long offset)
            {
                _consumer.Commit([.. group.Where(m => m.Offset < offset)]);
                _consumer.Seek(partition, offset);
                Rewinds++;
            }
            else
            {
                _consumer.Commit([.. group]);
            }
        }
        return messages.Count;
    }

    private TState Restore(int partition, long stored)
    {
        TState state = NewState(partition);
        var batch = new List<IncomingMessage>(1000);
        foreach (IncomingMessage m in Stateful ? Transport.ReadRange(_topic, partition, 0, stored) : [])
        {
            batch.Add(m);
            if (batch.Count == 1000)
            {
                Replay(state, batch);
                batch.Clear();
            }
        }
        Replay(state, batch);
        state.Next = stored;
        Restores++;
        return state;
    }

    public async Task RunAsync(CancellationToken cancellationToken)
    {
        while (!cancellationToken.IsCancellationRequested)
        {
            if (await DrainOnceAsync(TimeSpan.FromMilliseconds(200), cancellationToken: cancellationToken).ConfigureAwait(false) == 0)
            {
                await IdleAsync(cancellationToken).ConfigureAwait(false);
            }
        }
    }

    public void Dispose()
    {
        _consumer.Dispose();
        GC.SuppressFinalize(this);
    }
}

/// <summary>
/// Holes in what a transport delivered: the store's position is the truth, and every message from it on must be
/// processed in order. librdkafka (with the mock cluster, under load) was seen delivering a partition past messages it
/// never handed over — at the start of a poll and within one — which a stage would have skipped for good. A hole that
/// holds messages (read again outside the group to tell it from a legitimate gap of offsets) cuts the batch there, and
/// the consumer is sent back to it.
/// </summary>
internal static class Holes
{
    /// <summary>Cuts <paramref name="fresh"/> (ordered, from <paramref name="stored"/> on) at its first hole that holds
    /// messages; returns the offset to go back to, or null when nothing is missing.</summary>
    public static long? Cut(IStageTransport transport, string topic, int partition, long stored, List<IncomingMessage> fresh)
    {
        long expected = stored;
        for (int i = 0; i < fresh.Count; i++)
        {
            long offset = fresh[i].Offset;
            if (offset != expected && transport.ReadRange(topic, partition, expected, offset).Any())
            {
                fresh.RemoveRange(i, fresh.Count - i);
                return expected;
            }
            expected = offset + 1;
        }
        return null;
    }
}

/// <summary>The headers and topics of the distributed stages.</summary>
public static class StageTopics
{
    public const string Results = "sidep.results";
    public const string Matched = "sidep.matched";

    /// <summary>Header: what a matched-topic message is ("matched" or "merged").</summary>
    public const string Kind = "sidep-kind";

    /// <summary>Header: the input message it came from, "partition:offset" (a merge and the matched result of one input
    /// share it; the matched result comes last).</summary>
    public const string From = "sidep-from";

    /// <summary>Header: the result key of a result message (its message key is the partition key).</summary>
    public const string ResultKey = "sidep-result-key";

    public static string FromOf(int partition, long offset) => string.Create(CultureInfo.InvariantCulture, $"{partition}:{offset}");

    /// <summary>A matched-topic message as the embedded stages' record, for the code they share.</summary>
    public static LogEntry Entry(IncomingMessage m) => new(m.Headers.GetValueOrDefault(Kind) == "merged" ? RecordKind.Merged : RecordKind.Matched,
        m.Partition, m.Offset, m.Key, m.Payload);

    /// <summary>
    /// The matched-topic messages to apply: the identity stage may publish an input's output twice (a crash between
    /// its publication and its store write), so each consumer keeps, per input partition, the last input whose
    /// matched result it applied, and skips anything at or below it. Messages without the header are kept.
    /// </summary>
    public static List<LogEntry> Unseen(IReadOnlyList<IncomingMessage> messages, Dictionary<int, long> done)
    {
        var entries = new List<LogEntry>(messages.Count);
        foreach (IncomingMessage m in messages)
        {
            if (m.Headers.TryGetValue(From, out string? from) && from.IndexOf(':', StringComparison.Ordinal) is int colon and > 0
                && int.TryParse(from.AsSpan(0, colon), CultureInfo.InvariantCulture, out int p) && long.TryParse(from.AsSpan(colon + 1), CultureInfo.InvariantCulture, out long o))
            {
                if (done.TryGetValue(p, out long last) && o <= last)
                {
                    continue;
                }
                if (m.Headers.GetValueOrDefault(Kind) != "merged")
                {
                    done[p] = o;
                }
            }
            entries.Add(Entry(m));
        }
        return entries;
    }
}

/// <summary>
/// MATCH in the distributed mode: one identity matcher per partition of <see cref="StageTopics.Results"/> (all the
/// candidates of a person are on its partition), person ids made unique across partitions (the partition in the high
/// bits), decisions and merges in the store, matched results and merges on <see cref="StageTopics.Matched"/> keyed
/// by the same partition key with the fact the indicators count. Cross-partition links by INS (a birth date or sex
/// mistyped) are not made here: see the README.
/// </summary>
public sealed class PartitionedIdentityStage(IStageTransport transport, IStageStore store, Terminology terminology, bool sandbox = true,
    string group = "sidep-match")
    : PartitionedStage<PartitionedIdentityStage.MatcherState>(transport, store, StageTopics.Results, group, IdentityStage.ConsumerName)
{
    public sealed class MatcherState(int partition) : State
    {
        public Matcher Matcher { get; } = new();

        public long Global(long local) => ((long)(partition + 1) << 32) | local;
    }

    protected override MatcherState NewState(int partition) => new(partition);

    protected override void Replay(MatcherState state, IReadOnlyList<IncomingMessage> messages)
    {
        foreach (IncomingMessage m in messages)
        {
            if (TransportResultStore.Read(m.Payload, out _) is ResultEnvelope envelope)
            {
                state.Matcher.Match(envelope.Result.Patient, sandbox);
            }
        }
    }

    protected override async Task ProcessAsync(int partition, MatcherState state, IReadOnlyList<IncomingMessage> messages, long next,
        CancellationToken cancellationToken)
    {
        var poison = new List<(IncomingMessage, string)>();
        var rows = new List<MatchRow>(messages.Count);
        var merges = new List<(long From, long Into)>();
        var output = new List<OutgoingMessage>(messages.Count);
        Matcher matcher = state.Matcher;
        foreach (IncomingMessage m in messages)
        {
            if (TransportResultStore.Read(m.Payload, out string? unreadable) is not ResultEnvelope envelope)
            {
                poison.Add((m, unreadable!));
                continue;
            }
            int mergesBefore = matcher.Merges.Count;
            MatchDecision local = matcher.Match(envelope.Result.Patient, sandbox);
            MatchDecision decision = local with
            {
                PersonId = state.Global(local.PersonId),
                CandidateId = local.CandidateId is long c ? state.Global(c) : null,
                MergedPersonIds = local.MergedPersonIds?.Select(state.Global).ToList(),
            };
            string from = StageTopics.FromOf(partition, m.Offset);
            ResultKey key = envelope.Result.Key;
            rows.Add(new MatchRow(key.LabId, key.AccessionId, key.TestCode, envelope.Version, decision.PersonId, decision.Rule.ToString(),
                decision.Score, JsonSerializer.Serialize(decision, SidepJson.Default.MatchDecision)));
            for (int i = mergesBefore; i < matcher.Merges.Count; i++)
            {
                MergeEvent merge = matcher.Merges[i];
                (long into, long gone) = (state.Global(merge.Into), state.Global(merge.From));
                merges.Add((gone, into));
                output.Add(new OutgoingMessage(m.Key, JsonSerializer.SerializeToUtf8Bytes(new PersonMerge(m.Offset, gone, into, merge.Reason), SidepJson.Default.PersonMerge),
                    new Dictionary<string, string> { [StageTopics.Kind] = "merged", [StageTopics.From] = from }));
            }
            IndicatorFact? fact = Facts.From(envelope.Result, envelope.Version, decision.PersonId, envelope.ReceivedAt, terminology.KindOf);
            output.Add(new OutgoingMessage(m.Key, MatchedRecords.Encode(m.Offset, decision.PersonId, decision.Rule.ToString(), decision.Score, ResultRecords.Envelope(m.Payload), fact),
                new Dictionary<string, string> { [StageTopics.Kind] = "matched", [StageTopics.From] = from }));
        }
        if (output.Count > 0)
        {
            await Transport.PublishAsync(StageTopics.Matched, output, cancellationToken).ConfigureAwait(false);
        }
        // Before the store write, like the output: a crash in between dead-letters them again (at least once) rather than lose them.
        foreach ((IncomingMessage m, string reason) in poison)
        {
            await Transport.PublishAsync(TransportHeaders.DeadLetterTopic(StageTopics.Results), [TransportHeaders.DeadLetter(m, reason)], cancellationToken).ConfigureAwait(false);
        }
        Store.ApplyMatches(PositionName(partition), next, rows, merges);
    }
}

/// <summary>
/// AGGREGATE in the distributed mode: one aggregator per partition of <see cref="StageTopics.Matched"/> (a person's
/// state lives on their partition); each batch's count changes are one revision in the store with the partition's
/// position. Deltas are additive: the indicators are the sum of every partition's revisions.
/// </summary>
public sealed class PartitionedIndicatorStage(IStageTransport transport, IStageStore store, Terminology terminology, TimeProvider? time = null,
    string group = "sidep-aggregate")
    : PartitionedStage<PartitionedIndicatorStage.CountState>(transport, store, StageTopics.Matched, group, IndicatorStage.ConsumerName)
{
    public sealed class CountState : State
    {
        public Aggregator Aggregator { get; } = new();
        public Dictionary<int, long> Done { get; } = [];
    }

    protected override CountState NewState(int partition) => new();

    protected override void Replay(CountState state, IReadOnlyList<IncomingMessage> messages)
    {
        MatchedRecords.Apply(StageTopics.Unseen(messages, state.Done), state.Aggregator, terminology.KindOf);
        state.Aggregator.TakeDeltas();
    }

    protected override Task ProcessAsync(int partition, CountState state, IReadOnlyList<IncomingMessage> messages, long next, CancellationToken cancellationToken)
    {
        MatchedRecords.Apply(StageTopics.Unseen(messages, state.Done), state.Aggregator, terminology.KindOf);
        List<CountDelta> deltas = state.Aggregator.TakeDeltas();
        Store.ApplyIndicatorRevision(PositionName(partition), next, (time ?? TimeProvider.System).GetUtcNow(), messages.Count,
            deltas.ConvertAll(d => new IndicatorDelta(d.Day, d.Cell, d.P, d.T)));
        return Task.CompletedTask;
    }
}

/// <summary>
/// FAN-OUT (cases and notices) in the distributed mode: one episode tracker per partition of
/// <see cref="StageTopics.Matched"/>, the same rules and the same store writes as the embedded fan-out, case changes
/// published to the cases topic once stored.
/// </summary>
public sealed class PartitionedFanOutStage(IStageTransport transport, IStageStore store, Terminology terminology, TimeProvider? time = null,
    string group = "sidep-fanout")
    : PartitionedStage<PartitionedFanOutStage.EpisodeState>(transport, store, StageTopics.Matched, group, FanOutStage.ConsumerName)
{
    public sealed class EpisodeState : State
    {
        public Aggregator Episodes { get; } = new() { TrackEpisodes = true };
        public Dictionary<int, long> Done { get; } = [];
    }

    protected override EpisodeState NewState(int partition) => new();

    protected override void Replay(EpisodeState state, IReadOnlyList<IncomingMessage> messages)
    {
        FanOutStage.Apply(StageTopics.Unseen(messages, state.Done), state.Episodes, terminology.KindOf, positives: null);
        state.Episodes.TakeEpisodeChanges();
        state.Episodes.TakeDeltas();
    }

    protected override async Task ProcessAsync(int partition, EpisodeState state, IReadOnlyList<IncomingMessage> messages, long next,
        CancellationToken cancellationToken)
    {
        var positives = new Dictionary<string, PositiveResult>(StringComparer.Ordinal);
        FanOutStage.Apply(StageTopics.Unseen(messages, state.Done), state.Episodes, terminology.KindOf, positives);
        List<CaseChange> changes = FanOutStage.Changes(state.Episodes, positives, Store);
        Store.ApplyFanOut(PositionName(partition), next, [.. positives.Values], changes, FanOutStage.CaseId, (time ?? TimeProvider.System).GetUtcNow());
        if (changes.Count > 0)
        {
            await FanOutStage.PublishCasesAsync(Transport, Store, cancellationToken).ConfigureAwait(false);
        }
    }
}

/// <summary>
/// RESEARCH in the distributed mode: the same rows as the embedded research stage (pseudonymised only when written:
/// the person id stays in the store), upserted by version in the store with the partition's position; when the input
/// is drained, the Parquet partitions of the sample dates that changed are written again into
/// <paramref name="directory"/> (a directory shared by the research workers: each date's file is replaced atomically).
/// Its writes are idempotent, so it keeps no state to restore.
/// </summary>
public sealed class PartitionedResearchStage(IStageTransport transport, IStageStore store, Terminology terminology, Pseudonyms pseudonyms, string directory,
    TimeProvider? time = null, string group = "sidep-research")
    : PartitionedStage<PartitionedResearchStage.NoState>(transport, store, StageTopics.Matched, group, ResearchStage.ConsumerName)
{
    public sealed class NoState : State
    {
    }

    protected override bool Stateful => false;

    protected override NoState NewState(int partition) => new();

    protected override void Replay(NoState state, IReadOnlyList<IncomingMessage> messages)
    {
    }

    protected override Task ProcessAsync(int partition, NoState state, IReadOnlyList<IncomingMessage> messages, long next, CancellationToken cancellationToken)
    {
        Store.ApplyResearch(PositionName(partition), next, ResearchStage.Changes([.. messages.Select(StageTopics.Entry)], Store, terminology.KindOf));
        return Task.CompletedTask;
    }

    /// <summary>Writes the partitions of the sample dates that changed; returns how many.</summary>
    public Task<int> WritePartitionsAsync(CancellationToken cancellationToken = default) =>
        ResearchStage.WritePartitionsAsync(Store, pseudonyms, directory, time ?? TimeProvider.System, cancellationToken);

    private readonly PartitionWritePacer _pacer = new();

    /// <summary>When idle, at most every <see cref="PartitionWritePacer.Interval"/>.</summary>
    protected override Task IdleAsync(CancellationToken cancellationToken) => _pacer.WriteIfDueAsync(WritePartitionsAsync, cancellationToken);
}
