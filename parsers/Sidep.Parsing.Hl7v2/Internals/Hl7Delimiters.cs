namespace Sidep.Parsing.Hl7v2.Internals;

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

    public static Hl7Delimiters Default => new(Hl7Constants.DefaultField, Hl7Constants.DefaultComponent,
        Hl7Constants.DefaultRepetition, Hl7Constants.DefaultEscape, Hl7Constants.DefaultSubComponent);

    /// <summary>Reads MSH-1 and MSH-2 (4 characters, or 5 with the v2.7 truncation character).
    /// The delimiters must be distinct printable non-alphanumeric characters.</summary>
    public static bool TryRead(ReadOnlySpan<byte> header, out Hl7Delimiters delimiters, out string? problem)
    {
        delimiters = default;
        problem = null;
        // header starts at "MSH": MSH|^~\&|
        if (header.Length < 8)
        {
            problem = "MSH is too short to hold the field separator and encoding characters";
            return false;
        }
        byte field = header[3];
        int end = header[4..].IndexOf(field);
        int count = end < 0 ? Math.Min(header.Length - 4, 5) : end;
        if (count is < 4 or > 5)
        {
            problem = $"MSH-2 must hold 4 encoding characters (5 with the truncation character), found {count}";
            return false;
        }
        ReadOnlySpan<byte> chars = header.Slice(4, count);
        Span<byte> all = stackalloc byte[6];
        all[0] = field;
        chars.CopyTo(all[1..]);
        all = all[..(count + 1)];
        for (int i = 0; i < all.Length; i++)
        {
            byte b = all[i];
            if (b < 0x21 || b > 0x7E || char.IsAsciiLetterOrDigit((char)b))
            {
                problem = $"delimiter 0x{b:X2} at MSH position {i + 3} is not a printable punctuation character";
                return false;
            }
            if (all[(i + 1)..].Contains(b))
            {
                problem = $"delimiter '{(char)b}' is declared twice in MSH-1/MSH-2";
                return false;
            }
        }
        delimiters = new Hl7Delimiters(field, chars[0], chars[1], chars[2], chars[3]);
        return true;
    }
}
