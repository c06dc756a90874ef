using System.Buffers;
using Sidep.Parsing.Hprim.Internals;
using Sidep.Parsing.Internals;

namespace Sidep.Parsing.Hprim;

/// <summary>Limits of the HPRIM parsers.</summary>
/// <param name="MaxRecordBytes">Longest logical record (continuations included); default 256 KiB.</param>
public readonly record struct HprimParserOptions(int MaxRecordBytes = 256 * 1024)
{
    public HprimParserOptions() : this(256 * 1024) { }
}

/// <summary>
/// Parses HPRIM files, both dialects, into canonical results: HPRIM Santé (H/P/OBR/OBX/C/A/L records, delimiters
/// from the H record, A| continuations) and HPRIM Médecin (12-line header, ****LAB**** blocks of RES|/TEX| lines).
/// HPRIM carries local analysis codes, not LOINC: results come out with <c>Loinc = null</c> for the terminology stage.
/// Never throws on input: every problem is a positioned diagnostic.
/// </summary>
public sealed class HprimParser(HprimParserOptions options = default)
{
    private readonly HprimParserOptions _options = options == default ? new HprimParserOptions() : options;

    public ParsedSubmission Parse(ReadOnlySpan<byte> input)
    {
        // A UTF-8 byte order mark (HPRIM is ISO-8859-1, but files saved by Windows editors carry one): read what
        // follows, positions counted from there (its UTF-8 is recognised as such below).
        if (input.StartsWith(Contiguous.Utf8Bom))
        {
            input = input[3..];
        }
        var submission = new ParsedSubmission();
        int start = input.IndexOfAnyExcept(" \t\r\n"u8);
        if (start < 0)
        {
            submission.Diagnostics.Add(new Diagnostic(Severity.Error, DiagnosticCode.EmptyInput, "the submission is empty", new SourcePosition("", 1, 0, 0, 0)));
            return submission;
        }
        Hl7Charset charset = HprimText.ChooseCharset(input, submission);
        ReadOnlySpan<byte> first = input[start..];
        if (first.Length >= 2 && first[0] == (byte)'H' && !char.IsAsciiLetterOrDigit((char)first[1]))
        {
            new SanteParser(_options, charset).Parse(input, submission);
        }
        else if (input.IndexOf("****LAB****"u8) >= 0 || first.StartsWith("RES|"u8) || first.StartsWith("TEX|"u8))
        {
            new MedecinParser(charset).Parse(input, submission);
        }
        else
        {
            int line = 1 + input[..start].Count((byte)'\n');
            submission.Diagnostics.Add(new Diagnostic(Severity.Error, DiagnosticCode.NotHprim,
                "not an HPRIM file: HPRIM Santé starts with an H record (\"H|~^\\&|…\"), HPRIM Médecin holds a ****LAB**** block",
                new SourcePosition("?", line, 0, 0, start)));
        }
        return submission;
    }

    /// <summary>HPRIM files are small: a file split across buffers is copied once into pooled memory.</summary>
    public ParsedSubmission Parse(in ReadOnlySequence<byte> input) => Contiguous.Parse(input, Parse);
}
