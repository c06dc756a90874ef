namespace Sidep.Parsing.Internals;

internal readonly struct Hl7Delimiters
{
    public readonly byte Field;
    public readonly byte Component;
    public readonly byte Repetition;
    public readonly byte Escape;
    public readonly byte SubComponent;

    public Hl7Delimiters(byte field, byte component, byte repetition, byte escape, byte subComponent)
    {
        Field = field;
        Component = component;
        Repetition = repetition;
        Escape = escape;
        SubComponent = subComponent;
    }

    /// <summary>Reads MSH-1 and MSH-2 (4 characters, or 5 with the v2.7 truncation character).
    /// The delimiters must be distinct printable non-alphanumeric characters.</summary>
    public static bool TryRead(ReadOnlySpan<byte> header, out Hl7Delimiters delimiters, out string? problem) =>
        TryRead(header, 3, "MSH", out delimiters, out problem);

    /// <summary>Reads the field separator at <paramref name="separatorAt"/> (3 in "MSH|", 1 in HPRIM's "H|") and
    /// the encoding characters after it: component, repetition, escape, sub-component (and an optional fifth).</summary>
    public static bool TryRead(ReadOnlySpan<byte> header, int separatorAt, string record, out Hl7Delimiters delimiters, out string? problem)
    {
        delimiters = default;
        problem = null;
        if (header.Length < separatorAt + 5)
        {
            problem = $"{record} is too short to hold the field separator and encoding characters";
            return false;
        }
        byte field = header[separatorAt];
        int first = separatorAt + 1;
        int end = header[first..].IndexOf(field);
        int count = end < 0 ? Math.Min(header.Length - first, 5) : end;
        if (count is < 4 or > 5)
        {
            problem = $"{record}-2 must hold 4 encoding characters (5 with the truncation character), found {count}";
            return false;
        }
        ReadOnlySpan<byte> chars = header.Slice(first, count);
        Span<byte> all = stackalloc byte[6];
        all[0] = field;
        chars.CopyTo(all[1..]);
        all = all[..(count + 1)];
        for (int i = 0; i < all.Length; i++)
        {
            byte b = all[i];
            if (b < 0x21 || b > 0x7E || char.IsAsciiLetterOrDigit((char)b))
            {
                problem = $"delimiter 0x{b:X2} at {record} position {i + separatorAt} is not a printable punctuation character";
                return false;
            }
            if (all[(i + 1)..].Contains(b))
            {
                problem = $"delimiter '{(char)b}' is declared twice in {record}-1/{record}-2";
                return false;
            }
        }
        delimiters = new Hl7Delimiters(field, chars[0], chars[1], chars[2], chars[3]);
        return true;
    }
}
