using System.Text;
using System.Text.Json;

namespace Sidep.Transport;

/// <summary>A message to publish: keyed by the partition key (ARCHITECTURE.md decision 5), with headers (trace context,
/// dead-letter reasons).</summary>
public sealed record OutgoingMessage(string Key, byte[] Payload, IReadOnlyDictionary<string, string>? Headers = null);

/// <summary>A message consumed, with where it came from. Its payload may be a slice of what the transport read (no copy
/// per message): read it while the message is in hand, copy what must outlive it.</summary>
public sealed record IncomingMessage(string Topic, int Partition, long Offset, string Key, ReadOnlyMemory<byte> Payload, IReadOnlyDictionary<string, string> Headers);

/// <summary>
/// The stage transport contract (ARCHITECTURE.md decision 6): topics of keyed messages, per-partition order,
/// consumer groups whose positions move only when the consumer says its work is durable, a dead-letter topic per
/// topic. The in-process log and Kafka both implement it and pass the same contract tests.
/// </summary>
public interface IStageTransport : IAsyncDisposable
{
    /// <summary>Returns once every message is durable (Kafka: acknowledged by all in-sync replicas).</summary>
    Task PublishAsync(string topic, IReadOnlyList<OutgoingMessage> messages, CancellationToken cancellationToken = default);

    IStageConsumer Subscribe(string topic, string group);

    /// <summary>The end offset of each partition of a topic (empty when the topic does not exist).</summary>
    long[] EndOffsets(string topic);

    /// <summary>The messages of one partition in [<paramref name="from"/>, <paramref name="to"/>), outside any group and
    /// moving no position: what a stage replays to restore a partition's state, a gateway to rebuild its index. Throws
    /// when the transport no longer holds the start of the range (deleted by retention): nothing is skipped silently.</summary>
    IEnumerable<IncomingMessage> ReadRange(string topic, int partition, long from, long to);
}

public interface IStageConsumer : IDisposable
{
    /// <summary>The next messages of the partitions this consumer holds, in order within each partition; waits up to
    /// <paramref name="wait"/> for the first.</summary>
    IReadOnlyList<IncomingMessage> Poll(int max, TimeSpan wait);

    /// <summary>Moves the group's positions past these messages: call only once their work is durable.</summary>
    void Commit(IReadOnlyList<IncomingMessage> processed);

    /// <summary>Makes the next polls of a partition this consumer holds start at <paramref name="offset"/> (a stage
    /// whose store is behind what the transport delivered goes back to the store's position).</summary>
    void Seek(int partition, long offset);

    /// <summary>Sends a message that cannot be processed to the topic's dead-letter topic, with the reason in its
    /// headers, and moves past it.</summary>
    Task DeadLetterAsync(IncomingMessage message, string reason, CancellationToken cancellationToken = default);
}

/// <summary>Header names shared by both transports.</summary>
public static class TransportHeaders
{
    public const string Reason = "sidep-dlt-reason";
    public const string Source = "sidep-dlt-source";
    public const string TraceParent = "traceparent";

    public static string DeadLetterTopic(string topic) => topic + ".dlt";

    /// <summary>The dead letter of a message: the same key and payload, its headers, the reason and where it came from.</summary>
    public static OutgoingMessage DeadLetter(IncomingMessage message, string reason) => new(message.Key, message.Payload.ToArray(),
        new Dictionary<string, string>(message.Headers, StringComparer.Ordinal)
        {
            [Reason] = reason,
            [Source] = $"{message.Topic}/{message.Partition}/{message.Offset}",
        });
}
