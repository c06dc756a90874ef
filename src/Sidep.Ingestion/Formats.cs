using System.Buffers;
using Sidep.Parsing;
using Sidep.Parsing.Fhir;
using Sidep.Parsing.Hl7v2;
using Sidep.Parsing.Hprim;

namespace Sidep.Ingestion;

/// <summary>The submission formats Sidep reads, their media types, and how to tell them apart.</summary>
public static class Formats
{
    public const string Hl7v2 = "hl7v2";
    public const string Hprim = "hprim";
    public const string Fhir = "fhir";

    public const string Hl7MediaType = "application/hl7-v2";
    public const string HprimMediaType = "application/x-hprim";
    public const string FhirMediaType = "application/fhir+json";

    /// <summary>The format of a media type (parameters ignored), or null.</summary>
    public static string? FromMediaType(string? contentType)
    {
        string? media = contentType?.Split(';')[0].Trim().ToLowerInvariant();
        return media switch
        {
            Hl7MediaType or "x-application/hl7-v2+er7" => Hl7v2,
            HprimMediaType or "text/x-hprim" or "application/hprim" => Hprim,
            FhirMediaType or "application/json+fhir" => Fhir,
            _ => null,
        };
    }

    public static string MediaTypeOf(string format) => format switch { Hprim => HprimMediaType, Fhir => FhirMediaType, _ => Hl7MediaType };

    /// <summary>Guesses the format from the first bytes: MSH/FHS/BHS is HL7 v2, '{' is FHIR JSON, anything else is read as HPRIM.</summary>
    public static string Sniff(ReadOnlySpan<byte> head)
    {
        int start = head.IndexOfAnyExcept("\xEF\xBB\xBF \t\r\n"u8);
        ReadOnlySpan<byte> first = start < 0 ? default : head[start..];
        return first.StartsWith("MSH"u8) || first.StartsWith("FHS"u8) || first.StartsWith("BHS"u8) ? Hl7v2 : first.StartsWith("{"u8) ? Fhir : Hprim;
    }

    public static ParsedSubmission Parse(string format, in ReadOnlySequence<byte> body, Hl7ParserOptions hl7Options) => format switch
    {
        Hprim => new HprimParser().Parse(body),
        Fhir => new FhirParser().Parse(body),
        _ => Hl7Parser(hl7Options).Parse(body),
    };

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
