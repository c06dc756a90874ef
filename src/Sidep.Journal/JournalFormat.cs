using System.Buffers.Binary;
using System.IO.Hashing;
using System.Text;

using Sidep.Pipeline;

namespace Sidep.Journal;

/// <summary>
/// The journal's on-disk layout, owned here and nowhere else.
/// <para>A segment file (<c>NNNNNNNNNN.seg</c>, numbered from 0) starts with a header (magic, format version, its
/// number) and holds records back to back. A record is recognisable anywhere in a damaged file:
/// <c>[u32 magic][u32 body length][u32 CRC-32 of length and body]</c> then the body
/// <c>[u8 kind][i32 partition][i64 partition offset][i64 sequence][u16 key length][key UTF-8][payload]</c>.
/// Results carry their own partition offset and global sequence, so the numbering of every record survives a damaged
/// range moved aside: a gap reads as <see cref="RecordKind.Lost"/>, nothing after it is renumbered.</para>
/// <para>The commit file holds the last acknowledged point (<see cref="JournalFormatCommit"/>).</para>
/// <para>A sealed segment's index (<c>NNNNNNNNNN.idx</c>) lists what start-up needs of each record (position, kind,
/// partition, offset, sequence, and the key of submissions and quarantined results), so start-up does not read a
/// month of records; it is rebuilt from the segment when missing or damaged.</para>
/// </summary>
internal static class JournalFormat
{
    public const uint RecordMagic = 0x01EB1DE5;
    public const int RecordHeaderSize = 12;
    public const int BodyFixedSize = 1 + 4 + 8 + 8 + 2;
    public const int MaxBodyBytes = 64 * 1024 * 1024;

    public static ReadOnlySpan<byte> SegmentMagic => "SIDEPJN1"u8;
    public const int SegmentHeaderSize = 32;
    public const int Version = 1;

    public static ReadOnlySpan<byte> IndexMagic => "SIDEPIX1"u8;

    public static string SegmentName(int number) => number.ToString("D10", System.Globalization.CultureInfo.InvariantCulture) + ".seg";

    public static string IndexName(int number) => number.ToString("D10", System.Globalization.CultureInfo.InvariantCulture) + ".idx";

    public static bool TryParseSegmentName(string fileName, out int number) =>
        int.TryParse(System.IO.Path.GetFileNameWithoutExtension(fileName), System.Globalization.NumberStyles.None, System.Globalization.CultureInfo.InvariantCulture, out number);

    /// <summary>A journal position: the segment number in the high bits, the byte in the segment in the low 40.</summary>
    public static long Position(int segment, long local) => ((long)segment << 40) | local;

    public static int SegmentOf(long position) => (int)(position >> 40);

    public static long LocalOf(long position) => position & ((1L << 40) - 1);

    public static void WriteSegmentHeader(Span<byte> header, int number)
    {
        header.Clear();
        SegmentMagic.CopyTo(header);
        BinaryPrimitives.WriteInt32LittleEndian(header[8..], Version);
        BinaryPrimitives.WriteInt32LittleEndian(header[12..], number);
        BinaryPrimitives.WriteUInt32LittleEndian(header[28..], Crc32.HashToUInt32(header[..28]));
    }

    /// <summary>Null when the header is whole and names this segment; else what is wrong with it.</summary>
    public static string? CheckSegmentHeader(ReadOnlySpan<byte> header, int number)
    {
        if (header.Length < SegmentHeaderSize)
        {
            return "the segment header is cut short";
        }
        if (!header[..8].SequenceEqual(SegmentMagic) || BinaryPrimitives.ReadUInt32LittleEndian(header[28..]) != Crc32.HashToUInt32(header[..28]))
        {
            return "the segment header is damaged";
        }
        int version = BinaryPrimitives.ReadInt32LittleEndian(header[8..]);
        if (version != Version)
        {
            return $"the segment is of format {version}, this Sidep reads format {Version}";
        }
        int named = BinaryPrimitives.ReadInt32LittleEndian(header[12..]);
        return named == number ? null : $"the segment header says segment {named}";
    }

    public static int EncodedSize(in LogRecord record, int keyBytes) => RecordHeaderSize + BodyFixedSize + keyBytes + record.Payload.Length;

    /// <summary>Writes a record (header and body) into <paramref name="destination"/>; returns its size.</summary>
    public static int Encode(in LogRecord record, long partitionOffset, long sequence, Span<byte> destination)
    {
        Span<byte> body = destination[RecordHeaderSize..];
        body[0] = (byte)record.Kind;
        BinaryPrimitives.WriteInt32LittleEndian(body[1..], record.Partition);
        BinaryPrimitives.WriteInt64LittleEndian(body[5..], partitionOffset);
        BinaryPrimitives.WriteInt64LittleEndian(body[13..], sequence);
        int keyBytes = Encoding.UTF8.GetBytes(record.Key, body[BodyFixedSize..]);
        BinaryPrimitives.WriteUInt16LittleEndian(body[21..], (ushort)keyBytes);
        record.Payload.Span.CopyTo(body[(BodyFixedSize + keyBytes)..]);
        int bodyLength = BodyFixedSize + keyBytes + record.Payload.Length;
        Seal(destination, bodyLength);
        return RecordHeaderSize + bodyLength;
    }

    /// <summary>The smallest record: a padding record of one byte of body.</summary>
    public const int MinRecordSize = RecordHeaderSize + 1;

    /// <summary>A record that only fills the destination's bytes (where journal repair moved a damaged range aside): its
    /// body is the kind byte and zeros.</summary>
    public static void EncodePadding(Span<byte> destination)
    {
        destination.Clear();
        destination[RecordHeaderSize] = (byte)RecordKind.Padding;
        Seal(destination, destination.Length - RecordHeaderSize);
    }

    private static void Seal(Span<byte> record, int bodyLength)
    {
        BinaryPrimitives.WriteUInt32LittleEndian(record, RecordMagic);
        BinaryPrimitives.WriteInt32LittleEndian(record[4..], bodyLength);
        var crc = new Crc32();
        crc.Append(record.Slice(4, 4));
        crc.Append(record.Slice(RecordHeaderSize, bodyLength));
        BinaryPrimitives.WriteUInt32LittleEndian(record[8..], crc.GetCurrentHashAsUInt32());
    }

    /// <summary>The body length a record header announces, or -1 when the header is not a record's (bad magic or length).</summary>
    public static int BodyLength(ReadOnlySpan<byte> header)
    {
        if (header.Length < RecordHeaderSize || BinaryPrimitives.ReadUInt32LittleEndian(header) != RecordMagic)
        {
            return -1;
        }
        int length = BinaryPrimitives.ReadInt32LittleEndian(header[4..]);
        return length is >= 1 and <= MaxBodyBytes ? length : -1;
    }

    /// <summary>Whether a whole record (header and body) checks against its CRC.</summary>
    public static bool Verify(ReadOnlySpan<byte> record)
    {
        int length = BodyLength(record);
        if (length < 0 || record.Length < RecordHeaderSize + length)
        {
            return false;
        }
        var crc = new Crc32();
        crc.Append(record.Slice(4, 4));
        crc.Append(record.Slice(RecordHeaderSize, length));
        return crc.GetCurrentHashAsUInt32() == BinaryPrimitives.ReadUInt32LittleEndian(record[8..]);
    }

    /// <summary>The fields of a record's body (the body only, after the header); a padding record's are empty.</summary>
    public static RecordHead Head(ReadOnlySpan<byte> body)
    {
        if (body.Length < BodyFixedSize || (RecordKind)body[0] == RecordKind.Padding)
        {
            return new RecordHead(RecordKind.Padding, -1, -1, -1, 0);
        }
        int keyLength = BinaryPrimitives.ReadUInt16LittleEndian(body[21..]);
        return new RecordHead((RecordKind)body[0], BinaryPrimitives.ReadInt32LittleEndian(body[1..]), BinaryPrimitives.ReadInt64LittleEndian(body[5..]),
            BinaryPrimitives.ReadInt64LittleEndian(body[13..]), keyLength);
    }

    public static string Key(ReadOnlySpan<byte> body, in RecordHead head) => Encoding.UTF8.GetString(body.Slice(BodyFixedSize, Math.Min(head.KeyLength, body.Length - BodyFixedSize)));

    public static ReadOnlyMemory<byte> Payload(ReadOnlyMemory<byte> body, in RecordHead head) => body[(BodyFixedSize + head.KeyLength)..];
}

/// <summary>A record's fixed fields.</summary>
internal readonly record struct RecordHead(RecordKind Kind, int Partition, long PartitionOffset, long Sequence, int KeyLength);
