namespace Sidep.Parsing.Internals;

/// <summary>Enumerates the lines (segments) of a span: CR, LF or CRLF ends, each line with its offset and
/// 1-based line number. Blank lines count as lines, so line numbers match what an editor shows.</summary>
internal ref struct Hl7Lines
{
    private readonly ReadOnlySpan<byte> _input;
    private int _next;

    public Hl7Lines(ReadOnlySpan<byte> input, int start, int firstLine)
    {
        _input = input;
        _next = start;
        Line = firstLine - 1;
    }

    public ReadOnlySpan<byte> Current { get; private set; }

    /// <summary>Offset of <see cref="Current"/> in the input.</summary>
    public int Offset { get; private set; }

    public int Line { get; private set; }

    public readonly Hl7Lines GetEnumerator() => this;

    public bool MoveNext()
    {
        if (_next >= _input.Length)
        {
            return false;
        }
        Offset = _next;
        Line++;
        ReadOnlySpan<byte> rest = _input[_next..];
        int end = rest.IndexOfAny((byte)'\r', (byte)'\n');
        if (end < 0)
        {
            Current = rest;
            _next = _input.Length;
            return true;
        }
        Current = rest[..end];
        bool crlf = rest[end] == (byte)'\r' && end + 1 < rest.Length && rest[end + 1] == (byte)'\n';
        _next += end + (crlf ? 2 : 1);
        return true;
    }
}
