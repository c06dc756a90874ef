using System.Numerics;
using System.Runtime.CompilerServices;
using System.Runtime.InteropServices;
using System.Runtime.Intrinsics;

namespace Sidep.Parsing.Internals;

[InlineArray(Capacity)]
internal struct FieldStarts
{
    public const int Capacity = 64;
    private int _element;
}

/// <summary>One segment, read in place. Field n of a segment is what follows the n-th field separator;
/// for MSH, field 1 is the separator itself and field 2 the encoding characters, as in the standard.</summary>
internal ref struct Hl7Segment
{
    private readonly ReadOnlySpan<byte> _bytes;
    private readonly Hl7Delimiters _delimiters;
    private FieldStarts _starts;
    private readonly int _fieldCount;
    private readonly bool _isMsh;

    public Hl7Segment(ReadOnlySpan<byte> bytes, in Hl7Delimiters delimiters, long offset, int line)
    {
        _bytes = bytes;
        _delimiters = delimiters;
        Offset = offset;
        Line = line;
        _isMsh = bytes.StartsWith("MSH"u8) || bytes.StartsWith("FHS"u8) || bytes.StartsWith("BHS"u8);
        Unsafe.SkipInit(out _starts);
        int count = IndexSeparators(bytes, delimiters.Field, ref _starts);
        _fieldCount = count;
    }

    /// <summary>Records where each field starts (just after each separator), up to <see cref="FieldStarts.Capacity"/>,
    /// comparing 16 bytes at a time (accelerated on every x64 and Arm64 machine), then byte by byte for the tail.</summary>
    private static int IndexSeparators(ReadOnlySpan<byte> bytes, byte separator, ref FieldStarts starts)
    {
        int count = 0;
        int i = 0;
        ref byte start = ref MemoryMarshal.GetReference(bytes);
        Vector128<byte> sep = Vector128.Create(separator);
        for (; i + Vector128<byte>.Count <= bytes.Length; i += Vector128<byte>.Count)
        {
            uint mask = Vector128.Equals(Vector128.LoadUnsafe(ref start, (nuint)i), sep).ExtractMostSignificantBits();
            for (; mask != 0; mask &= mask - 1)
            {
                starts[count++] = i + BitOperations.TrailingZeroCount(mask) + 1;
                if (count == FieldStarts.Capacity)
                {
                    return count;
                }
            }
        }
        for (; i < bytes.Length && count < FieldStarts.Capacity; i++)
        {
            if (bytes[i] == separator)
            {
                starts[count++] = i + 1;
            }
        }
        return count;
    }

    public readonly ReadOnlySpan<byte> Bytes => _bytes;
    public readonly long Offset { get; }
    public readonly int Line { get; }
    public readonly ReadOnlySpan<byte> Id => _bytes.Length >= 3 ? _bytes[..3] : _bytes;
    public readonly bool Is(ReadOnlySpan<byte> id) => _bytes.Length >= 3 && _bytes[..3].SequenceEqual(id) && (_bytes.Length == 3 || _bytes[3] == _delimiters.Field);

    /// <summary>Field <paramref name="n"/> (1-based) with its offset from the start of the segment; empty when absent.</summary>
    public readonly ReadOnlySpan<byte> Field(int n, out int offset)
    {
        ReadOnlySpan<byte> bytes = _bytes;
        if (_isMsh)
        {
            if (n == 1)
            {
                offset = 3;
                return _bytes.Slice(3, 1);
            }
            n--; // MSH-2 follows the first separator
        }
        if (n < 1)
        {
            offset = 0;
            return default;
        }
        int start;
        if (n <= _fieldCount)
        {
            start = _starts[n - 1];
        }
        else if (_fieldCount < FieldStarts.Capacity)
        {
            offset = _bytes.Length;
            return default;
        }
        else
        {
            start = _starts[FieldStarts.Capacity - 1];
            for (int i = FieldStarts.Capacity; i < n; i++)
            {
                int next = _bytes[start..].IndexOf(_delimiters.Field);
                if (next < 0)
                {
                    offset = _bytes.Length;
                    return default;
                }
                start += next + 1;
            }
        }
        offset = start;
        if (n < _fieldCount)
        {
            return bytes[start..(_starts[n] - 1)];
        }
        ReadOnlySpan<byte> rest = bytes[start..];
        int end = rest.IndexOf(_delimiters.Field);
        return end < 0 ? rest : rest[..end];
    }

    public readonly ReadOnlySpan<byte> Field(int n) => Field(n, out _);

    /// <summary>Component <paramref name="c"/> (1-based) of the first repetition of field <paramref name="n"/>.</summary>
    public readonly ReadOnlySpan<byte> Component(int n, int c) => Hl7Spans.Component(Hl7Spans.FirstRepetition(Field(n), _delimiters), c, _delimiters);
}

[InlineArray(Capacity)]
internal struct ComponentEnds
{
    public const int Capacity = 16;
    private int _element;
}

/// <summary>The components of one repetition, found in one pass: component c (1-based) is then a slice, where
/// <see cref="Hl7Spans.Component"/> searches from the start each time (nine searches for XAD-9, read after XAD-7).
/// Past the first <see cref="ComponentEnds.Capacity"/> components it searches on from the last one found.</summary>
internal ref struct Hl7Components
{
    private readonly ReadOnlySpan<byte> _value;
    private readonly byte _separator;
    private ComponentEnds _ends;
    private readonly int _count;

    public Hl7Components(ReadOnlySpan<byte> value, byte separator)
    {
        _value = value;
        _separator = separator;
        Unsafe.SkipInit(out _ends);
        int count = 0, from = 0;
        while (count < ComponentEnds.Capacity)
        {
            int next = value[from..].IndexOf(separator);
            if (next < 0)
            {
                _ends[count++] = value.Length;
                break;
            }
            _ends[count++] = from + next;
            from += next + 1;
        }
        _count = count;
    }

    /// <summary>Component <paramref name="c"/> (1-based); empty when absent, as <see cref="Hl7Spans.Component"/>.</summary>
    public readonly ReadOnlySpan<byte> this[int c]
    {
        get
        {
            if (c < 1)
            {
                return default;
            }
            if (c <= _count)
            {
                return _value[(c == 1 ? 0 : _ends[c - 2] + 1).._ends[c - 1]];
            }
            int last = _ends[_count - 1];
            return last == _value.Length ? default : Hl7Spans.Piece(_value[(last + 1)..], c - _count, _separator);
        }
    }
}

internal static class Hl7Spans
{
    public static ReadOnlySpan<byte> FirstRepetition(ReadOnlySpan<byte> field, Hl7Delimiters d)
    {
        int end = field.IndexOf(d.Repetition);
        return end < 0 ? field : field[..end];
    }

    /// <summary>Piece <paramref name="index"/> (1-based) of <paramref name="value"/> split on <paramref name="separator"/>.</summary>
    public static ReadOnlySpan<byte> Piece(ReadOnlySpan<byte> value, int index, byte separator)
    {
        for (int i = 1; i < index; i++)
        {
            int next = value.IndexOf(separator);
            if (next < 0)
            {
                return default;
            }
            value = value[(next + 1)..];
        }
        int end = value.IndexOf(separator);
        return end < 0 ? value : value[..end];
    }

    public static ReadOnlySpan<byte> Component(ReadOnlySpan<byte> repetition, int c, Hl7Delimiters d) => Piece(repetition, c, d.Component);

    public static ReadOnlySpan<byte> SubComponent(ReadOnlySpan<byte> component, int s, Hl7Delimiters d) => Piece(component, s, d.SubComponent);

    /// <summary>Iterates the repetitions of a field without allocating.</summary>
    public ref struct RepetitionEnumerator
    {
        private ReadOnlySpan<byte> _rest;
        private readonly byte _separator;
        private bool _done;

        public RepetitionEnumerator(ReadOnlySpan<byte> field, byte separator)
        {
            _rest = field;
            _separator = separator;
            _done = field.IsEmpty;
            Current = default;
        }

        public ReadOnlySpan<byte> Current { get; private set; }

        public readonly RepetitionEnumerator GetEnumerator() => this;

        public bool MoveNext()
        {
            if (_done)
            {
                return false;
            }
            int end = _rest.IndexOf(_separator);
            if (end < 0)
            {
                Current = _rest;
                _done = true;
            }
            else
            {
                Current = _rest[..end];
                _rest = _rest[(end + 1)..];
            }
            return true;
        }
    }

    public static RepetitionEnumerator Repetitions(ReadOnlySpan<byte> field, Hl7Delimiters d) => new(field, d.Repetition);
}
