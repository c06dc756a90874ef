using System.Text.Json;
using Sidep.Pipeline;

namespace Sidep.Ingestion;

/// <summary>A result record's envelope as the stages read it, from the journal or the results topic (the same bytes:
/// <see cref="ResultRecords"/>); records of the earlier JSON layout still read.</summary>
public static class ResultEnvelopes
{
    /// <summary>The result envelope of a result record (binary, or JSON in a record of an earlier layout), or null with
    /// why it is not one.</summary>
    public static ResultEnvelope? Read(ReadOnlySpan<byte> payload, out string? reason)
    {
        if (!ResultRecords.IsResult(payload))
        {
            reason = "not a result envelope: too short for a result record (content hash, version, envelope)";
            return null;
        }
        try
        {
            ResultEnvelope? envelope = ResultRecords.IsBinary(payload)
                ? ResultRecords.Envelope(payload)
                : JsonSerializer.Deserialize(ResultRecords.EnvelopeJson(payload), SidepJson.Default.ResultEnvelope);
            reason = envelope?.Result is null ? "not a result envelope" : null;
            return reason is null ? envelope : null;
        }
        catch (Exception ex) when (ex is JsonException or FormatException or ArgumentOutOfRangeException)
        {
            reason = $"not a result envelope: {ex.Message}";
            return null;
        }
    }
}
