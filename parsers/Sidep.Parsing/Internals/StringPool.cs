namespace Sidep.Parsing.Internals;

/// <summary>
/// A small, fixed-size pool of the short strings a batch repeats (codes, coding systems, displays, units, facility
/// names): a value seen before is returned without decoding or allocating again. Direct-mapped, 1,024 slots, values
/// up to 48 bytes: bounded memory whatever the input; a collision only replaces the slot. A slot's key bytes live in one
/// array beside the others (48 bytes a slot), so that a value seen once — an identifier, an accession — costs its string
/// and nothing more. One per thread (<see cref="ForThisThread"/>), which every parser takes: not thread-safe, and parsing
/// is synchronous.
/// </summary>
internal sealed class StringPool
{
    private const int Slots = 1024;
    private const int MaxLength = 48;
    private readonly byte[] _keyBytes = new byte[Slots * MaxLength];
    /// <summary>Each slot's key length; -1: empty.</summary>
    private readonly int[] _keyLengths = NewLengths();
    private readonly string[] _values = new string[Slots];

    [ThreadStatic]
    private static StringPool? t_shared;

    /// <summary>The pool of the calling thread: parsing is synchronous, one submission at a time on a thread, and a parser
    /// made per submission (HPRIM's) would otherwise pay a pool's 60 KB for every submission, however small.</summary>
    public static StringPool ForThisThread() => t_shared ??= new StringPool();

    private static int[] NewLengths()
    {
        var lengths = new int[Slots];
        Array.Fill(lengths, -1);
        return lengths;
    }

    private Hl7Charset _charset;

    /// <summary>Forgets everything when the character set changes: the same bytes would be other text.</summary>
    public void Use(Hl7Charset charset)
    {
        if (charset != _charset)
        {
            Array.Fill(_keyLengths, -1);
            Array.Clear(_values);
            _charset = charset;
        }
    }

    public string Get(ReadOnlySpan<byte> bytes, Hl7Charset charset)
    {
        if (bytes.Length > MaxLength)
        {
            return Hl7Text.Chars(bytes, charset);
        }
        Use(charset);
        int slot = (int)(Hash(bytes) & (Slots - 1));
        Span<byte> key = _keyBytes.AsSpan(slot * MaxLength, MaxLength);
        if (_keyLengths[slot] == bytes.Length && bytes.SequenceEqual(key[..bytes.Length]))
        {
            return _values[slot];
        }
        string value = Hl7Text.Chars(bytes, charset);
        bytes.CopyTo(key);
        _keyLengths[slot] = bytes.Length;
        _values[slot] = value;
        return value;
    }

    private static uint Hash(ReadOnlySpan<byte> bytes)
    {
        // Eight bytes at a time (values are at most 48 bytes: at most six rounds), the tail read as one last word;
        // it only has to spread the values of a batch over 1,024 slots.
        ulong hash = (ulong)bytes.Length * 0x9E3779B97F4A7C15;
        int i = 0;
        for (; i + 8 <= bytes.Length; i += 8)
        {
            hash = (hash ^ System.Buffers.Binary.BinaryPrimitives.ReadUInt64LittleEndian(bytes[i..])) * 0xFF51AFD7ED558CCD;
            hash ^= hash >> 29;
        }
        if (i < bytes.Length)
        {
            ulong tail = 0;
            for (int k = bytes.Length - 1; k >= i; k--)
            {
                tail = (tail << 8) | bytes[k];
            }
            hash = (hash ^ tail) * 0xC4CEB9FE1A85EC53;
        }
        return (uint)(hash ^ (hash >> 32));
    }
}
