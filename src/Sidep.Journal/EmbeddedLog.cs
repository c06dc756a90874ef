using System.Buffers;
using System.Diagnostics;
using System.Diagnostics.Metrics;
using System.Threading.Channels;

using Sidep.Pipeline;

namespace Sidep.Journal;

/// <summary>How the journal is laid out and where its files are.</summary>
public sealed record JournalOptions
{
    /// <summary>A segment is sealed and a new one started once it holds this many bytes; default 256 MiB.</summary>
    public long SegmentBytes { get; init; } = 256L * 1024 * 1024;

    /// <summary>The file system under the journal (tests inject faults here).</summary>
    public IJournalFileSystem FileSystem { get; init; } = OsJournalFileSystem.Instance;
}

/// <summary>
/// The embedded log, Sidep's system of record: Kafka's semantics (partitions, per-partition order, offsets; consumer
/// positions are kept by the consumers in the state store) over local append-only segment files.
/// <para>Appends are group-committed: one writer drains every append that is waiting, writes them in one write, fsyncs,
/// records the new end in the commit file (fsynced too), and only then completes them and shows them to readers. A group
/// whose write or fsync fails is answered "not stored" and the segment is returned to the last acknowledged end (through
/// a new handle: after a failed fsync the page cache is not trusted) before anything else is appended; the last group is
/// checked again, and appends resume by themselves once that succeeds.</para>
/// <para>At start-up only bytes past the commit file's point (a crash mid-write, never acknowledged) may be cut, and the
/// cut is reported; damage before it stops the opening with <see cref="JournalCorruptException"/>.</para>
/// </summary>
public sealed partial class EmbeddedLog : IAsyncDisposable, IResultJournal
{
    private const long Hole = -1;
    private const string CommitFileName = "commit";

    private static readonly Counter<long> s_writeFailures = JournalMetrics.Meter.CreateCounter<long>("sidep.journal.write_failures",
        description: "Journal groups that could not be made durable (answered 'not stored'), by cause");
    private static readonly Counter<long> s_heals = JournalMetrics.Meter.CreateCounter<long>("sidep.journal.recoveries",
        description: "Times the journal returned to its last acknowledged end after a failed write and took appends again");

    private readonly IJournalFileSystem _fs;
    private readonly long _segmentBytes;
    private readonly Channel<PendingAppend> _appends = Channel.CreateUnbounded<PendingAppend>(new UnboundedChannelOptions { SingleReader = true });
    private readonly List<Segment> _segments = [];
    private readonly PositionList[] _partitions;
    private readonly PositionList _ordered = new();
    private readonly Dictionary<string, long> _submissions = new(StringComparer.Ordinal);
    private readonly List<(string Id, long Position)> _quarantined = [];
    private readonly HashSet<string> _released = new(StringComparer.Ordinal);
    private readonly List<IJournalFile> _retired = [];
    private readonly Lock _indexLock = new();
    private readonly Task _writerLoop;
    /// <summary>What the active segment holds, for its index when it is sealed (writer only, and start-up).</summary>
    private List<IndexEntry> _activeEntries = [];
    private IJournalFile _commitFile = null!;
    private CommitPoint _commit = null!;
    private long _records;
    /// <summary>Where the last acknowledged group starts in the active segment: what is checked again after a failure.</summary>
    private long _lastGroupStart;
    private Exception? _fault;
    private volatile string? _stopped;
    private volatile string? _unavailable;
    /// <summary>Completed (and replaced) at every durable append: wakes every consumer waiting, not just one.</summary>
    private TaskCompletionSource _dataArrived = new(TaskCreationOptions.RunContinuationsAsynchronously);
    private long _flushes;
    private long _lost;

    private EmbeddedLog(string directory, int partitionCount, JournalOptions options)
    {
        DirectoryPath = directory;
        _fs = options.FileSystem;
        _segmentBytes = options.SegmentBytes;
        _partitions = new PositionList[partitionCount];
        for (int i = 0; i < partitionCount; i++)
        {
            _partitions[i] = new PositionList();
        }
        try
        {
            Recovery = Recover();
        }
        catch
        {
            CloseFiles();
            throw;
        }
        _writerLoop = Task.Run(WriteLoopAsync);
    }

    /// <summary>The journal's directory (segments, their indexes, the commit file).</summary>
    public string DirectoryPath { get; }

    public int PartitionCount => _partitions.Length;

    /// <summary>What opening the journal found and did.</summary>
    public JournalRecovery Recovery { get; }

    /// <summary>How many fsyncs the journal has made: with group commit, far fewer than appends.</summary>
    public long FlushCount => Interlocked.Read(ref _flushes);

    /// <summary>Why appends are refused now (a write failed and the journal could not yet return to its last
    /// acknowledged end; or damage was found and it stopped), or null when it takes appends.</summary>
    public string? Unavailable => _stopped ?? _unavailable;

    /// <summary>The segment files, oldest first.</summary>
    public IReadOnlyList<string> SegmentFiles
    {
        get
        {
            lock (_indexLock)
            {
                return [.. _segments.Select(s => s.Path)];
            }
        }
    }

    /// <summary>Opens (or creates) the journal in <paramref name="directory"/> and replays it into the indexes.</summary>
    /// <exception cref="JournalCorruptException">Acknowledged records are damaged: nothing was changed.</exception>
    public static EmbeddedLog Open(string directory, int partitionCount = 8, JournalOptions? options = null)
    {
        ArgumentOutOfRangeException.ThrowIfLessThan(partitionCount, 1);
        ArgumentOutOfRangeException.ThrowIfGreaterThan(partitionCount, JournalFormatCommit.MaxPartitions);
        return new EmbeddedLog(directory, partitionCount, options ?? new JournalOptions());
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
                return _ordered.Count;
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

    /// <summary>Appends the records, in order, and returns once they are durable (fsynced, and the commit file says so).</summary>
    /// <exception cref="JournalUnavailableException">Nothing of these records was stored (the journal is as it was).</exception>
    public Task AppendAsync(IReadOnlyList<LogRecord> records, CancellationToken cancellationToken = default)
    {
        foreach (LogRecord r in records)
        {
            if (r.Kind is RecordKind.Result or RecordKind.Matched && (uint)r.Partition >= (uint)_partitions.Length)
            {
                throw new ArgumentOutOfRangeException(nameof(records), $"partition {r.Partition} does not exist");
            }
            if (r.Kind is RecordKind.Padding or RecordKind.Lost)
            {
                throw new ArgumentOutOfRangeException(nameof(records), $"{r.Kind} records are the journal's own");
            }
            if (System.Text.Encoding.UTF8.GetByteCount(r.Key) > ushort.MaxValue)
            {
                throw new ArgumentOutOfRangeException(nameof(records), $"a record's key may hold at most {ushort.MaxValue} bytes");
            }
            if (r.Payload.Length + r.Key.Length * 3 + JournalFormat.BodyFixedSize > JournalFormat.MaxBodyBytes)
            {
                throw new ArgumentOutOfRangeException(nameof(records), $"a record may hold at most {JournalFormat.MaxBodyBytes} bytes");
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
            PositionList index = _partitions[partition];
            int count = (int)Math.Max(0, Math.Min(max, index.Count - offset));
            positions = count == 0 ? [] : index.Slice((int)offset, count);
        }
        return ReadAt(positions, offset, partition);
    }

    /// <summary>Bytes read at once when a batch of records is read: one system call for the records it holds (they are
    /// close together: appended together, in journal order), instead of two per record.</summary>
    private const int ReadChunkBytes = 256 * 1024;

    /// <summary>The records at these journal positions (ascending; <see cref="Hole"/> for a number whose record was moved
    /// aside); their offsets number on from <paramref name="firstOffset"/>.</summary>
    private List<LogEntry> ReadAt(long[] positions, long firstOffset, int partition)
    {
        var entries = new List<LogEntry>(positions.Length);
        byte[] chunk = ArrayPool<byte>.Shared.Rent(ReadChunkBytes);
        try
        {
            Segment? chunkSegment = null;
            long chunkStart = 0;
            int chunkLength = 0;
            // Whether the chunk holds the whole record at this local position: its header, then as many bytes as it says.
            bool Holds(long local) => local >= chunkStart && local + JournalFormat.RecordHeaderSize <= chunkStart + chunkLength
                && JournalFormat.BodyLength(chunk.AsSpan((int)(local - chunkStart))) is int body and >= 0
                && local + JournalFormat.RecordHeaderSize + body <= chunkStart + chunkLength;
            for (int i = 0; i < positions.Length; i++)
            {
                long position = positions[i];
                if (position == Hole)
                {
                    entries.Add(new LogEntry(RecordKind.Lost, partition, firstOffset + i, "", ReadOnlyMemory<byte>.Empty));
                    continue;
                }
                Segment segment = SegmentAt(position);
                long local = JournalFormat.LocalOf(position);
                if (segment != chunkSegment || !Holds(local))
                {
                    (chunkSegment, chunkStart, chunkLength) = (segment, local, segment.File.Read(chunk.AsSpan(0, ReadChunkBytes), local));
                    if (!Holds(local))
                    {
                        entries.Add(ReadOne(segment, local, firstOffset + i)); // larger than a chunk: on its own
                        continue;
                    }
                }
                int at = (int)(local - chunkStart);
                int size = JournalFormat.RecordHeaderSize + JournalFormat.BodyLength(chunk.AsSpan(at));
                entries.Add(Decode(segment, local, chunk.AsSpan(at, size), firstOffset + i));
            }
        }
        finally
        {
            ArrayPool<byte>.Shared.Return(chunk);
        }
        return entries;
    }

    private Segment SegmentAt(long position)
    {
        lock (_indexLock)
        {
            return _segments[JournalFormat.SegmentOf(position)];
        }
    }

    private LogEntry ReadOne(Segment segment, long local, long offset)
    {
        Span<byte> header = stackalloc byte[JournalFormat.RecordHeaderSize];
        segment.File.Read(header, local);
        int length = JournalFormat.BodyLength(header);
        if (length < 0)
        {
            throw Damaged(segment, local, "no record header at a position the index holds");
        }
        byte[] record = new byte[JournalFormat.RecordHeaderSize + length];
        int read = segment.File.Read(record, local);
        return Decode(segment, local, record.AsSpan(0, read), offset);
    }

    /// <summary>A record read back, checked against its CRC: damage found after start-up is reported, never returned.</summary>
    private LogEntry Decode(Segment segment, long local, ReadOnlySpan<byte> record, long offset)
    {
        if (!JournalFormat.Verify(record))
        {
            throw Damaged(segment, local, "the record fails its checksum (damaged since it was written)");
        }
        byte[] body = record[JournalFormat.RecordHeaderSize..].ToArray();
        RecordHead head = JournalFormat.Head(body);
        return new LogEntry(head.Kind, head.Partition, offset, JournalFormat.Key(body, head), JournalFormat.Payload(body, head));
    }

    private JournalCorruptException Damaged(Segment segment, long local, string reason)
    {
        _stopped ??= $"damage found in {segment.Path} at byte {local}: {reason}";
        return new JournalCorruptException(DirectoryPath, [new JournalDamage(segment.Path, local, 0, reason, JournalFormat.Position(segment.Number, local), 0)]);
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
        return ReadAt([position], position, -1)[0];
    }

    /// <summary>Results (matched results and merges in a stage's output log) in journal order from the
    /// <paramref name="sequence"/>-th on (0-based over all partitions): a fixed global order, so a consumer that replays
    /// it rebuilds exactly the same state. A number whose record journal repair moved aside reads as <see cref="RecordKind.Lost"/>.</summary>
    public List<LogEntry> ReadInJournalOrder(long sequence, int max)
    {
        long[] positions;
        lock (_indexLock)
        {
            int count = (int)Math.Max(0, Math.Min(max, _ordered.Count - sequence));
            positions = count == 0 ? [] : _ordered.Slice((int)sequence, count);
        }
        return ReadAt(positions, sequence, -1);
    }

    /// <summary>Quarantined results not yet released, in journal order.</summary>
    public List<LogEntry> ReadPendingQuarantine()
    {
        (string Id, long Position)[] pending;
        lock (_indexLock)
        {
            pending = [.. _quarantined.Where(q => !_released.Contains(q.Id))];
        }
        return [.. pending.Select(q => ReadAt([q.Position], q.Position, -1)[0])];
    }

    /// <summary>Every result record in journal order, with its partition offset (used to rebuild state at start-up);
    /// results moved aside by journal repair are not among them.</summary>
    public IEnumerable<LogEntry> ReadAllResults()
    {
        for (int p = 0; p < _partitions.Length; p++)
        {
            long end = EndOffset(p);
            for (long o = 0; o < end; o += 1024)
            {
                foreach (LogEntry e in Read(p, o, 1024))
                {
                    if (e.Kind != RecordKind.Lost)
                    {
                        yield return e;
                    }
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

    private async Task WriteLoopAsync()
    {
        var batch = new List<PendingAppend>();
        var placed = new List<IndexEntry>();
        var buffer = new ArrayBufferWriter<byte>(1 << 16);
        long[] partitionNext = new long[_partitions.Length];
        while (await _appends.Reader.WaitToReadAsync().ConfigureAwait(false))
        {
            batch.Clear();
            placed.Clear();
            buffer.ResetWrittenCount();
            while (_appends.Reader.TryRead(out PendingAppend? pending))
            {
                batch.Add(pending);
            }
            if (_stopped is string stopped)
            {
                Refuse(batch, new JournalUnavailableException($"the journal is stopped ({stopped}); nothing of this submission is stored"));
                continue;
            }
            if (_fault is not null && !TryHeal())
            {
                Refuse(batch, new JournalUnavailableException(
                    $"the journal cannot write ({Describe(_fault!)}); nothing of this submission is stored: send it again", _fault));
                continue;
            }
            Segment segment;
            CommitPoint commit;
            try
            {
                segment = RollIfFull();
                long local = segment.Length;
                long ordered = _ordered.Count;
                long records = _records;
                for (int p = 0; p < partitionNext.Length; p++)
                {
                    partitionNext[p] = _partitions[p].Count;
                }
                foreach (PendingAppend pending in batch)
                {
                    foreach (LogRecord record in pending.Records)
                    {
                        bool onPartition = record.Kind is RecordKind.Result or RecordKind.Matched;
                        long offset = onPartition ? partitionNext[record.Partition]++ : -1;
                        long sequence = onPartition || record.Kind == RecordKind.Merged ? ordered++ : -1;
                        int keyBytes = System.Text.Encoding.UTF8.GetByteCount(record.Key);
                        int size = JournalFormat.Encode(record, offset, sequence, buffer.GetSpan(JournalFormat.EncodedSize(record, keyBytes)));
                        buffer.Advance(size);
                        placed.Add(new IndexEntry(local, record.Kind, record.Partition, offset, sequence, TextOf(record)));
                        local += size;
                        records++;
                    }
                }
                segment.File.Write(buffer.WrittenSpan, segment.Length);
                segment.File.Flush();
                Interlocked.Increment(ref _flushes);
                commit = new CommitPoint(_commit.Sequence + 1, segment.Number, local, records, ordered, (long[])partitionNext.Clone());
                JournalFormatCommit.WriteFile(_commitFile, commit);
            }
            catch (Exception ex)
            {
                // Nothing of this group is acknowledged: return to the last acknowledged end before anything else.
                _fault = ex;
                s_writeFailures.Add(1, new KeyValuePair<string, object?>("cause", Cause(ex)));
                TryHeal();
                Refuse(batch, new JournalUnavailableException(
                    $"the journal could not write ({Describe(ex)}); nothing of this submission is stored: send it again", ex));
                continue;
            }
            lock (_indexLock)
            {
                foreach (IndexEntry entry in placed)
                {
                    Index(entry with { Position = JournalFormat.Position(segment.Number, entry.Position) });
                }
                _lastGroupStart = segment.Length;
                segment.Length = commit.End;
                _commit = commit;
            }
            _activeEntries.AddRange(placed);
            foreach (PendingAppend pending in batch)
            {
                pending.Done.TrySetResult();
            }
            Interlocked.Exchange(ref _dataArrived, new TaskCompletionSource(TaskCreationOptions.RunContinuationsAsynchronously)).TrySetResult();
        }
    }

    private static void Refuse(List<PendingAppend> batch, Exception ex)
    {
        foreach (PendingAppend pending in batch)
        {
            pending.Done.TrySetException(ex);
        }
    }

    private static string Describe(Exception ex) => ex is IOException ? ex.Message : $"{ex.GetType().Name}: {ex.Message}";

    private static string Cause(Exception ex) =>
        ex.Message.Contains("No space", StringComparison.OrdinalIgnoreCase) || (ex.HResult & 0xFFFF) == 28 ? "no_space"
        : (ex.HResult & 0xFFFF) == 5 ? "io_error"
        : (ex.HResult & 0xFFFF) == 30 ? "read_only"
        : "other";

    /// <summary>
    /// After a failed write or fsync: reopens the active segment (PostgreSQL's "fsyncgate": a failed fsync may have
    /// dropped dirty pages and marked them clean, so the old handle's view is not trusted), cuts it back to the last
    /// acknowledged end, fsyncs, checks the last acknowledged group again from the file, and writes the commit point
    /// again. True when appends can go on; false when it must be tried again later (the fault stays); when the
    /// acknowledged tail itself no longer checks, the journal stops.
    /// </summary>
    private bool TryHeal()
    {
        Segment segment = _segments[^1];
        try
        {
            IJournalFile reopened = _fs.Open(segment.Path, create: false);
            try
            {
                reopened.SetLength(segment.Length);
                reopened.Flush();
                // The last acknowledged group, read again through the new handle: it must still be whole.
                if (SegmentScan.Check(reopened, _lastGroupStart, segment.Length) is (long at, string why))
                {
                    _stopped = $"after a failed write, the acknowledged tail of {segment.Path} no longer checks at byte {at} ({why})";
                    reopened.Dispose();
                    return false;
                }
                IJournalFile commitFile = _fs.Open(System.IO.Path.Combine(DirectoryPath, CommitFileName), create: false);
                var restated = _commit with { Sequence = _commit.Sequence + 1 };
                try
                {
                    JournalFormatCommit.WriteFile(commitFile, restated);
                }
                catch
                {
                    commitFile.Dispose();
                    throw;
                }
                lock (_indexLock)
                {
                    _retired.Add(segment.File);
                    _retired.Add(_commitFile);
                    segment.File = reopened;
                    _commitFile = commitFile;
                    _commit = restated;
                }
            }
            catch
            {
                reopened.Dispose();
                throw;
            }
            _fault = null;
            _unavailable = null;
            s_heals.Add(1);
            return true;
        }
        catch (Exception ex)
        {
            _fault = ex;
            _unavailable = $"the journal cannot write: {Describe(ex)}";
            return false;
        }
    }

    /// <summary>Seals the active segment once it holds <see cref="JournalOptions.SegmentBytes"/>: its index written
    /// (temporary file, fsync, rename), then the next segment created with its header and made durable.</summary>
    private Segment RollIfFull()
    {
        Segment active = _segments[^1];
        if (active.Length < _segmentBytes || _activeEntries.Count == 0)
        {
            return active;
        }
        WriteIndex(active, _activeEntries);
        Segment next = CreateSegment(active.Number + 1);
        lock (_indexLock)
        {
            _segments.Add(next);
        }
        _activeEntries = [];
        _lastGroupStart = next.Length;
        return next;
    }

    private Segment CreateSegment(int number)
    {
        string path = System.IO.Path.Combine(DirectoryPath, JournalFormat.SegmentName(number));
        IJournalFile file = _fs.Open(path, create: true);
        try
        {
            byte[] header = new byte[JournalFormat.SegmentHeaderSize];
            JournalFormat.WriteSegmentHeader(header, number);
            file.SetLength(0);
            file.Write(header, 0);
            file.Flush();
            _fs.SyncDirectory(DirectoryPath);
        }
        catch
        {
            file.Dispose();
            throw;
        }
        return new Segment(number, path, file, JournalFormat.SegmentHeaderSize);
    }

    private void Index(in IndexEntry entry)
    {
        switch (entry.Kind)
        {
            case RecordKind.Result or RecordKind.Matched when (uint)entry.Partition < (uint)_partitions.Length:
                _lost += Place(_partitions[entry.Partition], entry.PartitionOffset, entry.Position);
                Place(_ordered, entry.Sequence, entry.Position);
                break;
            case RecordKind.Merged:
                Place(_ordered, entry.Sequence, entry.Position);
                break;
            case RecordKind.Submission:
                _submissions[entry.Text!] = entry.Position;
                break;
            case RecordKind.Quarantined:
                _quarantined.Add((entry.Text!, entry.Position));
                break;
            case RecordKind.Released:
                foreach (string id in entry.Text!.Split('\n', StringSplitOptions.RemoveEmptyEntries))
                {
                    _released.Add(id);
                }
                break;
            case RecordKind.Padding:
                return;
        }
        _records++;
    }

    /// <summary>Puts a record at its number; numbers skipped (records moved aside by repair) become holes.</summary>
    /// <returns>The holes made.</returns>
    private static int Place(PositionList index, long number, long position)
    {
        if (number < index.Count)
        {
            throw new InvalidDataException($"journal record {position:x} is numbered {number}, but {index.Count} records precede it");
        }
        int holes = 0;
        while (index.Count < number)
        {
            index.Add(Hole);
            holes++;
        }
        index.Add(position);
        return holes;
    }

    private static string? TextOf(in LogRecord record) => record.Kind switch
    {
        RecordKind.Submission or RecordKind.Quarantined => record.Key,
        RecordKind.Released => System.Text.Encoding.UTF8.GetString(record.Payload.Span),
        _ => null,
    };

    private static string? TextOf(in RecordHead head, ReadOnlySpan<byte> body) => head.Kind switch
    {
        RecordKind.Submission or RecordKind.Quarantined => JournalFormat.Key(body, head),
        RecordKind.Released => System.Text.Encoding.UTF8.GetString(body[(JournalFormat.BodyFixedSize + head.KeyLength)..]),
        _ => null,
    };

    public async ValueTask DisposeAsync()
    {
        _appends.Writer.TryComplete();
        await _writerLoop.ConfigureAwait(false);
        CloseFiles();
    }

    private void CloseFiles()
    {
        lock (_indexLock)
        {
            foreach (Segment s in _segments)
            {
                s.File.Dispose();
            }
            _segments.Clear();
            _retired.ForEach(f => f.Dispose());
            _retired.Clear();
            _commitFile?.Dispose();
        }
    }

    private sealed class PendingAppend(IReadOnlyList<LogRecord> records)
    {
        public IReadOnlyList<LogRecord> Records { get; } = records;
        public TaskCompletionSource Done { get; } = new(TaskCreationOptions.RunContinuationsAsynchronously);
    }

    private sealed class Segment(int number, string path, IJournalFile file, long length)
    {
        public int Number { get; } = number;
        public string Path { get; } = path;
        /// <summary>Swapped (under the index lock) when the journal reopens the active segment after a failure.</summary>
        public IJournalFile File { get; set; } = file;
        /// <summary>Bytes acknowledged (the active segment) or held (a sealed one).</summary>
        public long Length { get; set; } = length;
    }

    /// <summary>What start-up needs of a record: where it is, its numbers, and the text its index keeps (a submission's
    /// or quarantined result's id, a release's ids).</summary>
    internal readonly record struct IndexEntry(long Position, RecordKind Kind, int Partition, long PartitionOffset, long Sequence, string? Text);
}
