using System.Collections;
using Sidep.Domain;

namespace Sidep.Journal;

/// <summary>
/// An append-only list of journal positions, in chunks (<see cref="ChunkedArray{T}"/>). A <see cref="List{T}"/> of a
/// busy day's millions of positions is one array that doubles as it grows: on the peak day the journal's and the matched
/// topic's four lists held 132 MB of arrays for 74 MB of positions, each doubling a new large object beside the old one
/// until a full collection.
/// </summary>
internal sealed class PositionList : IReadOnlyList<long>
{
    private readonly ChunkedArray<long> _positions = new();
    private int _count;

    public int Count => _count;

    public long this[int index] => (uint)index < (uint)_count
        ? _positions[index]
        : throw new ArgumentOutOfRangeException(nameof(index), index, $"{_count} positions");

    public void Add(long position)
    {
        _positions.Grow(_count + 1);
        _positions[_count++] = position;
    }

    /// <summary>The positions from <paramref name="start"/> on, <paramref name="count"/> of them, copied out.</summary>
    public long[] Slice(int start, int count)
    {
        ArgumentOutOfRangeException.ThrowIfNegative(start);
        ArgumentOutOfRangeException.ThrowIfNegative(count);
        ArgumentOutOfRangeException.ThrowIfGreaterThan(start, _count - count);
        long[] slice = new long[count];
        _positions.CopyTo(start, slice);
        return slice;
    }

    public IEnumerator<long> GetEnumerator()
    {
        for (int i = 0; i < _count; i++)
        {
            yield return _positions[i];
        }
    }

    IEnumerator IEnumerable.GetEnumerator() => GetEnumerator();
}
