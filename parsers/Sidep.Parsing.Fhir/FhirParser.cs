using System.Buffers;
using System.Text.Json;
using Sidep.Domain;
using Sidep.Parsing.Fhir.Internals;

namespace Sidep.Parsing.Fhir;

/// <summary>
/// The FHIR R4 fast path: reads lab results from Bundles (message, document, transaction, batch, collection,
/// transaction-response, searchset) or from a single Observation with its contained Patient/Specimen, with
/// Utf8JsonReader only — no object model. Pass 1 indexes the resources and their byte ranges; pass 2 reads, for each
/// Observation, just the fields of the canonical model and what it references (Patient, Specimen, performing
/// Organization, the DiagnosticReport grouping it). Lenient: cardinality slips are warnings; only what cannot be
/// understood is rejected. Every problem carries a FHIRPath expression (in <see cref="SourcePosition.Segment"/>),
/// the line and the byte offset.
/// </summary>
public sealed class FhirParser
{
    public const string FinessSystem = "urn:oid:1.2.250.1.71.4.2.2";

    public ParsedSubmission Parse(in ReadOnlySequence<byte> input) => Contiguous.Parse(input, Parse);

    public ParsedSubmission Parse(ReadOnlySpan<byte> json)
    {
        // A byte order mark (RFC 8259 lets a reader ignore it; Windows editors write one) is not JSON: read what
        // follows, positions counted from there.
        if (json.StartsWith(Contiguous.Utf8Bom))
        {
            json = json[3..];
        }
        var submission = new ParsedSubmission();
        if (json.IndexOfAnyExcept(" \t\r\n"u8) < 0)
        {
            submission.Diagnostics.Add(Diagnostic.Error(DiagnosticCode.EmptyInput, "the submission is empty", new SourcePosition("", 1, 0, 0, 0)));
            return submission;
        }
        int invalid = Sidep.Parsing.Internals.Hl7Text.FirstInvalidUtf8(json);
        if (invalid >= 0)
        {
            submission.Diagnostics.Add(Diagnostic.Error(DiagnosticCode.InvalidEncoding, $"byte 0x{json[invalid]:X2} is not valid UTF-8: FHIR JSON must be UTF-8",
                new SourcePosition("", Contiguous.LineOf(json, invalid), 0, 0, invalid)));
            return submission;
        }
        var index = new ResourceIndex();
        try
        {
            index.Build(json);
        }
        catch (JsonException ex)
        {
            long offset = OffsetOf(json, ex);
            string why = ex.Message.Contains("depth", StringComparison.OrdinalIgnoreCase)
                ? $"JSON nested deeper than {ResourceIndex.MaxDepth} levels is not read"
                : "invalid JSON: " + FirstSentence(ex.Message);
            submission.Diagnostics.Add(Diagnostic.Error(DiagnosticCode.InvalidJson, why,
                new SourcePosition("", (int)(ex.LineNumber ?? 0) + 1, 0, 0, offset)));
            return submission;
        }
        var message = new ParsedMessage
        {
            ControlId = index.Entries.FirstOrDefault(e => e.Type == "MessageHeader")?.Id ?? index.Entries.FirstOrDefault()?.Id,
            SenderIds = [],
            Position = new SourcePosition(index.RootType ?? "", 1, 0, 0, 0),
            ByteLength = json.Length,
            Version = "R4",
        };
        submission.Messages.Add(message);
        if (index.RootType is not ("Bundle" or "Observation" or "DiagnosticReport"))
        {
            message.Diagnostics.Add(Diagnostic.Error(DiagnosticCode.NotAResult,
                $"a {index.RootType ?? "resource without resourceType"} holds no lab result; send a Bundle, an Observation or a DiagnosticReport",
                new SourcePosition(index.RootType ?? "", 1, 0, 0, 0)) with { Found = index.RootType, Expected = "Bundle, Observation or DiagnosticReport" });
            return submission;
        }
        try
        {
            new BundleMapper(json, index, message).Map();
        }
        catch (Exception ex) when (ex is JsonException or InvalidOperationException or FormatException)
        {
            // Pass 1 validated the structure; this is a safety net, never a crash.
            message.Diagnostics.Add(Diagnostic.Error(DiagnosticCode.InvalidJson, "a resource could not be read: " + FirstSentence(ex.Message), message.Position));
        }
        if (message.Items.Count == 0 && !message.IsRejected)
        {
            message.Diagnostics.Add(Diagnostic.Error(DiagnosticCode.TruncatedMessage, "the submission holds no Observation", message.Position));
        }
        return submission;
    }

    private static long OffsetOf(ReadOnlySpan<byte> json, JsonException ex)
    {
        int line = (int)(ex.LineNumber ?? 0);
        long inLine = ex.BytePositionInLine ?? 0;
        int at = 0;
        for (int i = 0; i < line && at >= 0; i++)
        {
            int next = json[at..].IndexOf((byte)'\n');
            at = next < 0 ? json.Length : at + next + 1;
        }
        return Math.Min(json.Length, at + inLine);
    }

    private static string FirstSentence(string message)
    {
        int dot = message.IndexOf(". ", StringComparison.Ordinal);
        return dot > 0 ? message[..dot] : message;
    }

}
