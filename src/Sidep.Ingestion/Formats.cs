using System.Buffers;
using Sidep.Parsing;
using Sidep.Parsing.Fhir;
using Sidep.Parsing.Hl7v2;
using Sidep.Parsing.Hprim;

namespace Sidep.Ingestion;

/// <summary>A submission format Sidep reads: its name (in reports and the journal), the media types it comes as, the
/// look of its first bytes, its parser, and the answer in its own protocol. Adding a format is one of these, listed in
/// <see cref="Formats.All"/>, and its parser project.</summary>
public interface IFormat
{
    string Name { get; }

    /// <summary>The media types it is accepted as; the first is the one Sidep sends it as.</summary>
    IReadOnlyList<string> MediaTypes { get; }

    /// <summary>Whether a file beginning so is of this format (for files given without a media type: the CLI).</summary>
    bool Claims(ReadOnlySpan<byte> head);

    ParsedSubmission Parse(in ReadOnlySequence<byte> body, Hl7ParserOptions hl7Options);

    /// <summary>Whether its senders are answered in it unless they ask for JSON (FHIR clients read OperationOutcomes);
    /// the others get the JSON report unless they ask for their protocol with Accept.</summary>
    bool AnswersInKind { get; }

    /// <summary>The report of a submission in the format's own protocol.</summary>
    FormatAnswer Answer(SubmissionReport report);

    /// <summary>A submission refused as a whole (its lab may not submit as the lab it names), said in the format's protocol.</summary>
    FormatAnswer Refusal(SubmissionReport report, string code, string reason);
}

/// <summary>An answer in a format's protocol: its content type (with the charset) and bytes.</summary>
public sealed record FormatAnswer(string ContentType, byte[] Body);

/// <summary>The formats Sidep reads, in one place: found by name, by media type or by their first bytes. An unknown
/// name or media type is refused, never guessed.</summary>
public static class Formats
{
    public const string Hl7v2 = "hl7v2";
    public const string Hprim = "hprim";
    public const string Fhir = "fhir";

    public const string Hl7MediaType = "application/hl7-v2";
    public const string HprimMediaType = "application/x-hprim";
    public const string FhirMediaType = "application/fhir+json";

    /// <summary>Every format, in the order files are sniffed (HPRIM, which claims what the others do not, last).</summary>
    public static readonly IReadOnlyList<IFormat> All = [new Hl7v2Format(), new FhirFormat(), new HprimFormat()];

    /// <summary>The format of this name.</summary>
    /// <exception cref="ArgumentException">No format has this name.</exception>
    public static IFormat Named(string name) => All.FirstOrDefault(f => f.Name == name)
        ?? throw new ArgumentException($"unknown format '{name}': Sidep reads {string.Join(", ", All.Select(f => f.Name))}", nameof(name));

    /// <summary>The format of a media type (parameters ignored), or null.</summary>
    public static string? FromMediaType(string? contentType)
    {
        string? media = contentType?.Split(';')[0].Trim().ToLowerInvariant();
        return media is null ? null : All.FirstOrDefault(f => f.MediaTypes.Contains(media))?.Name;
    }

    public static string MediaTypeOf(string format) => Named(format).MediaTypes[0];

    /// <summary>The format a submission is answered in: the first whose media type the sender accepts, else its own
    /// format when that answers in kind and JSON is not asked for; null: the JSON report.</summary>
    public static IFormat? AnswerFormat(string submitted, IEnumerable<string?> accept)
    {
        string[] accepted = [.. accept.SelectMany(a => (a ?? "").Split(',')).Select(a => a.Split(';')[0].Trim().ToLowerInvariant()).Where(a => a.Length > 0)];
        foreach (string media in accepted)
        {
            if (All.FirstOrDefault(f => f.MediaTypes.Contains(media)) is IFormat asked)
            {
                return asked;
            }
        }
        IFormat own = Named(submitted);
        return own.AnswersInKind && !accepted.Contains("application/json") ? own : null;
    }

    /// <summary>The format a file's first bytes say: MSH/FHS/BHS is HL7 v2, '{' is FHIR JSON, anything else is read as
    /// HPRIM (HPRIM Médecin has no signature of its own; its reader says line by line what it could not read).</summary>
    public static string Sniff(ReadOnlySpan<byte> head)
    {
        foreach (IFormat format in All)
        {
            if (format.Claims(head))
            {
                return format.Name;
            }
        }
        throw new InvalidOperationException("HPRIM claims every file");
    }

    public static ParsedSubmission Parse(string format, in ReadOnlySequence<byte> body, Hl7ParserOptions hl7Options) => Named(format).Parse(body, hl7Options);

    /// <summary>The first bytes after a byte order mark and white space.</summary>
    private static ReadOnlySpan<byte> Start(ReadOnlySpan<byte> head)
    {
        if (head.StartsWith(Contiguous.Utf8Bom))
        {
            head = head[3..];
        }
        int start = head.IndexOfAnyExcept(" \t\r\n"u8);
        return start < 0 ? default : head[start..];
    }

    private sealed class Hl7v2Format : IFormat
    {
        public string Name => Hl7v2;

        public IReadOnlyList<string> MediaTypes { get; } = [Hl7MediaType, "x-application/hl7-v2+er7"];

        public bool Claims(ReadOnlySpan<byte> head) => Start(head) is var first && (first.StartsWith("MSH"u8) || first.StartsWith("FHS"u8) || first.StartsWith("BHS"u8));

        public ParsedSubmission Parse(in ReadOnlySequence<byte> body, Hl7ParserOptions hl7Options) => Hl7Parser(hl7Options).Parse(body);

        public bool AnswersInKind => false;

        public FormatAnswer Answer(SubmissionReport report) => Hl7(Acks.ForReport(report));

        public FormatAnswer Refusal(SubmissionReport report, string code, string reason) => Hl7(Acks.Refusal(report, code, reason));

        private static FormatAnswer Hl7(string acks) => new(Hl7MediaType + "; charset=utf-8", System.Text.Encoding.UTF8.GetBytes(acks));

        // One HL7 parser per thread: parsing is synchronous, and its pool of repeated strings stays warm across
        // submissions instead of being allocated anew for every MLLP message.
        [ThreadStatic]
        private static Hl7v2Parser? t_hl7;
        [ThreadStatic]
        private static Hl7ParserOptions t_hl7Options;

        private static Hl7v2Parser Hl7Parser(Hl7ParserOptions options)
        {
            if (t_hl7 is null || t_hl7Options != options)
            {
                t_hl7 = new Hl7v2Parser(options);
                t_hl7Options = options;
            }
            return t_hl7;
        }
    }

    private sealed class FhirFormat : IFormat
    {
        public string Name => Fhir;

        public IReadOnlyList<string> MediaTypes { get; } = [FhirMediaType, "application/json+fhir"];

        public bool Claims(ReadOnlySpan<byte> head) => Start(head).StartsWith("{"u8);

        public ParsedSubmission Parse(in ReadOnlySequence<byte> body, Hl7ParserOptions hl7Options) => new FhirParser().Parse(body);

        public bool AnswersInKind => true;

        public FormatAnswer Answer(SubmissionReport report) => new(FhirMediaType + "; charset=utf-8", FhirOutcomes.For(report));

        public FormatAnswer Refusal(SubmissionReport report, string code, string reason) => new(FhirMediaType + "; charset=utf-8", FhirOutcomes.Refusal(code, reason));
    }

    private sealed class HprimFormat : IFormat
    {
        public string Name => Hprim;

        public IReadOnlyList<string> MediaTypes { get; } = [HprimMediaType, "text/x-hprim", "application/hprim"];

        public bool Claims(ReadOnlySpan<byte> head) => true;

        public ParsedSubmission Parse(in ReadOnlySequence<byte> body, Hl7ParserOptions hl7Options) => new HprimParser().Parse(body);

        public bool AnswersInKind => false;

        public FormatAnswer Answer(SubmissionReport report) => new(HprimMediaType + "; charset=ISO-8859-1", HprimAnswers.For(report));

        public FormatAnswer Refusal(SubmissionReport report, string code, string reason) => new(HprimMediaType + "; charset=ISO-8859-1", HprimAnswers.Refusal(report, code, reason));
    }
}
