using Sidep.Parsing.Internals;

namespace Sidep.Parsing.Hprim.Internals;

internal static class HprimText
{
    /// <summary>HPRIM is ISO-8859-1. Bytes that are valid UTF-8 with non-ASCII characters are read as UTF-8 (and
    /// said so); C1 control bytes, which Latin-1 text never holds, are reported with their offset.</summary>
    public static Hl7Charset ChooseCharset(ReadOnlySpan<byte> input, ParsedSubmission submission)
    {
        int nonAscii = input.IndexOfAnyInRange((byte)0x80, (byte)0xFF);
        if (nonAscii < 0)
        {
            return Hl7Charset.Latin1;
        }
        if (Hl7Text.FirstInvalidUtf8(input) < 0)
        {
            submission.Diagnostics.Add(new Diagnostic(Severity.Warning, DiagnosticCode.InvalidEncoding,
                "HPRIM is ISO-8859-1, but this file is valid UTF-8 and was read as UTF-8", Position(input, nonAscii)));
            return Hl7Charset.Utf8;
        }
        int c1 = input.IndexOfAnyInRange((byte)0x80, (byte)0x9F);
        if (c1 >= 0)
        {
            submission.Diagnostics.Add(new Diagnostic(Severity.Warning, DiagnosticCode.InvalidEncoding,
                $"byte 0x{input[c1]:X2} is a control character in ISO-8859-1, not text", Position(input, c1)));
        }
        return Hl7Charset.Latin1;
    }

    public static SourcePosition Position(ReadOnlySpan<byte> input, int offset) => new("", Contiguous.LineOf(input, offset), 0, 0, offset);

    public static string? Trimmed(ReadOnlySpan<byte> bytes, Hl7Charset charset)
    {
        ReadOnlySpan<byte> t = bytes.Trim(" \t"u8);
        return t.IsEmpty ? null : Hl7Text.Chars(t, charset);
    }
}
