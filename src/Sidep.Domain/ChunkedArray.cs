using System.Runtime.CompilerServices;

namespace Sidep.Domain;

/// <summary>
/// An array of millions of structs held in chunks of at most 64 KiB (below the large-object heap's threshold), grown by
/// adding chunks: never copied, never one large object that doubles beside the old one until a full collection (a peak
/// day's 2 million persons were one 96 MB array). Elements are reached by reference.
/// </summary>
public sealed class ChunkedArray<T> where T : struct
{
    private static readonly int s_shift = ShiftFor(Unsafe.SizeOf<T>());
    private static readonly int s_mask = (1 << s_shift) - 1;

    private T[][] _chunks = [];
    private int _allocated;

    /// <summary>Elements that can be reached (a whole number of chunks).</summary>
    public int Capacity => _allocated << s_shift;

    /// <summary>The element at <paramref name="index"/> (below <see cref="Capacity"/>), by reference.</summary>
    public ref T this[int index] => ref _chunks[index >> s_shift][index & s_mask];

    /// <summary>Adds chunks until <paramref name="capacity"/> elements can be reached.</summary>
    public void Grow(int capacity)
    {
        int needed = (int)(((long)capacity + s_mask) >> s_shift);
        if (needed <= _allocated)
        {
            return;
        }
        if (needed > _chunks.Length)
        {
            Array.Resize(ref _chunks, Math.Max(needed, _chunks.Length * 2)); // references only: 8 bytes a chunk
        }
        for (; _allocated < needed; _allocated++)
        {
            _chunks[_allocated] = new T[1 << s_shift]; // only the chunks asked for: memory follows the count
        }
    }

    /// <summary>Copies the elements from <paramref name="start"/> on into <paramref name="destination"/> (all within
    /// <see cref="Capacity"/>).</summary>
    public void CopyTo(int start, Span<T> destination)
    {
        for (int done = 0; done < destination.Length;)
        {
            int at = start + done;
            int length = Math.Min(destination.Length - done, (1 << s_shift) - (at & s_mask));
            _chunks[at >> s_shift].AsSpan(at & s_mask, length).CopyTo(destination[done..]);
            done += length;
        }
    }

    /// <summary>The largest power of two of elements whose chunk stays within 64 KiB (at least one element).</summary>
    private static int ShiftFor(int size)
    {
        int shift = 0;
        while ((2L << shift) * size <= 64 * 1024)
        {
            shift++;
        }
        return shift;
    }
}
