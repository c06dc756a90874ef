using System.Buffers;

using Sidep.Pipeline;

namespace Sidep.Journal;

/// <summary>A range of a segment file that holds no valid record: from a record that fails its check to the next one
/// that passes (or the end of the file).</summary>
/// <param name="Offset">Byte in the segment file where the damage starts.</param>
/// <param name="Length">Bytes up to the next valid record (or the file's end).</param>
/// <param name="Reason">What is wrong at <paramref name="Offset"/>.</param>
/// <param name="ToEnd">No valid record follows it in the file.</param>
public readonly record struct DamagedRange(long Offset, long Length, string Reason, bool ToEnd);

/// <summary>
/// Reads a segment file from its header to its end, record by record, checking each against its CRC; past a record that
/// fails, resynchronises on the next one that passes (records start with a magic number), so that everything intact on
/// either side of damage is found.
/// </summary>
internal static class SegmentScan
{
    private const int ChunkBytes = 1 << 20;

    /// <summary>A record found: where it starts in the file, its fixed fields, and its body (valid during the call).</summary>
    public delegate void OnRecord(long offset, in RecordHead head, ReadOnlySpan<byte> body);

    /// <returns>The damaged ranges, in file order (the header's, at offset 0, when it is damaged).</returns>
    public static List<DamagedRange> Run(IJournalFile file, int number, OnRecord onRecord, long stopAt = long.MaxValue)
    {
        var damage = new List<DamagedRange>();
        long length = Math.Min(file.Length, stopAt);
        byte[] header = new byte[JournalFormat.SegmentHeaderSize];
        int headerRead = file.Read(header, 0);
        if (JournalFormat.CheckSegmentHeader(header.AsSpan(0, headerRead), number) is string headerProblem)
        {
            if (length == 0)
            {
                return damage;
            }
            long resync = Resync(file, 1, length);
            damage.Add(new DamagedRange(0, Math.Max(resync, Math.Min(length, JournalFormat.SegmentHeaderSize)), headerProblem, resync >= length));
            if (resync >= length)
            {
                return damage;
            }
        }
        byte[] chunk = ArrayPool<byte>.Shared.Rent(ChunkBytes);
        try
        {
            long chunkStart = 0;
            int chunkLength = 0;
            long position = damage.Count > 0 ? damage[0].Offset + damage[0].Length : JournalFormat.SegmentHeaderSize;
            while (position < length)
            {
                // The record's header, then its whole body, in the chunk (refilled from the record's start when needed).
                if (position + JournalFormat.RecordHeaderSize > chunkStart + chunkLength)
                {
                    (chunkStart, chunkLength) = (position, file.Read(chunk.AsSpan(0, (int)Math.Min(chunk.Length, length - position)), position));
                }
                int bodyLength = position + JournalFormat.RecordHeaderSize <= chunkStart + chunkLength
                    ? JournalFormat.BodyLength(chunk.AsSpan((int)(position - chunkStart)))
                    : -1;
                string? problem = bodyLength < 0
                    ? (position + JournalFormat.RecordHeaderSize > length ? "the file ends inside a record's header" : "no record header here (bad magic or length)")
                    : position + JournalFormat.RecordHeaderSize + bodyLength > length ? "the file ends inside a record" : null;
                if (problem is null)
                {
                    int size = JournalFormat.RecordHeaderSize + bodyLength;
                    if (position + size > chunkStart + chunkLength)
                    {
                        if (size > chunk.Length)
                        {
                            ArrayPool<byte>.Shared.Return(chunk);
                            chunk = ArrayPool<byte>.Shared.Rent(size);
                        }
                        (chunkStart, chunkLength) = (position, file.Read(chunk.AsSpan(0, (int)Math.Min(chunk.Length, length - position)), position));
                    }
                    ReadOnlySpan<byte> record = chunk.AsSpan((int)(position - chunkStart), Math.Min(size, chunkLength - (int)(position - chunkStart)));
                    if (record.Length < size)
                    {
                        problem = "the file ends inside a record";
                    }
                    else if (!JournalFormat.Verify(record))
                    {
                        problem = "the record fails its checksum";
                    }
                    else
                    {
                        ReadOnlySpan<byte> body = record[JournalFormat.RecordHeaderSize..];
                        onRecord(position, JournalFormat.Head(body), body);
                        position += size;
                        continue;
                    }
                }
                long next = Resync(file, position + 1, length);
                damage.Add(new DamagedRange(position, next - position, problem, next >= length));
                position = next;
                chunkLength = 0;
            }
        }
        finally
        {
            ArrayPool<byte>.Shared.Return(chunk);
        }
        return damage;
    }

    /// <summary>Checks the records that fill [<paramref name="from"/>, <paramref name="to"/>) exactly, reading them from the
    /// file; returns null when they all pass, else where the first one fails and why.</summary>
    public static (long Offset, string Reason)? Check(IJournalFile file, long from, long to)
    {
        for (long position = from; position < to;)
        {
            int size = ValidRecordSize(file, position, to);
            if (size < 0)
            {
                return (position, "no whole record that passes its checksum here");
            }
            position += size;
        }
        return null;
    }

    /// <summary>The first offset at or after <paramref name="from"/> where a whole valid record starts, or <paramref name="length"/>.</summary>
    public static long Resync(IJournalFile file, long from, long length)
    {
        Span<byte> magic = stackalloc byte[4];
        System.Buffers.Binary.BinaryPrimitives.WriteUInt32LittleEndian(magic, JournalFormat.RecordMagic);
        byte[] window = ArrayPool<byte>.Shared.Rent(ChunkBytes);
        try
        {
            long start = from;
            while (start < length)
            {
                int read = file.Read(window.AsSpan(0, (int)Math.Min(ChunkBytes, length - start)), start);
                if (read < 4)
                {
                    break;
                }
                int at = 0;
                while (true)
                {
                    int found = window.AsSpan(at, read - at).IndexOf(magic);
                    if (found < 0)
                    {
                        break;
                    }
                    long candidate = start + at + found;
                    if (ValidRecordSize(file, candidate, length) > 0)
                    {
                        return candidate;
                    }
                    at += found + 1;
                }
                start += read - 3; // a magic split across two windows is found in the next one
            }
            return length;
        }
        finally
        {
            ArrayPool<byte>.Shared.Return(window);
        }
    }

    /// <summary>The size of the whole, valid record at <paramref name="position"/> ending before <paramref name="limit"/>,
    /// read from the file; -1 when there is none.</summary>
    private static int ValidRecordSize(IJournalFile file, long position, long limit)
    {
        Span<byte> header = stackalloc byte[JournalFormat.RecordHeaderSize];
        if (file.Read(header, position) < header.Length)
        {
            return -1;
        }
        int bodyLength = JournalFormat.BodyLength(header);
        if (bodyLength < 0 || position + JournalFormat.RecordHeaderSize + bodyLength > limit)
        {
            return -1;
        }
        int size = JournalFormat.RecordHeaderSize + bodyLength;
        byte[] record = ArrayPool<byte>.Shared.Rent(size);
        try
        {
            return file.Read(record.AsSpan(0, size), position) == size && JournalFormat.Verify(record.AsSpan(0, size)) ? size : -1;
        }
        finally
        {
            ArrayPool<byte>.Shared.Return(record);
        }
    }

    /// <summary>What a damaged range held, as far as its bytes still tell: the kind and key of each record whose header
    /// survives (its checksum failing or not), for the list of what labs must be asked to resend.</summary>
    public static List<(RecordKind Kind, string Key)> Salvage(ReadOnlySpan<byte> damaged)
    {
        var found = new List<(RecordKind, string)>();
        Span<byte> magic = stackalloc byte[4];
        System.Buffers.Binary.BinaryPrimitives.WriteUInt32LittleEndian(magic, JournalFormat.RecordMagic);
        int at = 0;
        while (at + JournalFormat.RecordHeaderSize + JournalFormat.BodyFixedSize <= damaged.Length)
        {
            int found1 = damaged[at..].IndexOf(magic);
            if (found1 < 0)
            {
                break;
            }
            at += found1;
            ReadOnlySpan<byte> rest = damaged[at..];
            int bodyLength = JournalFormat.BodyLength(rest);
            if (bodyLength >= JournalFormat.BodyFixedSize && rest.Length >= JournalFormat.RecordHeaderSize + JournalFormat.BodyFixedSize)
            {
                ReadOnlySpan<byte> body = rest[JournalFormat.RecordHeaderSize..];
                RecordHead head = JournalFormat.Head(body);
                if (Enum.IsDefined(head.Kind) && head.Kind != RecordKind.Padding && head.KeyLength <= body.Length - JournalFormat.BodyFixedSize)
                {
                    found.Add((head.Kind, JournalFormat.Key(body, head)));
                }
            }
            at += 4;
        }
        return found;
    }
}
