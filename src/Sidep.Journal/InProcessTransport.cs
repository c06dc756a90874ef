using System.Buffers.Binary;
using System.Text;
using System.Text.Json;
using Microsoft.Win32.SafeHandles;
using Sidep.Journal;
using Sidep.Pipeline;

namespace Sidep.Transport;

/// <summary>
/// The in-process transport of the embedded mode: one partitioned durable log (<see cref="EmbeddedLog"/>)
/// per topic under a directory, consumer group positions in a small file per group and topic (<see cref="GroupPositions"/>).
/// A journal can be served as a topic of its own (<paramref name="journals"/>): read-only, one partition whose offsets
/// are the journal's global order (<see cref="EmbeddedLog.ReadInJournalOrder"/>), the record key in the
/// <see cref="JournalKeyHeader"/> header. That is how the embedded mode's stages read the gateway's journal itself —
/// the system of record — through the same contract as they read Kafka, with no copy of it.
/// </summary>
public sealed class InProcessTransport(string directory, int partitions = 8, IReadOnlyDictionary<string, EmbeddedLog>? journals = null) : IStageTransport
{
    /// <summary>Header of a message read from a journal topic: the record's key (a result's key).</summary>
    public const string JournalKeyHeader = "sidep-result-key";

    private readonly Dictionary<string, EmbeddedLog> _topics = new(StringComparer.Ordinal);
    private readonly Lock _lock = new();

    private bool IsJournal(string topic, out EmbeddedLog log)
    {
        if (journals is not null && journals.TryGetValue(topic, out EmbeddedLog? journal))
        {
            log = journal;
            return true;
        }
        log = null!;
        return false;
    }

    private int PartitionCount(string topic) => IsJournal(topic, out _) ? 1 : Topic(topic).PartitionCount;

    private EmbeddedLog LogOf(string topic) => IsJournal(topic, out EmbeddedLog journal) ? journal : Topic(topic);

    /// <summary>Up to <paramref name="max"/> messages of a partition from <paramref name="from"/> on; <paramref name="next"/>
    /// is the offset after the last record read (records journal repair moved aside are passed over).</summary>
    private List<IncomingMessage> ReadMessages(string topic, int partition, long from, int max, out long next)
    {
        next = from;
        var messages = new List<IncomingMessage>();
        if (IsJournal(topic, out EmbeddedLog journal))
        {
            foreach (LogEntry e in journal.ReadInJournalOrder(from, max))
            {
                next = e.Offset + 1;
                if (e.Kind != RecordKind.Lost)
                {
                    messages.Add(new IncomingMessage(topic, 0, e.Offset, e.Key, e.Payload, new OneHeader(JournalKeyHeader, e.Key)));
                }
            }
            return messages;
        }
        foreach (LogEntry e in Topic(topic).Read(partition, from, max))
        {
            next = e.Offset + 1;
            if (e.Kind != RecordKind.Lost)
            {
                (MessageHeaders headers, ReadOnlyMemory<byte> payload) = Open(e.Payload);
                messages.Add(new IncomingMessage(topic, partition, e.Offset, e.Key, payload, headers));
            }
        }
        return messages;
    }

    private EmbeddedLog Topic(string topic)
    {
        lock (_lock)
        {
            if (!_topics.TryGetValue(topic, out EmbeddedLog? log))
            {
                _topics[topic] = log = EmbeddedLog.Open(Path.Combine(directory, "topics", topic), partitions);
            }
            return log;
        }
    }

    public Task PublishAsync(string topic, IReadOnlyList<OutgoingMessage> messages, CancellationToken cancellationToken = default)
    {
        if (IsJournal(topic, out _))
        {
            throw new InvalidOperationException($"{topic} is the gateway's journal: only the gateway appends to it");
        }
        EmbeddedLog log = Topic(topic);
        return log.AppendAsync([.. messages.Select(m => new LogRecord(RecordKind.Result, log.PartitionOf(m.Key), m.Key, Envelope(m)))],
            cancellationToken);
    }

    public IStageConsumer Subscribe(string topic, string group) => new Consumer(this, topic, group);

    public long[] EndOffsets(string topic)
    {
        if (IsJournal(topic, out EmbeddedLog journal))
        {
            return [journal.OrderedCount];
        }
        if (!Directory.Exists(Path.Combine(directory, "topics", topic)))
        {
            return [];
        }
        EmbeddedLog log = Topic(topic);
        return [.. Enumerable.Range(0, log.PartitionCount).Select(log.EndOffset)];
    }

    public IEnumerable<IncomingMessage> ReadRange(string topic, int partition, long from, long to)
    {
        long next = from;
        while (next < to)
        {
            long before = next;
            List<IncomingMessage> messages = ReadMessages(topic, partition, next, (int)Math.Min(1000, to - next), out next);
            if (next == before)
            {
                yield break;
            }
            foreach (IncomingMessage m in messages)
            {
                yield return m;
            }
        }
    }

    // [u16 header count]([7-bit length][UTF-8 name][7-bit length][UTF-8 value])* [payload] — BinaryWriter's layout,
    // written on a span (one array per message), read in place (the payload and the headers are slices of the record).
    private static byte[] Envelope(OutgoingMessage m)
    {
        IReadOnlyDictionary<string, string>? headers = m.Headers;
        int size = 2 + m.Payload.Length;
        foreach ((string name, string value) in headers ?? s_noHeaders)
        {
            size += StringSize(name) + StringSize(value);
        }
        byte[] buffer = new byte[size];
        Span<byte> span = buffer;
        BinaryPrimitives.WriteUInt16LittleEndian(span, (ushort)(headers?.Count ?? 0));
        int at = 2;
        foreach ((string name, string value) in headers ?? s_noHeaders)
        {
            at = WriteString(span, at, name);
            at = WriteString(span, at, value);
        }
        m.Payload.CopyTo(span[at..]);
        return buffer;
    }

    private static int StringSize(string value)
    {
        int length = Encoding.UTF8.GetByteCount(value);
        return length + (length < 1 << 7 ? 1 : length < 1 << 14 ? 2 : length < 1 << 21 ? 3 : 4);
    }

    private static readonly Dictionary<string, string> s_noHeaders = [];

    private static int WriteString(Span<byte> span, int at, string value)
    {
        int length = Encoding.UTF8.GetByteCount(value);
        for (uint v = (uint)length; ; v >>= 7)
        {
            span[at++] = (byte)(v < 0x80 ? v : (v & 0x7F) | 0x80);
            if (v < 0x80)
            {
                break;
            }
        }
        return at + Encoding.UTF8.GetBytes(value, span[at..]);
    }

    private static (MessageHeaders Headers, ReadOnlyMemory<byte> Payload) Open(ReadOnlyMemory<byte> envelope)
    {
        ReadOnlySpan<byte> span = envelope.Span;
        int count = BinaryPrimitives.ReadUInt16LittleEndian(span);
        int at = 2;
        for (int i = 0; i < 2 * count; i++)
        {
            EnvelopeHeaders.Next(span, ref at);
        }
        return (count == 0 ? EnvelopeHeaders.None : new EnvelopeHeaders(envelope[2..at], count), envelope[at..]);
    }

    public async ValueTask DisposeAsync()
    {
        List<EmbeddedLog> logs;
        lock (_lock)
        {
            logs = [.. _topics.Values];
            _topics.Clear();
        }
        foreach (EmbeddedLog log in logs)
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
        private SafeFileHandle? _positions;
        private long _sequence;

        public Consumer(InProcessTransport transport, string topic, string group)
        {
            _transport = transport;
            _topic = topic;
            string directory = Path.Combine(transport.DirectoryPath, "groups", group);
            _positionsPath = Path.Combine(directory, topic + ".positions");
            string earlier = Path.Combine(directory, topic + ".json"); // what versions before the two-slot file wrote
            int partitions = transport.PartitionCount(topic);
            _committed = GroupPositions.Read(_positionsPath, partitions, out _sequence)
                ?? (File.Exists(earlier) ? JsonSerializer.Deserialize<long[]>(File.ReadAllBytes(earlier))! : new long[partitions]);
            _next = (long[])_committed.Clone();
        }

        public IReadOnlyList<IncomingMessage> Poll(int max, TimeSpan wait)
        {
            var messages = new List<IncomingMessage>();
            for (int attempt = 0; attempt < 2 && messages.Count == 0; attempt++)
            {
                for (int p = 0; p < _next.Length && messages.Count < max; p++)
                {
                    messages.AddRange(_transport.ReadMessages(_topic, p, _next[p], max - messages.Count, out _next[p]));
                }
                if (messages.Count == 0 && attempt == 0)
                {
                    _transport.LogOf(_topic).WaitForDataAsync(wait, CancellationToken.None).GetAwaiter().GetResult();
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
            if (_positions is null)
            {
                Directory.CreateDirectory(Path.GetDirectoryName(_positionsPath)!);
                _positions = File.OpenHandle(_positionsPath, FileMode.OpenOrCreate, FileAccess.ReadWrite);
            }
            GroupPositions.Write(_positions, ++_sequence, _committed);
        }

        public async Task DeadLetterAsync(IncomingMessage message, string reason, CancellationToken cancellationToken = default)
        {
            await _transport.PublishAsync(TransportHeaders.DeadLetterTopic(message.Topic), [TransportHeaders.DeadLetter(message, reason)], cancellationToken)
                .ConfigureAwait(false);
            Commit([message]);
        }

        public void Seek(int partition, long offset) => _next[partition] = offset;

        public void Dispose() => _positions?.Dispose();
    }

    private string DirectoryPath => directory;
}

/// <summary>
/// A consumer group's committed positions in a topic: two sealed slots written in turn in place
/// (<see cref="SealedSlots"/>, as the journal's commit point), the newer whole one read back. A commit is one write on a
/// file kept open; it used to be a JSON file written aside and renamed over the old one at every commit of every stage (an
/// open, a write, a close and a rename each time). A write torn by a crash leaves the other slot: the group resumes one
/// commit earlier and gets those messages again, which every stage expects (its store's own position decides). Not
/// fsynced, as before: stage state is recomputable from the journal.
/// </summary>
internal static class GroupPositions
{
    private const ulong Magic = 0x31534F5047504453; // "SDPGPOS1"

    private static int SlotSize(int partitions) => 8 + 8 + 4 + 8 * partitions + 4;

    public static void Write(SafeFileHandle file, long sequence, long[] positions)
    {
        int size = SlotSize(positions.Length);
        Span<byte> slot = size <= 512 ? stackalloc byte[size] : new byte[size];
        BinaryPrimitives.WriteUInt64LittleEndian(slot, Magic);
        BinaryPrimitives.WriteInt64LittleEndian(slot[8..], sequence);
        BinaryPrimitives.WriteInt32LittleEndian(slot[16..], positions.Length);
        for (int p = 0; p < positions.Length; p++)
        {
            BinaryPrimitives.WriteInt64LittleEndian(slot[(20 + 8 * p)..], positions[p]);
        }
        SealedSlots.Seal(slot);
        RandomAccess.Write(file, slot, SealedSlots.Offset(sequence, size));
    }

    /// <summary>The positions of the newer whole slot, or null when the file is missing or neither slot is whole.</summary>
    public static long[]? Read(string path, int partitions, out long sequence)
    {
        sequence = 0;
        if (!File.Exists(path))
        {
            return null;
        }
        byte[] bytes = File.ReadAllBytes(path);
        int size = SlotSize(partitions);
        long[]? newest = null;
        for (int s = 0; s < 2; s++)
        {
            if (bytes.Length < (s + 1) * size)
            {
                break;
            }
            ReadOnlySpan<byte> slot = bytes.AsSpan(s * size, size);
            if (BinaryPrimitives.ReadUInt64LittleEndian(slot) != Magic
                || BinaryPrimitives.ReadInt32LittleEndian(slot[16..]) != partitions
                || !SealedSlots.IsSealed(slot))
            {
                continue;
            }
            long found = BinaryPrimitives.ReadInt64LittleEndian(slot[8..]);
            if (newest is null || found > sequence)
            {
                sequence = found;
                newest = new long[partitions];
                for (int p = 0; p < partitions; p++)
                {
                    newest[p] = BinaryPrimitives.ReadInt64LittleEndian(slot[(20 + 8 * p)..]);
                }
            }
        }
        return newest;
    }
}
