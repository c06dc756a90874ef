using System.Buffers.Binary;
using System.Diagnostics;
using System.IO.Hashing;

using Sidep.Pipeline;

namespace Sidep.Journal;

public sealed partial class EmbeddedLog
{
    /// <summary>
    /// Opens the segments and indexes what they hold: sealed segments from their index (rebuilt from the segment when
    /// missing or damaged), the active one record by record. Bytes past the commit point that hold no whole record are
    /// a torn tail (never acknowledged) and are cut; whole records past it are kept. Damage before the commit point,
    /// or acknowledged bytes missing, refuse the opening and change nothing.
    /// </summary>
    private JournalRecovery Recover()
    {
        long started = Stopwatch.GetTimestamp();
        _fs.CreateDirectory(DirectoryPath);
        if (_fs.Exists(System.IO.Path.Combine(DirectoryPath, "journal.log")))
        {
            throw new InvalidOperationException($"{DirectoryPath} holds a journal of an earlier Sidep (journal.log, before segments and commit " +
                "points); this version does not read it. Keep it, and start this version on a new data directory.");
        }
        string commitPath = System.IO.Path.Combine(DirectoryPath, CommitFileName);
        List<int> numbers = [.. _fs.List(DirectoryPath, ".seg").Select(f => JournalFormat.TryParseSegmentName(System.IO.Path.GetFileName(f), out int n) ? n : -1).Order()];
        CommitPoint? commit = null;
        if (_fs.Exists(commitPath))
        {
            _commitFile = _fs.Open(commitPath, create: false);
            commit = JournalFormatCommit.ReadFile(_commitFile);
        }
        for (int i = 0; i < numbers.Count; i++)
        {
            if (numbers[i] != i)
            {
                throw Corrupt(new JournalDamage(System.IO.Path.Combine(DirectoryPath, JournalFormat.SegmentName(i)), 0, 0,
                    numbers[i] < 0 ? "a segment file is misnamed" : $"segment file {i} is missing", JournalFormat.Position(i, 0), 0));
            }
        }
        if (commit is null && numbers.All(n => SegmentIsEmpty(n)))
        {
            // A new journal (or one whose creation a crash interrupted before anything was appended).
            _commitFile ??= _fs.Open(commitPath, create: true);
            Segment first = CreateSegment(0);
            _segments.Add(first);
            _commit = new CommitPoint(1, 0, first.Length, 0, 0, new long[_partitions.Length]);
            JournalFormatCommit.WriteFile(_commitFile, _commit);
            _fs.SyncDirectory(DirectoryPath);
            _lastGroupStart = first.Length;
            return new JournalRecovery(1, 0, 0, 0, 0, 0, Stopwatch.GetElapsedTime(started));
        }
        if (commit is null)
        {
            throw Corrupt(new JournalDamage(commitPath, 0, 0, "the commit file is missing or both its slots are damaged: the last acknowledged point is unknown", 0, 0));
        }
        if (commit.PartitionEnds.Length != _partitions.Length)
        {
            throw new InvalidOperationException($"the journal in {DirectoryPath} has {commit.PartitionEnds.Length} partitions; it cannot be opened with {_partitions.Length}");
        }
        if (commit.Segment >= numbers.Count)
        {
            throw Corrupt(new JournalDamage(System.IO.Path.Combine(DirectoryPath, JournalFormat.SegmentName(commit.Segment)), 0, commit.End,
                "the segment holding the last acknowledged records is missing", JournalFormat.Position(commit.Segment, 0), 0, commit.Records));
        }

        long acknowledgedEnd = JournalFormat.Position(commit.Segment, commit.End);
        long acknowledgedSeen = 0, keptBeyond = 0, torn = 0;
        int rebuilt = 0;
        var damage = new List<(JournalDamage Damage, long SeenBefore)>();
        var cuts = new List<(Segment Segment, long At)>();
        for (int i = 0; i < numbers.Count; i++)
        {
            string path = System.IO.Path.Combine(DirectoryPath, JournalFormat.SegmentName(i));
            IJournalFile file = _fs.Open(path, create: false);
            var segment = new Segment(i, path, file, file.Length);
            _segments.Add(segment);
            bool last = i == numbers.Count - 1;
            if (!last && i < commit.Segment && TryLoadIndex(segment) is List<IndexEntry> indexed)
            {
                foreach (IndexEntry entry in indexed)
                {
                    Index(entry with { Position = JournalFormat.Position(i, entry.Position) });
                    acknowledgedSeen += entry.Kind == RecordKind.Padding ? 0 : 1;
                }
                continue;
            }
            var found = new List<IndexEntry>();
            List<DamagedRange> ranges = SegmentScan.Run(file, i, (long offset, in RecordHead head, ReadOnlySpan<byte> body) =>
                found.Add(new IndexEntry(offset, head.Kind, head.Partition, head.PartitionOffset, head.Sequence, TextOf(head, body))));
            long segmentAcknowledged = i < commit.Segment ? long.MaxValue : i == commit.Segment ? commit.End : 0;
            long cut = -1;
            foreach (DamagedRange range in ranges)
            {
                if (range.Offset < segmentAcknowledged)
                {
                    long before = found.Count(e => e.Position < range.Offset && e.Kind != RecordKind.Padding);
                    damage.Add((new JournalDamage(path, range.Offset, range.Length, range.Reason, JournalFormat.Position(i, range.Offset), 0), acknowledgedSeen + before));
                }
                else
                {
                    cut = range.Offset;
                    break;
                }
            }
            if (i == commit.Segment && file.Length < commit.End)
            {
                damage.Add((new JournalDamage(path, file.Length, commit.End - file.Length,
                    $"the file ends {commit.End - file.Length} bytes before the last acknowledged point (byte {commit.End})", JournalFormat.Position(i, file.Length), 0), -1));
            }
            if (cut >= 0)
            {
                torn += file.Length - cut;
                found.RemoveAll(e => e.Position >= cut);
                cuts.Add((segment, cut));
                segment.Length = cut;
            }
            foreach (IndexEntry entry in found)
            {
                long position = JournalFormat.Position(i, entry.Position);
                Index(entry with { Position = position });
                if (entry.Kind == RecordKind.Padding)
                {
                    continue;
                }
                if (position < acknowledgedEnd)
                {
                    acknowledgedSeen++;
                }
                else
                {
                    keptBeyond++;
                }
            }
            if (last)
            {
                _activeEntries = found;
            }
            else if (ranges.Count == 0 && i < commit.Segment)
            {
                WriteIndex(segment, found);
                rebuilt++;
            }
        }
        if (damage.Count > 0)
        {
            long orderedEnd = Math.Max(commit.Ordered, _ordered.Count);
            throw Corrupt([.. damage.Select(d => (d.SeenBefore < 0
                ? d.Damage with { MissingRecords = Math.Max(0, commit.Records - acknowledgedSeen) }
                : d.Damage with { RecordsBeyond = acknowledgedSeen - d.SeenBefore }) with { Results = JournalDamage.ResultsAt(_ordered, d.Damage.FirstPosition, orderedEnd) })]);
        }

        // Only now that nothing acknowledged is damaged: cut the torn tail (a crash mid-write) and go on after it.
        foreach ((Segment segment, long at) in cuts)
        {
            if (at < JournalFormat.SegmentHeaderSize)
            {
                byte[] header = new byte[JournalFormat.SegmentHeaderSize];
                JournalFormat.WriteSegmentHeader(header, segment.Number);
                segment.File.SetLength(0);
                segment.File.Write(header, 0);
                segment.Length = header.Length;
            }
            else
            {
                segment.File.SetLength(at);
            }
            segment.File.Flush();
        }
        // The numbering goes on after what was acknowledged, even when its last records were moved aside.
        for (int p = 0; p < _partitions.Length; p++)
        {
            _lost += Extend(_partitions[p], commit.PartitionEnds[p]);
        }
        Extend(_ordered, commit.Ordered);
        Segment active = _segments[^1];
        _lastGroupStart = _activeEntries.Count > 0 ? _activeEntries[^1].Position : JournalFormat.SegmentHeaderSize;
        _commit = commit;
        if (torn > 0 || keptBeyond > 0 || commit.Segment != active.Number || commit.End != active.Length)
        {
            _commit = new CommitPoint(commit.Sequence + 1, active.Number, active.Length, _records, _ordered.Count, [.. _partitions.Select(p => (long)p.Count)]);
            JournalFormatCommit.WriteFile(_commitFile!, _commit);
        }
        return new JournalRecovery(_segments.Count, _records, torn, keptBeyond, _lost, rebuilt, Stopwatch.GetElapsedTime(started));
    }

    private static int Extend(PositionList index, long end)
    {
        int holes = 0;
        while (index.Count < end)
        {
            index.Add(Hole);
            holes++;
        }
        return holes;
    }

    private bool SegmentIsEmpty(int number)
    {
        string path = System.IO.Path.Combine(DirectoryPath, JournalFormat.SegmentName(number));
        using IJournalFile file = _fs.Open(path, create: false);
        return file.Length <= JournalFormat.SegmentHeaderSize;
    }

    private JournalCorruptException Corrupt(params JournalDamage[] damage) => new(DirectoryPath, damage);

    // Index file: [magic 8][i32 version][i32 segment][i64 segment length][i32 count] entries [u32 CRC of all before]
    // entry: [i64 position][u8 kind][i32 partition][i64 offset][i64 sequence][i32 text bytes or -1][text]

    private string IndexPath(int number) => System.IO.Path.Combine(DirectoryPath, JournalFormat.IndexName(number));

    private void WriteIndex(Segment segment, List<IndexEntry> entries)
    {
        using var stream = new MemoryStream();
        using (var w = new BinaryWriter(stream, System.Text.Encoding.UTF8, leaveOpen: true))
        {
            w.Write(JournalFormat.IndexMagic);
            w.Write(JournalFormat.Version);
            w.Write(segment.Number);
            w.Write(segment.Length);
            w.Write(entries.Count);
            foreach (IndexEntry e in entries)
            {
                w.Write(e.Position);
                w.Write((byte)e.Kind);
                w.Write(e.Partition);
                w.Write(e.PartitionOffset);
                w.Write(e.Sequence);
                if (e.Text is null)
                {
                    w.Write(-1);
                }
                else
                {
                    byte[] text = System.Text.Encoding.UTF8.GetBytes(e.Text);
                    w.Write(text.Length);
                    w.Write(text);
                }
            }
        }
        byte[] bytes = new byte[stream.Length + 4];
        stream.GetBuffer().AsSpan(0, (int)stream.Length).CopyTo(bytes);
        BinaryPrimitives.WriteUInt32LittleEndian(bytes.AsSpan((int)stream.Length), Crc32.HashToUInt32(bytes.AsSpan(0, (int)stream.Length)));
        string path = IndexPath(segment.Number), temporary = path + ".tmp";
        using (IJournalFile file = _fs.Open(temporary, create: true))
        {
            file.SetLength(0);
            file.Write(bytes, 0);
            file.Flush();
        }
        _fs.Move(temporary, path);
        _fs.SyncDirectory(DirectoryPath);
    }

    /// <summary>The entries of a sealed segment's index, or null when it is missing, damaged or not this segment's.</summary>
    private List<IndexEntry>? TryLoadIndex(Segment segment)
    {
        string path = IndexPath(segment.Number);
        if (!_fs.Exists(path))
        {
            return null;
        }
        byte[] bytes;
        using (IJournalFile file = _fs.Open(path, create: false))
        {
            bytes = new byte[file.Length];
            if (file.Read(bytes, 0) != bytes.Length || bytes.Length < 32)
            {
                return null;
            }
        }
        if (BinaryPrimitives.ReadUInt32LittleEndian(bytes.AsSpan(bytes.Length - 4)) != Crc32.HashToUInt32(bytes.AsSpan(0, bytes.Length - 4))
            || !bytes.AsSpan(0, 8).SequenceEqual(JournalFormat.IndexMagic))
        {
            return null;
        }
        using var r = new BinaryReader(new MemoryStream(bytes, 8, bytes.Length - 12), System.Text.Encoding.UTF8);
        if (r.ReadInt32() != JournalFormat.Version || r.ReadInt32() != segment.Number || r.ReadInt64() != segment.File.Length)
        {
            return null;
        }
        int count = r.ReadInt32();
        var entries = new List<IndexEntry>(count);
        for (int i = 0; i < count; i++)
        {
            long position = r.ReadInt64();
            var kind = (RecordKind)r.ReadByte();
            int partition = r.ReadInt32();
            long offset = r.ReadInt64(), sequence = r.ReadInt64();
            int textLength = r.ReadInt32();
            string? text = textLength < 0 ? null : System.Text.Encoding.UTF8.GetString(r.ReadBytes(textLength));
            entries.Add(new IndexEntry(position, kind, partition, offset, sequence, text));
        }
        return entries;
    }
}
