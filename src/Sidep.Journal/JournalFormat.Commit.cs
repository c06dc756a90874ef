using System.Buffers.Binary;
using System.IO.Hashing;

using Sidep.Pipeline;

namespace Sidep.Journal;

/// <summary>
/// The last acknowledged point of the journal: the end of the last group fsynced (segment, byte in it), how many records
/// lie before it, and the numbering reached (the next global sequence and each partition's next offset), so that a
/// journal whose tail was lost and moved aside goes on numbering after what was acknowledged, never under it.
/// <see cref="Sequence"/> numbers the commits: of the two slots, the newer whole one wins.
/// </summary>
internal sealed record CommitPoint(long Sequence, int Segment, long End, long Records, long Ordered, long[] PartitionEnds);

/// <summary>
/// Files of two slots written in turn in place — the slot a write's sequence picks — each sealed by the CRC-32 of its
/// bytes in its last four, so that a write torn by a crash leaves the other slot whole and the newer whole one is read
/// back: the journal's commit point (<see cref="JournalFormatCommit"/>) and a consumer group's positions
/// (<c>GroupPositions</c>).
/// </summary>
internal static class SealedSlots
{
    /// <summary>Where the slot of a write numbered <paramref name="sequence"/> starts.</summary>
    public static long Offset(long sequence, int stride) => (sequence & 1) * stride;

    /// <summary>Writes the CRC of the slot's bytes before its last four into them.</summary>
    public static void Seal(Span<byte> slot) => BinaryPrimitives.WriteUInt32LittleEndian(slot[^4..], Crc32.HashToUInt32(slot[..^4]));

    /// <summary>Whether the slot's last four bytes are the CRC of the bytes before them.</summary>
    public static bool IsSealed(ReadOnlySpan<byte> slot) => BinaryPrimitives.ReadUInt32LittleEndian(slot[^4..]) == Crc32.HashToUInt32(slot[..^4]);
}

internal static partial class JournalFormatCommit
{
    public const ulong Magic = 0x31544D4350454453; // "SDEPCMT1"
    public const int SlotStride = 4096;
    public const int MaxPartitions = (SlotStride - 48) / 8;

    public static int SlotSize(int partitions) => 8 + 8 + 4 + 8 + 8 + 8 + 4 + 8 * partitions + 4;

    public static void Write(Span<byte> slot, CommitPoint commit)
    {
        BinaryPrimitives.WriteUInt64LittleEndian(slot, Magic);
        BinaryPrimitives.WriteInt64LittleEndian(slot[8..], commit.Sequence);
        BinaryPrimitives.WriteInt32LittleEndian(slot[16..], commit.Segment);
        BinaryPrimitives.WriteInt64LittleEndian(slot[20..], commit.End);
        BinaryPrimitives.WriteInt64LittleEndian(slot[28..], commit.Records);
        BinaryPrimitives.WriteInt64LittleEndian(slot[36..], commit.Ordered);
        BinaryPrimitives.WriteInt32LittleEndian(slot[44..], commit.PartitionEnds.Length);
        int at = 48;
        foreach (long end in commit.PartitionEnds)
        {
            BinaryPrimitives.WriteInt64LittleEndian(slot[at..], end);
            at += 8;
        }
        SealedSlots.Seal(slot[..(at + 4)]);
    }

    public static CommitPoint? Read(ReadOnlySpan<byte> slot)
    {
        if (slot.Length < 52 || BinaryPrimitives.ReadUInt64LittleEndian(slot) != Magic)
        {
            return null;
        }
        int partitions = BinaryPrimitives.ReadInt32LittleEndian(slot[44..]);
        if (partitions is < 0 or > MaxPartitions || slot.Length < SlotSize(partitions))
        {
            return null;
        }
        if (!SealedSlots.IsSealed(slot[..SlotSize(partitions)]))
        {
            return null;
        }
        long[] ends = new long[partitions];
        for (int p = 0; p < partitions; p++)
        {
            ends[p] = BinaryPrimitives.ReadInt64LittleEndian(slot[(48 + 8 * p)..]);
        }
        return new CommitPoint(BinaryPrimitives.ReadInt64LittleEndian(slot[8..]), BinaryPrimitives.ReadInt32LittleEndian(slot[16..]),
            BinaryPrimitives.ReadInt64LittleEndian(slot[20..]), BinaryPrimitives.ReadInt64LittleEndian(slot[28..]),
            BinaryPrimitives.ReadInt64LittleEndian(slot[36..]), ends);
    }

    /// <summary>The newer whole slot of a commit file, or null when neither is whole.</summary>
    public static CommitPoint? ReadFile(IJournalFile file)
    {
        byte[] buffer = new byte[SlotStride * 2];
        int read = file.Read(buffer, 0);
        CommitPoint? a = read >= 52 ? Read(buffer.AsSpan(0, Math.Min(read, SlotStride))) : null;
        CommitPoint? b = read > SlotStride ? Read(buffer.AsSpan(SlotStride, read - SlotStride)) : null;
        return a is null ? b : b is null ? a : a.Sequence >= b.Sequence ? a : b;
    }

    /// <summary>Writes the commit into the slot its sequence picks, and fsyncs.</summary>
    public static void WriteFile(IJournalFile file, CommitPoint commit)
    {
        byte[] slot = new byte[SlotSize(commit.PartitionEnds.Length)];
        Write(slot, commit);
        file.Write(slot, SealedSlots.Offset(commit.Sequence, SlotStride));
        file.Flush();
    }
}
