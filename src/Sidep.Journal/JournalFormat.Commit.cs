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
        BinaryPrimitives.WriteUInt32LittleEndian(slot[at..], Crc32.HashToUInt32(slot[..at]));
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
        int at = 48 + 8 * partitions;
        if (BinaryPrimitives.ReadUInt32LittleEndian(slot[at..]) != Crc32.HashToUInt32(slot[..at]))
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
        file.Write(slot, (commit.Sequence & 1) * SlotStride);
        file.Flush();
    }
}
