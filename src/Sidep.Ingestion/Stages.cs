using System.Globalization;
using System.Text.Json;
using Sidep.Domain;
using Sidep.Identity;
using Sidep.Indicators;
using Sidep.Pipeline;
using Sidep.Transport;

namespace Sidep.Ingestion;

/// <summary>A stage as a worker runs it: until cancelled, or until it fails (loudly).</summary>
public interface IStageWorker : IDisposable
{
    Task RunAsync(CancellationToken cancellationToken);

    /// <summary>Moves what is there (waiting up to <paramref name="wait"/>); returns how many messages it handled.</summary>
    Task<int> DrainOnceAsync(TimeSpan wait, int max = 1000, CancellationToken cancellationToken = default);
}

/// <summary>What the indicators count persons by (<c>--person-key</c>).</summary>
public static class PersonKeyNames
{
    public const string Sidep = "sidep";
    public const string Spf2021 = "spf2021";
}

/// <summary>
/// The pipeline's stages by name, as `sidep serve` runs them in either mode (embedded: over the in-process transport,
/// whose results topic is the gateway's journal, and the SQLite store; distributed: over Kafka and PostgreSQL) and as
/// `sidep worker --stage NAME` runs one of them.
/// </summary>
public static class Stages
{
    public static readonly string[] Names = ["match", "aggregate", "fanout", "research"];

    /// <summary>The store's name for a stage's position in a partition of its input (positions are stored with
    /// partition -1 under this name).</summary>
    public static string PositionName(string consumer, int partition) => $"{consumer}/{partition.ToString(CultureInfo.InvariantCulture)}";

    /// <summary>The input topic of a stage.</summary>
    public static string TopicOf(string name) => name == "match" ? StageTopics.Results : StageTopics.Matched;

    /// <param name="pseudonyms">The research sink's keys (research only).</param>
    /// <param name="holdsEveryPartition">The identity stage keeps every partition of its input restored, for the gateway
    /// in its process to ask it (the embedded mode).</param>
    /// <param name="personKey">What the indicators count persons by: <c>sidep</c> (the matcher's persons) or <c>spf2021</c>
    /// (SPF's key since May 2021: birth name, first given name, age, sex).</param>
    public static IStageWorker Create(string name, IStageTransport transport, IStageStore store, Terminology terminology, bool sandbox,
        Pseudonyms? pseudonyms, string researchDirectory, bool holdsEveryPartition = false, string personKey = PersonKeyNames.Sidep) => name switch
        {
            "match" => new IdentityStage(transport, store, terminology, sandbox) { KeepsEveryPartition = holdsEveryPartition },
            "aggregate" => new IndicatorStage(transport, store, terminology, bySpf2021: personKey == PersonKeyNames.Spf2021),
            "fanout" => new FanOutStage(transport, store, terminology),
            "research" => new ResearchStage(transport, store, terminology,
                pseudonyms ?? throw new ArgumentException("the research stage needs its pseudonymisation keys", nameof(pseudonyms)), researchDirectory),
            _ => throw new ArgumentException($"no stage '{name}': {string.Join(", ", Names)}", nameof(name)),
        };
}

/// <summary>
/// The one runner of every stateful stage, in both modes: one topic read by a consumer group, with state per
/// partition (ARCHITECTURE.md decision 5: the partition key is the person's blocking key, so a partition holds every
/// record of its persons). For each partition it holds, the worker writes its output and then, in one store
/// transaction, its rows and the partition's position; only then is the transport told. A partition's state is valid
/// only at the position the store has: when a worker gets a partition it does not hold at that position (at start,
/// after a rebalance, after another worker moved it), it restores the state first by replaying the partition's input
/// up to that position through the same code, writing nothing. What the transport delivers again below the store's
/// position is skipped, so a crash anywhere counts nothing twice. An unreadable message goes to the dead-letter
/// topic with the reason, and the stream goes on.
/// </summary>
/// <typeparam name="TStore">The store contract of the stage's role (its rows), which holds its positions too.</typeparam>
public abstract class StageRunner<TState, TStore> : IStageWorker where TState : StageRunner<TState, TStore>.State where TStore : IStagePositions
{
    /// <summary>What a stage keeps per partition; <see cref="Next"/> is the input position it is valid at.</summary>
    public abstract class State
    {
        public long Next { get; set; }
    }

    private readonly IStageConsumer _consumer;
    private readonly Dictionary<int, TState> _states = [];

    protected StageRunner(IStageTransport transport, TStore store, string topic, string group, string consumerName)
    {
        Transport = transport;
        Store = store;
        Topic = topic;
        _consumerName = consumerName;
        _consumer = transport.Subscribe(topic, group);
    }

    protected IStageTransport Transport { get; }

    /// <summary>The topic the stage reads.</summary>
    protected string Topic { get; }

    protected TStore Store { get; }

    private readonly string _consumerName;

    /// <summary>The store's name for this stage's position in a partition.</summary>
    protected string PositionName(int partition) => Stages.PositionName(_consumerName, partition);

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
        List<IGrouping<int, IncomingMessage>> groups = [.. messages.GroupBy(m => m.Partition)];
        for (int g = 0; g < groups.Count; g++)
        {
            int partition = groups[g].Key;
            long stored = Store.GetOffset(PositionName(partition), -1);
            TState state = StateAt(partition, stored);
            List<IncomingMessage> fresh = [.. groups[g].Where(m => m.Offset >= stored).OrderBy(m => m.Offset)];
            long? backTo = Holes.Cut(Transport, Topic, partition, stored, fresh);
            if (fresh.Count > 0)
            {
                long next = fresh[^1].Offset + 1;
                try
                {
                    await ProcessAsync(partition, state, fresh, next, cancellationToken).ConfigureAwait(false);
                }
                catch
                {
                    // The state may hold part of a batch its store never got: forgotten, rebuilt from the store's position
                    // at the next poll, and this partition and those not reached are read again from there.
                    for (int rest = g; rest < groups.Count; rest++)
                    {
                        Forget(groups[rest].Key);
                        _consumer.Seek(groups[rest].Key, rest == g ? stored : groups[rest].Min(m => m.Offset));
                    }
                    throw;
                }
                state.Next = next;
            }
            if (backTo is long offset)
            {
                _consumer.Commit([.. groups[g].Where(m => m.Offset < offset)]);
                _consumer.Seek(partition, offset);
                Rewinds++;
            }
            else
            {
                _consumer.Commit([.. groups[g]]);
            }
        }
        return messages.Count;
    }

    private readonly Lock _statesLock = new();

    /// <summary>The state of a partition valid at <paramref name="stored"/>: the one held, else restored by replay.</summary>
    private TState StateAt(int partition, long stored)
    {
        lock (_statesLock)
        {
            if (_states.TryGetValue(partition, out TState? held) && held.Next == stored)
            {
                return held;
            }
        }
        TState state = Restore(partition, stored);
        lock (_statesLock)
        {
            _states[partition] = state;
        }
        return state;
    }

    private TState Restore(int partition, long stored)
    {
        TState state = NewState(partition);
        var batch = new List<IncomingMessage>(1000);
        foreach (IncomingMessage m in Stateful ? Transport.ReadRange(Topic, partition, 0, stored) : [])
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

    private void Forget(int partition)
    {
        lock (_statesLock)
        {
            _states.Remove(partition);
        }
    }

    /// <summary>The partition states held now (for readers of a stage's state in its process: the identity index).</summary>
    protected List<(int Partition, TState State)> HeldStates()
    {
        lock (_statesLock)
        {
            return [.. _states.Select(s => (s.Key, s.Value))];
        }
    }

    /// <summary>Whether every partition of the input is restored before the first poll and after a failure, not only when
    /// a message arrives for it: for a stage whose state the gateway reads in the same process (the identity index of
    /// the embedded mode), which must be whole even when nothing new arrives.</summary>
    public bool KeepsEveryPartition { get; init; }

    /// <summary>Restores every partition of the input not held at its stored position.</summary>
    public void RestoreEveryPartition()
    {
        int partitions = Transport.EndOffsets(Topic).Length;
        for (int p = 0; p < partitions; p++)
        {
            StateAt(p, Store.GetOffset(PositionName(p), -1));
        }
    }

    public async Task RunAsync(CancellationToken cancellationToken)
    {
        while (!cancellationToken.IsCancellationRequested)
        {
            if (KeepsEveryPartition)
            {
                RestoreEveryPartition();
            }
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

