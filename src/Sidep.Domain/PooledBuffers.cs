using System.Buffers;

namespace Sidep.Domain;

/// <summary>Buffers rented from the shared array pool that grow as they are written (the content hash's layout, the
/// binary records, the compressed submission records).</summary>
public static class PooledBuffers
{
    /// <summary>Makes <paramref name="buffer"/> hold at least <paramref name="needed"/> bytes, keeping its first
    /// <paramref name="kept"/>: a larger array is rented (at least twice the size), and the old one returned.</summary>
    public static void Grow(ref byte[] buffer, int kept, int needed)
    {
        if (needed <= buffer.Length)
        {
            return;
        }
        byte[] larger = ArrayPool<byte>.Shared.Rent(Math.Max(checked(buffer.Length * 2), needed));
        buffer.AsSpan(0, kept).CopyTo(larger);
        ArrayPool<byte>.Shared.Return(buffer);
        buffer = larger;
    }
}
