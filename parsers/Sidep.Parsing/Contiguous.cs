using System.Buffers;

namespace Sidep.Parsing;

/// <summary>Parses a span; used to hand a contiguous view of a pipe's buffers to a span parser.</summary>
public delegate T SpanParser<T>(ReadOnlySpan<byte> input);

public static class Contiguous
{
    /// <summary>Parses <paramref name="input"/> in place when it lies in one buffer segment; otherwise copies it once
    /// into pooled memory, parses that, and returns the memory to the pool.</summary>
    public static T Parse<T>(in ReadOnlySequence<byte> input, SpanParser<T> parse)
    {
        if (input.IsSingleSegment)
        {
            return parse(input.FirstSpan);
        }
        int length = checked((int)input.Length);
        byte[] rented = ArrayPool<byte>.Shared.Rent(length);
        try
        {
            input.CopyTo(rented);
            return parse(rented.AsSpan(0, length));
        }
        finally
        {
            ArrayPool<byte>.Shared.Return(rented);
        }
    }

    /// <summary>The UTF-8 byte order mark, as bytes (in a u8 string literal "\xEF" is the character U+00EF, two bytes in
    /// UTF-8: a mark written so never matched, and a file that began with one was refused).</summary>
    public static ReadOnlySpan<byte> Utf8Bom => [0xEF, 0xBB, 0xBF];

    /// <summary>Line (1-based) of a byte offset: line feeds counted, or carriage returns in a file that has no line feed
    /// before the offset. Computed only for problems.</summary>
    public static int LineOf(ReadOnlySpan<byte> input, int offset) => new LineCounter().LineOf(input, offset);
}

/// <summary>
/// The lines of many offsets in one input, as <see cref="Contiguous.LineOf"/> counts them, for a reader that asks for
/// every item's position as it advances: each call counts only the bytes between it and the previous offset, so the
/// positions of a whole input read in order cost one pass over it (counting from the start for each, a bundle of n
/// results cost n passes).
/// </summary>
public struct LineCounter
{
    private int _offset, _feeds, _returns;

    /// <summary>Bytes counted so far (for the linearity test: one pass over what was asked).</summary>
    public long Scanned { get; private set; }

    public int LineOf(ReadOnlySpan<byte> input, int offset)
    {
        offset = Math.Clamp(offset, 0, input.Length);
        // Forward: the bytes since the previous offset are added; back (a field before the one asked last): the bytes
        // between are taken off. Either way, only the distance is read.
        int sign = offset >= _offset ? 1 : -1;
        ReadOnlySpan<byte> between = sign > 0 ? input[_offset..offset] : input[offset.._offset];
        _feeds += sign * between.Count((byte)'\n');
        _returns += sign * between.Count((byte)'\r');
        Scanned += between.Length;
        _offset = offset;
        return 1 + (_feeds > 0 ? _feeds : _returns);
    }
}
