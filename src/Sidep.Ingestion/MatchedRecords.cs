using System.Buffers.Binary;
using System.Text.Json;
using Sidep.Indicators;
using Sidep.Domain;
using Sidep.Pipeline;

namespace Sidep.Ingestion;

/// <summary>
/// The identity stage's output records. A matched result is written as a marker byte, the indicator fact it makes
/// (what the indicators and the fan-out count with, 36 bytes) and the matched result as JSON (what the fan-out's cases
/// and the research rows are made of): the indicators never parse the JSON, the fan-out only for positives. Records
/// written before the fact header existed (JSON only) are still read.
/// </summary>
public static class MatchedRecords
{
    private const byte WithFact = 0x02;
    private const int FactBytes = 1 + 16 + 4 + 8 + 4 + 1 + 2;

    public static byte[] Encode(MatchedResult matched, IndicatorFact? fact) =>
        Encode(JsonSerializer.SerializeToUtf8Bytes(matched, SidepJson.Default.MatchedResult), fact);

    /// <summary>A matched record around the envelope's JSON as it is in the journal (not serialised again): the same
    /// JSON as <see cref="MatchedResult"/> gives.</summary>
    public static byte[] Encode(long sequence, long personId, string rule, double score, ReadOnlySpan<byte> envelopeJson, IndicatorFact? fact)
    {
        var buffer = new System.Buffers.ArrayBufferWriter<byte>(envelopeJson.Length + 128);
        using (var w = new Utf8JsonWriter(buffer))
        {
            w.WriteStartObject();
            w.WriteNumber("sequence", sequence);
            w.WriteNumber("personId", personId);
            w.WriteString("rule", rule);
            w.WriteNumber("score", score);
            w.WritePropertyName("envelope");
            w.WriteRawValue(envelopeJson, skipInputValidation: true);
            w.WriteEndObject();
        }
        return Encode(buffer.WrittenSpan.ToArray(), fact);
    }

    private static byte[] Encode(byte[] json, IndicatorFact? fact)
    {
        byte[] payload = new byte[1 + FactBytes + json.Length];
        payload[0] = WithFact;
        Span<byte> f = payload.AsSpan(1, FactBytes);
        if (fact is IndicatorFact x)
        {
            f[0] = 1;
            BinaryPrimitives.WriteUInt128LittleEndian(f[1..], x.Key);
            BinaryPrimitives.WriteInt32LittleEndian(f[17..], x.Version);
            BinaryPrimitives.WriteInt64LittleEndian(f[21..], x.Person);
            BinaryPrimitives.WriteInt32LittleEndian(f[29..], x.Day);
            f[33] = (byte)x.Outcome;
            BinaryPrimitives.WriteInt16LittleEndian(f[34..], x.Cell);
        }
        json.CopyTo(payload, 1 + FactBytes);
        return payload;
    }

    /// <summary>The JSON part of a matched record.</summary>
    public static ReadOnlySpan<byte> Json(ReadOnlySpan<byte> payload) => payload.Length > 0 && payload[0] == WithFact ? payload[(1 + FactBytes)..] : payload;

    public static MatchedResult Read(ReadOnlySpan<byte> payload) => JsonSerializer.Deserialize(Json(payload), SidepJson.Default.MatchedResult)!;

    /// <summary>Feeds a batch to an aggregator (the indicators' or the fan-out's) in order; <paramref name="onFact"/>
    /// also sees each fact, with a way to read its matched result, before it is applied.</summary>
    public static void Apply(List<LogEntry> batch, Aggregator aggregator, Func<string?, TestKind> kindOf, Action<IndicatorFact, Func<MatchedResult>>? onFact = null)
    {
        foreach (LogEntry entry in batch)
        {
            if (entry.Kind == RecordKind.Lost)
            {
                continue; // moved aside by journal repair
            }
            if (entry.Kind == RecordKind.Merged)
            {
                PersonMerge merge = JsonSerializer.Deserialize(entry.Payload.Span, SidepJson.Default.PersonMerge)!;
                aggregator.Merge(merge.From, merge.Into);
                continue;
            }
            ReadOnlyMemory<byte> payload = entry.Payload;
            IndicatorFact? fact;
            if (payload.Span[0] == WithFact)
            {
                ReadOnlySpan<byte> f = payload.Span.Slice(1, FactBytes);
                fact = f[0] == 0 ? null : new IndicatorFact(BinaryPrimitives.ReadUInt128LittleEndian(f[1..]), BinaryPrimitives.ReadInt32LittleEndian(f[17..]),
                    BinaryPrimitives.ReadInt64LittleEndian(f[21..]), BinaryPrimitives.ReadInt32LittleEndian(f[29..]), (Outcome)f[33], BinaryPrimitives.ReadInt16LittleEndian(f[34..]));
            }
            else
            {
                MatchedResult legacy = Read(payload.Span);
                ResultEnvelope e = legacy.Envelope;
                fact = Facts.From(e.Result, e.Version, legacy.PersonId, e.ReceivedAt, kindOf);
            }
            if (fact is IndicatorFact x)
            {
                onFact?.Invoke(x, () => Read(payload.Span));
                aggregator.Apply(x);
            }
        }
    }
}
