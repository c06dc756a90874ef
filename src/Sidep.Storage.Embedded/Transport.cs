using System.Text;
using System.Text.Json;

namespace Sidep.Transport;

/// <summary>A message to publish: keyed by the partition key (ARCHITECTURE.md decision 5), with headers (trace context,
/// dead-letter reasons).</summary>
public sealed record OutgoingMessage(string Key, byte[] Payload, IReadOnlyDictionary<string, string>? Headers = null);

/// <summary>A message consumed, with where it came from.</summary>
public sealed record IncomingMessage(string Topic, int Partition, long Offset, string Key, byte[] Payload, IReadOnlyDictionary<string, string> Headers);

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
    public static OutgoingMessage DeadLetter(IncomingMessage message, string reason) => new(message.Key, message.Payload,
        new Dictionary<string, string>(message.Headers, StringComparer.Ordinal)
        {
            [Reason] = reason,
            [Source] = $"{message.Topic}/{message.Partition}/{message.Offset}",
        });
}

/// <summary>
/// The in-process transport of the embedded mode: one partitioned durable log (<see cref="Storage.Embedded.EmbeddedLog"/>)
/// per topic under a directory, consumer group positions in a small file per group and topic, written atomically.
/// </summary>
public sealed class InProcessTransport(string directory, int partitions = 8) : IStageTransport
{
    private readonly Dictionary<string, Storage.Embedded.EmbeddedLog> _topics = new(StringComparer.Ordinal);
    private readonly Lock _lock = new();

    private Storage.Embedded.EmbeddedLog Topic(string topic)
    {
        lock (_lock)
        {
            if (!_topics.TryGetValue(topic, out Storage.Embedded.EmbeddedLog? log))
            {
                _topics[topic] = log = Storage.Embedded.EmbeddedLog.Open(Path.Combine(directory, "topics", topic), partitions);
            }
            return log;
        }
    }

    public Task PublishAsync(string topic, IReadOnlyList<OutgoingMessage> messages, CancellationToken cancellationToken = default)
    {
        Storage.Embedded.EmbeddedLog log = Topic(topic);
        return log.AppendAsync([.. messages.Select(m => new Storage.Embedded.LogRecord(Storage.Embedded.RecordKind.Result, log.PartitionOf(m.Key), m.Key, Envelope(m)))],
            cancellationToken);
    }

    public IStageConsumer Subscribe(string topic, string group) => new Consumer(this, topic, group);

    public long[] EndOffsets(string topic)
    {
        if (!Directory.Exists(Path.Combine(directory, "topics", topic)))
        {
            return [];
        }
        Storage.Embedded.EmbeddedLog log = Topic(topic);
        return [.. Enumerable.Range(0, log.PartitionCount).Select(log.EndOffset)];
    }

    public IEnumerable<IncomingMessage> ReadRange(string topic, int partition, long from, long to)
    {
        Storage.Embedded.EmbeddedLog log = Topic(topic);
        long next = from;
        while (next < to)
        {
            List<Storage.Embedded.LogEntry> entries = log.Read(partition, next, (int)Math.Min(1000, to - next));
            if (entries.Count == 0)
            {
                yield break;
            }
            foreach (Storage.Embedded.LogEntry e in entries)
            {
                next = e.Offset + 1;
                if (e.Kind == Storage.Embedded.RecordKind.Lost)
                {
                    continue; // moved aside by journal repair
                }
                (Dictionary<string, string> headers, byte[] payload) = Open(e.Payload);
                yield return new IncomingMessage(topic, partition, e.Offset, e.Key, payload, headers);
            }
        }
    }

    // [u16 header count]([u16 name length][name][u16 value length][value])* [payload]
    private static byte[] Envelope(OutgoingMessage m)
    {
        using var stream = new MemoryStream();
        using (var w = new BinaryWriter(stream, Encoding.UTF8, leaveOpen: true))
        {
            IReadOnlyDictionary<string, string> headers = m.Headers ?? new Dictionary<string, string>();
            w.Write((ushort)headers.Count);
            foreach ((string name, string value) in headers)
            {
                w.Write(name);
                w.Write(value);
            }
            w.Write(m.Payload);
        }
        return stream.ToArray();
    }

    private static (Dictionary<string, string> Headers, byte[] Payload) Open(ReadOnlyMemory<byte> envelope)
    {
        using var r = new BinaryReader(new MemoryStream(envelope.ToArray()), Encoding.UTF8);
        int count = r.ReadUInt16();
        var headers = new Dictionary<string, string>(count, StringComparer.Ordinal);
        for (int i = 0; i < count; i++)
        {
            headers[r.ReadString()] = r.ReadString();
        }
        return (headers, r.ReadBytes((int)(r.BaseStream.Length - r.BaseStream.Position)));
    }

    public async ValueTask DisposeAsync()
    {
        List<Storage.Embedded.EmbeddedLog> logs;
        lock (_lock)
        {
            logs = [.. _topics.Values];
            _topics.Clear();
        }
        foreach (Storage.Embedded.EmbeddedLog log in logs)
        {
            await log.DisposeAsync().ConfigureAwait(false);
        }
    }

    private sealed class Consumer : IStageConsumer
    {
        private readonly InProcessTransport _transport;
        private readonly string _topic;
        private readonly string _positionsPath;
        private readonly long[] _committed;
        private readonly long[] _next;

        public Consumer(InProcessTransport transport, string topic, string group)
        {
            _transport = transport;
            _topic = topic;
            Storage.Embedded.EmbeddedLog log = transport.Topic(topic);
            _positionsPath = Path.Combine(transport.DirectoryPath, "groups", group, topic + ".json");
            _committed = File.Exists(_positionsPath) ? JsonSerializer.Deserialize<long[]>(File.ReadAllBytes(_positionsPath))! : new long[log.PartitionCount];
            _next = (long[])_committed.Clone();
        }

        public IReadOnlyList<IncomingMessage> Poll(int max, TimeSpan wait)
        {
            Storage.Embedded.EmbeddedLog log = _transport.Topic(_topic);
            var messages = new List<IncomingMessage>();
            for (int attempt = 0; attempt < 2 && messages.Count == 0; attempt++)
            {
                for (int p = 0; p < log.PartitionCount && messages.Count < max; p++)
                {
                    foreach (Storage.Embedded.LogEntry e in log.Read(p, _next[p], max - messages.Count))
                    {
                        if (e.Kind == Storage.Embedded.RecordKind.Lost)
                        {
                            _next[p] = e.Offset + 1; // moved aside by journal repair
                            continue;
                        }
                        (Dictionary<string, string> headers, byte[] payload) = Open(e.Payload);
                        messages.Add(new IncomingMessage(_topic, p, e.Offset, e.Key, payload, headers));
                        _next[p] = e.Offset + 1;
                    }
                }
                if (messages.Count == 0 && attempt == 0)
                {
                    log.WaitForDataAsync(wait, CancellationToken.None).GetAwaiter().GetResult();
                }
            }
            return messages;
        }

        public void Commit(IReadOnlyList<IncomingMessage> processed)
        {
            foreach (IncomingMessage m in processed)
            {
                _committed[m.Partition] = Math.Max(_committed[m.Partition], m.Offset + 1);
            }
            Directory.CreateDirectory(Path.GetDirectoryName(_positionsPath)!);
            File.WriteAllBytes(_positionsPath + ".tmp", JsonSerializer.SerializeToUtf8Bytes(_committed));
            File.Move(_positionsPath + ".tmp", _positionsPath, overwrite: true);
        }

        public async Task DeadLetterAsync(IncomingMessage message, string reason, CancellationToken cancellationToken = default)
        {
            await _transport.PublishAsync(TransportHeaders.DeadLetterTopic(message.Topic), [TransportHeaders.DeadLetter(message, reason)], cancellationToken)
                .ConfigureAwait(false);
            Commit([message]);
        }

        public void Seek(int partition, long offset) => _next[partition] = offset;

        public void Dispose()
        {
        }
    }

    private string DirectoryPath => directory;
}
