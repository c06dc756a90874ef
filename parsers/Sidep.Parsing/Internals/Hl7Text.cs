using System.Buffers;
using System.Text;
using System.Text.Unicode;

namespace Sidep.Parsing.Internals;

internal enum Hl7Charset { Utf8, Latin1, Latin9 }

/// <summary>Turns field bytes into text: HL7 escape sequences, then the message's character set.
/// Allocates only the string it returns.</summary>
internal static class Hl7Text
{
    private const int StackLimit = 512;

    /// <summary>Reads MSH-18 (first repetition). Returns false for a charset Sidep cannot decode.</summary>
    public static bool TryReadCharset(ReadOnlySpan<byte> msh18, in Hl7Delimiters d, out Hl7Charset charset, out bool declared)
    {
        ReadOnlySpan<byte> first = Hl7Spans.FirstRepetition(msh18, d).Trim((byte)' ');
        declared = !first.IsEmpty;
        charset = Hl7Charset.Utf8;
        if (!declared)
        {
            return true;
        }
        Span<byte> upper = stackalloc byte[Math.Min(first.Length, 32)];
        int n = Ascii.ToUpper(first[..upper.Length], upper, out int written) == OperationStatus.Done ? written : 0;
        ReadOnlySpan<byte> name = upper[..n];
        if (name.SequenceEqual("UNICODE UTF-8"u8) || name.SequenceEqual("UTF-8"u8) || name.SequenceEqual("UTF8"u8)
            || name.SequenceEqual("ASCII"u8) || name.SequenceEqual("UNICODE"u8))
        {
            charset = Hl7Charset.Utf8;
            return true;
        }
        if (name.SequenceEqual("8859/1"u8) || name.SequenceEqual("ISO-8859-1"u8) || name.SequenceEqual("ISO_IR 100"u8) || name.SequenceEqual("LATIN1"u8))
        {
            charset = Hl7Charset.Latin1;
            return true;
        }
        if (name.SequenceEqual("8859/15"u8) || name.SequenceEqual("ISO-8859-15"u8) || name.SequenceEqual("LATIN9"u8))
        {
            charset = Hl7Charset.Latin9;
            return true;
        }
        return false;
    }

    /// <summary>Offset of the first byte that is not valid UTF-8, or -1.</summary>
    public static int FirstInvalidUtf8(ReadOnlySpan<byte> bytes)
    {
        if (Utf8.IsValid(bytes))
        {
            return -1;
        }
        int at = 0;
        while (at < bytes.Length)
        {
            OperationStatus status = Rune.DecodeFromUtf8(bytes[at..], out _, out int consumed);
            if (status != OperationStatus.Done)
            {
                return at;
            }
            at += consumed;
        }
        return -1;
    }

    public static string? Decode(ReadOnlySpan<byte> value, in Hl7Delimiters d, Hl7Charset charset, StringPool? pool = null)
    {
        if (value.IsEmpty)
        {
            return null;
        }
        // HL7 "" means "delete the value": for a receiver it carries nothing.
        if (value.Length == 2 && value[0] == (byte)'"' && value[1] == (byte)'"')
        {
            return null;
        }
        if (value.IndexOf(d.Escape) < 0)
        {
            return pool is null ? Chars(value, charset) : pool.Get(value, charset);
        }
        byte[]? rented = null;
        Span<byte> buffer = value.Length <= StackLimit ? stackalloc byte[StackLimit] : (rented = ArrayPool<byte>.Shared.Rent(value.Length));
        try
        {
            int length = Unescape(value, d, buffer);
            return length == 0 ? null : Chars(buffer[..length], charset);
        }
        finally
        {
            if (rented is not null)
            {
                ArrayPool<byte>.Shared.Return(rented);
            }
        }
    }

    /// <summary>Escapes never make text longer, so <paramref name="output"/> needs value.Length bytes.</summary>
    private static int Unescape(ReadOnlySpan<byte> value, in Hl7Delimiters d, Span<byte> output)
    {
        int written = 0;
        int at = 0;
        while (at < value.Length)
        {
            byte b = value[at];
            if (b != d.Escape)
            {
                output[written++] = b;
                at++;
                continue;
            }
            int close = value[(at + 1)..].IndexOf(d.Escape);
            if (close < 0)
            {
                // A lone escape character: keep it as sent.
                output[written++] = b;
                at++;
                continue;
            }
            ReadOnlySpan<byte> seq = value.Slice(at + 1, close);
            at += close + 2;
            if (seq.IsEmpty)
            {
                // "\\": an empty escape sequence means nothing; keep it as sent.
                written = KeepLiteral(value, at - 2, 2, output, written);
                continue;
            }
            if (seq.Length == 1)
            {
                byte c = seq[0];
                byte? replacement = c switch
                {
                    (byte)'F' => d.Field,
                    (byte)'S' => d.Component,
                    (byte)'T' => d.SubComponent,
                    (byte)'R' => d.Repetition,
                    (byte)'E' => d.Escape,
                    (byte)'H' or (byte)'N' => null, // highlighting on/off: no text
                    _ => (byte)0,
                };
                if (replacement is byte r && r != 0)
                {
                    output[written++] = r;
                }
                else if (replacement is not null)
                {
                    written = KeepLiteral(value, at - close - 2, close + 2, output, written);
                }
                continue;
            }
            if (seq.Length > 1 && seq[0] == (byte)'X' && TryHex(seq[1..], output[written..], out int hexWritten))
            {
                written += hexWritten;
                continue;
            }
            if (seq.Length >= 3 && seq[0] == (byte)'.')
            {
                // Formatting: .br and .sp become a line break; other commands (.in, .ti, .ce, .fi, .nf, .sk) no text.
                if (seq.SequenceEqual(".br"u8) || seq.StartsWith(".sp"u8))
                {
                    output[written++] = (byte)'\n';
                }
                continue;
            }
            if (seq[0] is (byte)'Z' or (byte)'C' or (byte)'M')
            {
                continue; // locally defined and character-set switching escapes: no text of their own
            }
            written = KeepLiteral(value, at - close - 2, close + 2, output, written);
        }
        return written;
    }

    private static int KeepLiteral(ReadOnlySpan<byte> value, int start, int length, Span<byte> output, int written)
    {
        value.Slice(start, length).CopyTo(output[written..]);
        return written + length;
    }

    private static bool TryHex(ReadOnlySpan<byte> hex, Span<byte> output, out int written)
    {
        written = 0;
        if (hex.Length % 2 != 0)
        {
            return false;
        }
        for (int i = 0; i < hex.Length; i += 2)
        {
            int hi = HexValue(hex[i]), lo = HexValue(hex[i + 1]);
            if (hi < 0 || lo < 0)
            {
                written = 0;
                return false;
            }
            output[written++] = (byte)(hi << 4 | lo);
        }
        return true;
    }

    private static int HexValue(byte b) => b switch
    {
        >= (byte)'0' and <= (byte)'9' => b - '0',
        >= (byte)'a' and <= (byte)'f' => b - 'a' + 10,
        >= (byte)'A' and <= (byte)'F' => b - 'A' + 10,
        _ => -1,
    };

    public static string Chars(ReadOnlySpan<byte> bytes, Hl7Charset charset)
    {
        switch (charset)
        {
            case Hl7Charset.Latin1:
                return Encoding.Latin1.GetString(bytes);
            case Hl7Charset.Latin9:
                string s = Encoding.Latin1.GetString(bytes);
                return s.AsSpan().IndexOfAny("\u00A4\u00A6\u00A8\u00B4\u00B8\u00BC\u00BD\u00BE") < 0 ? s : Latin9(s);
            default:
                return Encoding.UTF8.GetString(bytes);
        }
    }

    private static string Latin9(string latin1) => string.Create(latin1.Length, latin1, static (dest, src) =>
    {
        for (int i = 0; i < src.Length; i++)
        {
            dest[i] = src[i] switch
            {
                '\u00A4' => '\u20AC',
                '\u00A6' => '\u0160',
                '\u00A8' => '\u0161',
                '\u00B4' => '\u017D',
                '\u00B8' => '\u017E',
                '\u00BC' => '\u0152',
                '\u00BD' => '\u0153',
                '\u00BE' => '\u0178',
                char c => c,
            };
        }
    });
}
