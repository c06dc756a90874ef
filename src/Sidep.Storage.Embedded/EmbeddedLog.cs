using System.Buffers;
using System.Buffers.Binary;
using System.Threading.Channels;

namespace Sidep.Storage.Embedded;

/// <summary>What a journal record is.</summary>
public enum RecordKind : byte
{
    /// <summary>A raw submission, kept immutably with its hash and the report given for it.</summary>
    Submission = 1,
    /// <summary>A normalised result, on a partition of the log.</summary>
    Result = 2,
    /// <summary>A result held until its local code is mapped to LOINC; keyed by its quarantine id, on no partition.</summary>
    Quarantined = 3,
    /// <summary>Marks quarantined results as replayed (payload: their ids, one per line); written with the replayed results.</summary>
    Released = 4,
    /// <summary>A result with the person it belongs to and the decision (the identity stage's output), on a partition.</summary>
    Matched = 5,
    /// <summary>Two persons proved one (the identity stage's output), on no partition; ordered among the matched results.</summary>
    Merged = 6,
}

/// <summary>A record to append: results go on <see cref="Partition"/>; submissions have no partition (-1).</summary>
public readonly record struct LogRecord(RecordKind Kind, int Partition, string Key, ReadOnlyMemory<byte> Payload)
{
    /// <summary>A result's partition key (the person's blocking key), for journals that partition by it themselves.</summary>
    public string? PartitionKey { get; init; }
}

/// <summary>
/// Where the gateway makes submissions and results durable: the embedded log, or the topics of the distributed mode.
/// </summary>
public interface IResultJournal
{
    int PartitionOf(string key);

    /// <summary>Appends in order; returns once every record is durable. The records are enqueued before it returns,
    /// so the order of calls is the order of the journal.</summary>
    Task AppendAsync(IReadOnlyList<LogRecord> records, CancellationToken cancellationToken = default);

    /// <summary>Every result record (its key is the result key), to rebuild the gateway's index at start-up.</summary>
    IEnumerable<LogEntry> ReadAllResults();

    List<LogEntry> ReadPendingQuarantine();

    LogEntry? ReadSubmission(string id);
}

/// <summary>A record read back, with its offset in its partition (results) or its journal position (submissions).</summary>
public readonly record struct LogEntry(RecordKind Kind, int Partition, long Offset, string Key, ReadOnlyMemory<byte> Payload);

/// <summary>
/// The embedded log: Kafka's semantics (partitions, per-partition order, offsets; consumer positions are kept
/// by the consumers in the state store) over one local append-only journal file.
/// Appends are group-committed: one writer drains every append that is waiting, writes them, fsyncs once, and
/// only then completes them, so an append that has returned is on disk.
/// A torn tail (a crash mid-write, never acknowledged) is cut off when the journal is opened.
/// </summary>
public sealed class EmbeddedLog : IAsyncDisposable, IResultJournal
{
    // [u32 payload length][u32 crc of everything after the crc][u8 kind][i32 partition][u16 key length][key utf8][payload]
    private const int HeaderSize = 4 + 4;
    private const int FixedSize = 1 + 4 + 2;
    private const int MaxRecordBytes = 64 * 1024 * 1024;

    private readonly FileStream _writer;
    private readonly Microsoft.Win32.SafeHandles.SafeFileHandle _reader;
    private readonly Channel<PendingAppend> _appends = Channel.CreateUnbounded<PendingAppend>(new UnboundedChannelOptions { SingleReader = true });
    private readonly List<long>[] _partitions;
    private readonly Dictionary<string, long> _submissions = new(StringComparer.Ordinal);
    private readonly List<(string Id, long Position)> _quarantined = [];
    /// <summary>Every result record's journal position, in journal order: the log's one global order.</summary>
    private readonly List<long> _resultsInOrder = [];
    private readonly HashSet<string> _released = new(StringComparer.Ordinal);
    private readonly Lock _indexLock = new();
    private readonly Task _writerLoop;
    /// <summary>Completed (and replaced) at every durable append: wakes every consumer waiting, not just one.</summary>
    private TaskCompletionSource _dataArrived = new(TaskCreationOptions.RunContinuationsAsynchronously);
    private long _position;
    private long _flushes;

    private EmbeddedLog(string path, int partitionCount)
    {
        Path = path;
        _partitions = new List<long>[partitionCount];
        for (int i = 0; i < partitionCount; i++)
        {
            _partitions[i] = [];
        }
        _writer = new FileStream(path, FileMode.OpenOrCreate, FileAccess.ReadWrite, FileShare.Read, bufferSize: 1 << 16);
        _reader = File.OpenHandle(path, FileMode.Open, FileAccess.Read, FileShare.ReadWrite);
        Recover();
        _writerLoop = Task.Run(WriteLoopAsync);
    }

    public string Path { get; }
    public int PartitionCount => _partitions.Length;

    /// <summary>How many fsyncs the journal has made: with group commit, far fewer than appends.</summary>
    public long FlushCount => Interlocked.Read(ref _flushes);

    /// <summary>Opens (or creates) the journal in <paramref name="directory"/> and replays it into the indexes.</summary>
    public static EmbeddedLog Open(string directory, int partitionCount = 8)
    {
        ArgumentOutOfRangeException.ThrowIfLessThan(partitionCount, 1);
        Directory.CreateDirectory(directory);
        return new EmbeddedLog(System.IO.Path.Combine(directory, "journal.log"), partitionCount);
    }

    /// <summary>The partition a key lands on: a stable hash (FNV-1a) of the key, modulo the partition count.</summary>
    public int PartitionOf(string key)
    {
        uint hash = 2166136261;
        foreach (char c in key)
        {
            hash = (hash ^ c) * 16777619;
        }
        return (int)(hash % (uint)_partitions.Length);
    }

    /// <summary>How many records <see cref="ReadInJournalOrder"/> can return.</summary>
    public long OrderedCount
    {
        get
        {
            lock (_indexLock)
            {
                return _resultsInOrder.Count;
            }
        }
    }

    public long EndOffset(int partition)
    {
        lock (_indexLock)
        {
            return _partitions[partition].Count;
        }
    }

    /// <summary>Appends the records, in order, and returns once they are durable (fsynced).</summary>
    public Task AppendAsync(IReadOnlyList<LogRecord> records, CancellationToken cancellationToken = default)
    {
        foreach (LogRecord r in records)
        {
            if (r.Kind == RecordKind.Result && (uint)r.Partition >= (uint)_partitions.Length)
            {
                throw new ArgumentOutOfRangeException(nameof(records), $"partition {r.Partition} does not exist");
            }
            if (System.Text.Encoding.UTF8.GetByteCount(r.Key) > ushort.MaxValue)
            {
                throw new ArgumentOutOfRangeException(nameof(records), $"a record's key may hold at most {ushort.MaxValue} bytes");
            }
            if (r.Payload.Length + r.Key.Length * 3 + FixedSize > MaxRecordBytes)
            {
                throw new ArgumentOutOfRangeException(nameof(records), $"a record may hold at most {MaxRecordBytes} bytes");
            }
        }
        var pending = new PendingAppend(records);
        if (!_appends.Writer.TryWrite(pending))
        {
            throw new ObjectDisposedException(nameof(EmbeddedLog));
        }
        return pending.Done.Task.WaitAsync(cancellationToken);
    }

    /// <summary>Reads up to <paramref name="max"/> results of a partition from <paramref name="offset"/> on.</summary>
    public List<LogEntry> Read(int partition, long offset, int max)
    {
        long[] positions;
        lock (_indexLock)
        {
            List<long> index = _partitions[partition];
            int count = (int)Math.Max(0, Math.Min(max, index.Count - offset));
            positions = count == 0 ? [] : index.GetRange((int)offset, count).ToArray();
        }
        return ReadAt(positions, offset);
    }

    /// <summary>Bytes read at once when a batch of records is read: one system call for the records it holds (they are
    /// close together: appended together, in journal order), instead of two per record.</summary>
    private const int ReadChunkBytes = 256 * 1024;

    /// <summary>The records at these journal positions (ascending); their offsets number on from <paramref name="firstOffset"/>.</summary>
    private List<LogEntry> ReadAt(long[] positions, long firstOffset)
    {
        var entries = new List<LogEntry>(positions.Length);
        byte[] chunk = ArrayPool<byte>.Shared.Rent(ReadChunkBytes);
        try
        {
            long chunkStart = 0;
            int chunkLength = 0;
            // Whether the chunk holds the whole record at this position: its header, then as many bytes as it says.
            bool Holds(long position) => position >= chunkStart && position + HeaderSize <= chunkStart + chunkLength
                && position + HeaderSize + BinaryPrimitives.ReadInt32LittleEndian(chunk.AsSpan((int)(position - chunkStart))) <= chunkStart + chunkLength;
            for (int i = 0; i < positions.Length; i++)
            {
                long position = positions[i];
                if (!Holds(position))
                {
                    (chunkStart, chunkLength) = (position, RandomAccess.Read(_reader, chunk.AsSpan(0, ReadChunkBytes), position));
                    if (!Holds(position))
                    {
                        entries.Add(ReadAt(position, firstOffset + i)); // larger than a chunk (or a short read): on its own
                        continue;
                    }
                }
                int offset = (int)(position - chunkStart);
                int size = BinaryPrimitives.ReadInt32LittleEndian(chunk.AsSpan(offset));
                entries.Add(Decode(chunk.AsSpan(offset + HeaderSize, size).ToArray(), firstOffset + i));
            }
        }
        finally
        {
            ArrayPool<byte>.Shared.Return(chunk);
        }
        return entries;
    }

    /// <summary>The stored submission with this id, or null.</summary>
    public LogEntry? ReadSubmission(string id)
    {
        long position;
        lock (_indexLock)
        {
            if (!_submissions.TryGetValue(id, out position))
            {
                return null;
            }
        }
        return ReadAt(position, position);
    }

    /// <summary>Results (matched results and merges in a stage's output log) in journal order from the
    /// <paramref name="sequence"/>-th on (0-based over all partitions): a fixed global order, so a consumer that replays
    /// it rebuilds exactly the same state.</summary>
    public List<LogEntry> ReadInJournalOrder(long sequence, int max)
    {
        long[] positions;
        lock (_indexLock)
        {
            int count = (int)Math.Max(0, Math.Min(max, _resultsInOrder.Count - sequence));
            positions = count == 0 ? [] : _resultsInOrder.GetRange((int)sequence, count).ToArray();
        }
        return ReadAt(positions, sequence);
    }

    /// <summary>Quarantined results not yet released, in journal order.</summary>
    public List<LogEntry> ReadPendingQuarantine()
    {
        (string Id, long Position)[] pending;
        lock (_indexLock)
        {
            pending = _quarantined.Where(q => !_released.Contains(q.Id)).ToArray();
        }
        return pending.Select(q => ReadAt(q.Position, q.Position)).ToList();
    }

    /// <summary>Every result record in journal order, with its partition offset (used to rebuild state at start-up).</summary>
    public IEnumerable<LogEntry> ReadAllResults()
    {
        for (int p = 0; p < _partitions.Length; p++)
        {
            long end = EndOffset(p);
            for (long o = 0; o < end; o += 1024)
            {
                foreach (LogEntry e in Read(p, o, 1024))
                {
                    yield return e;
                }
            }
        }
    }

    /// <summary>Waits until data is appended or the timeout passes.</summary>
    public async Task WaitForDataAsync(TimeSpan timeout, CancellationToken cancellationToken)
    {
        try
        {
            await Volatile.Read(ref _dataArrived).Task.WaitAsync(timeout, cancellationToken).ConfigureAwait(false);
        }
        catch (TimeoutException)
        {
        }
        catch (OperationCanceledException)
        {
        }
    }

    private LogEntry ReadAt(long position, long offset)
    {
        Span<byte> header = stackalloc byte[HeaderSize];
        RandomAccess.Read(_reader, header, position);
        int length = BinaryPrimitives.ReadInt32LittleEndian(header);
        byte[] body = new byte[length];
        RandomAccess.Read(_reader, body, position + HeaderSize);
        return Decode(body, offset);
    }

    private static LogEntry Decode(byte[] body, long offset)
    {
        var kind = (RecordKind)body[0];
        int partition = BinaryPrimitives.ReadInt32LittleEndian(body.AsSpan(1));
        int keyLength = BinaryPrimitives.ReadUInt16LittleEndian(body.AsSpan(5));
        string key = System.Text.Encoding.UTF8.GetString(body, FixedSize, keyLength);
        return new LogEntry(kind, partition, offset, key, body.AsMemory(FixedSize + keyLength));
    }

    private void Recover()
    {
        long length = _writer.Length;
        long position = 0;
        Span<byte> header = stackalloc byte[HeaderSize];
        while (position + HeaderSize <= length)
        {
            RandomAccess.Read(_reader, header, position);
            int size = BinaryPrimitives.ReadInt32LittleEndian(header);
            uint crc = BinaryPrimitives.ReadUInt32LittleEndian(header[4..]);
            if (size < FixedSize || size > MaxRecordBytes || position + HeaderSize + size > length)
            {
                break;
            }
            byte[] body = new byte[size];
            RandomAccess.Read(_reader, body, position + HeaderSize);
            if (System.IO.Hashing.Crc32.HashToUInt32(body) != crc)
            {
                break;
            }
            Index(Decode(body, 0), position);
            position += HeaderSize + size;
        }
        if (position < length)
        {
            // A torn tail: written but never fsynced, so never acknowledged. Cut it off.
            _writer.SetLength(position);
            _writer.Flush(flushToDisk: true);
        }
        _position = position;
        _writer.Seek(position, SeekOrigin.Begin);
    }

    private void Index(in LogEntry entry, long position)
    {
        if (entry.Kind is RecordKind.Result or RecordKind.Matched && (uint)entry.Partition < (uint)_partitions.Length)
        {
            _partitions[entry.Partition].Add(position);
            _resultsInOrder.Add(position);
        }
        else if (entry.Kind == RecordKind.Merged)
        {
            _resultsInOrder.Add(position);
        }
        else if (entry.Kind == RecordKind.Submission)
        {
            _submissions[entry.Key] = position;
        }
        else if (entry.Kind == RecordKind.Quarantined)
        {
            _quarantined.Add((entry.Key, position));
        }
        else if (entry.Kind == RecordKind.Released && entry.Payload.Length > 0)
        {
            foreach (string id in System.Text.Encoding.UTF8.GetString(entry.Payload.Span).Split('\n', StringSplitOptions.RemoveEmptyEntries))
            {
                _released.Add(id);
            }
        }
    }

    private async Task WriteLoopAsync()
    {
        var batch = new List<PendingAppend>();
        var placed = new List<(LogRecord Record, long Position)>();
        byte[] scratch = new byte[1 << 16];
        while (await _appends.Reader.WaitToReadAsync().ConfigureAwait(false))
        {
            batch.Clear();
            placed.Clear();
            while (_appends.Reader.TryRead(out PendingAppend? pending))
            {
                batch.Add(pending);
            }
            try
            {
                long position = _position;
                foreach (PendingAppend pending in batch)
                {
                    foreach (LogRecord record in pending.Records)
                    {
                        int keyBytes = System.Text.Encoding.UTF8.GetByteCount(record.Key);
                        int size = FixedSize + keyBytes + record.Payload.Length;
                        if (scratch.Length < HeaderSize + size)
                        {
                            scratch = new byte[Math.Max(HeaderSize + size, scratch.Length * 2)];
                        }
                        Span<byte> buffer = scratch.AsSpan(0, HeaderSize + size);
                        Span<byte> body = buffer[HeaderSize..];
                        body[0] = (byte)record.Kind;
                        BinaryPrimitives.WriteInt32LittleEndian(body[1..], record.Partition);
                        BinaryPrimitives.WriteUInt16LittleEndian(body[5..], (ushort)keyBytes);
                        System.Text.Encoding.UTF8.GetBytes(record.Key, body[FixedSize..]);
                        record.Payload.Span.CopyTo(body[(FixedSize + keyBytes)..]);
                        BinaryPrimitives.WriteInt32LittleEndian(buffer, size);
                        BinaryPrimitives.WriteUInt32LittleEndian(buffer[4..], System.IO.Hashing.Crc32.HashToUInt32(body));
                        _writer.Write(buffer);
                        placed.Add((record, position));
                        position += buffer.Length;
                    }
                }
                _writer.Flush(flushToDisk: true);
                Interlocked.Increment(ref _flushes);
                _position = position;
                lock (_indexLock)
                {
                    foreach ((LogRecord record, long at) in placed)
                    {
                        Index(new LogEntry(record.Kind, record.Partition, 0, record.Key, record.Kind == RecordKind.Released ? record.Payload : default), at);
                    }
                }
                foreach (PendingAppend pending in batch)
                {
                    pending.Done.TrySetResult();
                }
                Interlocked.Exchange(ref _dataArrived, new TaskCompletionSource(TaskCreationOptions.RunContinuationsAsynchronously)).TrySetResult();
            }
            catch (Exception ex)
            {
                // A journal that cannot write cannot acknowledge: fail every waiting append.
                foreach (PendingAppend pending in batch)
                {
                    pending.Done.TrySetException(ex);
                }
            }
        }
    }

    public async ValueTask DisposeAsync()
    {
        _appends.Writer.TryComplete();
        await _writerLoop.ConfigureAwait(false);
        await _writer.DisposeAsync().ConfigureAwait(false);
        _reader.Dispose();
    }

    private sealed class PendingAppend(IReadOnlyList<LogRecord> records)
    {
        public IReadOnlyList<LogRecord> Records { get; } = records;
        public TaskCompletionSource Done { get; } = new(TaskCreationOptions.RunContinuationsAsynchronously);
    }
}
