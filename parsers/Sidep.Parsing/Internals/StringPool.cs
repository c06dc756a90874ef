namespace Sidep.Parsing.Internals;

/// <summary>
/// A small, fixed-size pool of the short strings a batch repeats (codes, coding systems, displays, units, facility
/// names): a value seen before is returned without decoding or allocating again. Direct-mapped, 1,024 slots, values
/// up to 48 bytes: bounded memory whatever the input; a collision only replaces the slot. One per parser instance
/// (not thread-safe).
/// </summary>
internal sealed class StringPool
{
    private const int Slots = 1024;
    private const int MaxLength = 48;
    private readonly byte[][] _keys = new byte[Slots][];
    private readonly string[] _values = new string[Slots];
    private Hl7Charset _charset;

    /// <summary>Forgets everything when the character set changes: the same bytes would be other text.</summary>
    public void Use(Hl7Charset charset)
    {
        if (charset != _charset)
        {
            Array.Clear(_keys);
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
        byte[]? key = _keys[slot];
        if (key is not null && bytes.SequenceEqual(key))
        {
            return _values[slot];
        }
        string value = Hl7Text.Chars(bytes, charset);
        _keys[slot] = bytes.ToArray();
        _values[slot] = value;
        return value;
    }

    private static uint Hash(ReadOnlySpan<byte> bytes)
    {
        // FNV-1a over the bytes: values are short, this is a handful of multiplies.
        uint hash = 2166136261;
        foreach (byte b in bytes)
        {
            hash = (hash ^ b) * 16777619;
        }
        return hash ^ (uint)bytes.Length;
    }
}
