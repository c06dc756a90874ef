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

    /// <summary>Line (1-based) of a byte offset: line feeds counted, or carriage returns in a file that has no line feed
    /// before the offset. Computed only for problems.</summary>
    public static int LineOf(ReadOnlySpan<byte> input, int offset)
    {
        ReadOnlySpan<byte> before = input[..Math.Clamp(offset, 0, input.Length)];
        int feeds = before.Count((byte)'\n');
        return 1 + (feeds > 0 ? feeds : before.Count((byte)'\r'));
    }
}
