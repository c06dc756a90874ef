using System.Collections;

namespace Sidep.Journal;

/// <summary>
/// An append-only list of journal positions held in chunks of 8,192 (64 KiB each, below the large-object heap's
/// threshold). A <see cref="List{T}"/> of a busy day's millions of positions is one array that doubles as it grows: on the
/// peak day the journal's and the matched topic's four lists held 132 MB of arrays for 74 MB of positions, each doubling
/// a new large object beside the old one until a full collection. Chunks are never copied and the last is the only one
/// partly empty.
/// </summary>
internal sealed class PositionList : IReadOnlyList<long>
{
    private const int Shift = 13;
    private const int ChunkLength = 1 << Shift;
    private const int Mask = ChunkLength - 1;

    private long[][] _chunks = new long[4][];
    private int _count;

    public int Count => _count;

    public long this[int index] => (uint)index < (uint)_count
        ? _chunks[index >> Shift][index & Mask]
        : throw new ArgumentOutOfRangeException(nameof(index), index, $"{_count} positions");

    public void Add(long position)
    {
        int chunk = _count >> Shift;
        if (chunk == _chunks.Length)
        {
            Array.Resize(ref _chunks, _chunks.Length * 2); // references only: 8 bytes a chunk of 64 KiB
        }
        (_chunks[chunk] ??= new long[ChunkLength])[_count & Mask] = position;
        _count++;
    }

    /// <summary>The positions from <paramref name="start"/> on, <paramref name="count"/> of them, copied out.</summary>
    public long[] Slice(int start, int count)
    {
        ArgumentOutOfRangeException.ThrowIfNegative(start);
        ArgumentOutOfRangeException.ThrowIfNegative(count);
        ArgumentOutOfRangeException.ThrowIfGreaterThan(start, _count - count);
        long[] slice = new long[count];
        for (int done = 0; done < count;)
        {
            int at = start + done;
            int length = Math.Min(count - done, ChunkLength - (at & Mask));
            Array.Copy(_chunks[at >> Shift], at & Mask, slice, done, length);
            done += length;
        }
        return slice;
    }

    public IEnumerator<long> GetEnumerator()
    {
        for (int i = 0; i < _count; i++)
        {
            yield return _chunks[i >> Shift][i & Mask];
        }
    }

    IEnumerator IEnumerable.GetEnumerator() => GetEnumerator();
}
