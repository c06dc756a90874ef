using System.Buffers.Binary;
using System.Text.Json;
using Sidep.Indicators;
using Sidep.Domain;
using Sidep.Pipeline;

namespace Sidep.Ingestion;

/// <summary>What the research stage does with a matched result, decided where the result is decoded anyway (the identity
/// stage); only what depends on the store (oppositions) is left to the research stage.</summary>
public enum ResearchAction : byte
{
    /// <summary>Not a research row (a preliminary result).</summary>
    Skip = 0,
    /// <summary>Removes the row (a retraction, a test research does not keep).</summary>
    Remove = 1,
    /// <summary>Keeps this version's row, unless the person opposed.</summary>
    Upsert = 2,
}

/// <summary>A matched result's research row, ready made: its key, version, person, sample date, the row's fields as
/// JSON (nothing nominative) and the identity keys an opposition made before the person was known can name.</summary>
public sealed record ResearchFact(ResearchAction Action, UInt128 Key, int Version, long PersonId, string SampleDate, byte[] FieldsJson, string[] IdentityKeys);

/// <summary>
/// The identity stage's output records. A matched result is written as a marker byte, the indicator fact it makes
/// (what the indicators and the fan-out count with, 36 bytes), the research row it makes (what the research stage
/// stores) and the matched result as JSON (what the fan-out's cases are made of): the indicators and the research stage
/// never parse the JSON, the fan-out only for positives. Records written before the research part (marker 0x02) or the
/// fact header (JSON only) existed are still read.
/// </summary>
public static class MatchedRecords
{
    private const byte WithFact = 0x02;
    private const byte WithFactAndResearch = 0x03;
    private const int FactBytes = 1 + 16 + 4 + 8 + 4 + 1 + 2;

    public static byte[] Encode(MatchedResult matched, IndicatorFact? fact) =>
        Encode(JsonSerializer.SerializeToUtf8Bytes(matched, SidepJson.Default.MatchedResult), fact);

    /// <summary>A matched record around the envelope's JSON as it is in the journal (not serialised again): the same
    /// JSON as <see cref="MatchedResult"/> gives.</summary>
    public static byte[] Encode(long sequence, long personId, string rule, double score, ReadOnlySpan<byte> envelopeJson, IndicatorFact? fact,
        ResearchFact? research = null)
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
        return Encode(buffer.WrittenSpan, fact, research);
    }

    private static int ResearchBytes(ResearchFact? r) => r is null ? 0
        : ResearchHeadBytes + RecordText.Size(r.SampleDate) + 4 + r.FieldsJson.Length + 1 + r.IdentityKeys.Sum(RecordText.Size);

    /// <summary>Action, key, version, person: the fixed part of a research row.</summary>
    private const int ResearchHeadBytes = 1 + 16 + 4 + 8;

    private static byte[] Encode(ReadOnlySpan<byte> json, IndicatorFact? fact, ResearchFact? research = null)
    {
        int researchBytes = ResearchBytes(research);
        byte[] payload = new byte[1 + FactBytes + researchBytes + json.Length];
        payload[0] = research is null ? WithFact : WithFactAndResearch;
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
        if (research is not null)
        {
            WriteResearch(payload.AsSpan(1 + FactBytes, researchBytes), research);
        }
        json.CopyTo(payload.AsSpan(1 + FactBytes + researchBytes));
        return payload;
    }

    // [u8 action][u128 key][i32 version][i64 person][text: sample date][i32 length + fields JSON]
    // [u8 count]([text: identity key])* — texts as RecordText lays them out
    private static void WriteResearch(Span<byte> span, ResearchFact r)
    {
        span[0] = (byte)r.Action;
        BinaryPrimitives.WriteUInt128LittleEndian(span[1..], r.Key);
        BinaryPrimitives.WriteInt32LittleEndian(span[17..], r.Version);
        BinaryPrimitives.WriteInt64LittleEndian(span[21..], r.PersonId);
        int at = RecordText.Write(span, ResearchHeadBytes, r.SampleDate);
        BinaryPrimitives.WriteInt32LittleEndian(span[at..], r.FieldsJson.Length);
        r.FieldsJson.CopyTo(span[(at + 4)..]);
        at += 4 + r.FieldsJson.Length;
        span[at++] = (byte)r.IdentityKeys.Length;
        foreach (string key in r.IdentityKeys)
        {
            at = RecordText.Write(span, at, key);
        }
    }

    /// <summary>The research row a matched record carries (null: a record written before it rode along).</summary>
    public static ResearchFact? Research(ReadOnlySpan<byte> payload)
    {
        if (payload.Length == 0 || payload[0] != WithFactAndResearch)
        {
            return null;
        }
        ReadOnlySpan<byte> span = payload[(1 + FactBytes)..];
        int at = ResearchHeadBytes;
        string sampleDate = RecordText.Read(span, ref at) ?? "";
        int fieldsLength = BinaryPrimitives.ReadInt32LittleEndian(span[at..]);
        byte[] fields = span.Slice(at + 4, fieldsLength).ToArray();
        at += 4 + fieldsLength;
        string[] keys = new string[span[at++]];
        for (int i = 0; i < keys.Length; i++)
        {
            keys[i] = RecordText.Read(span, ref at) ?? "";
        }
        return new ResearchFact((ResearchAction)span[0], BinaryPrimitives.ReadUInt128LittleEndian(span[1..]), BinaryPrimitives.ReadInt32LittleEndian(span[17..]),
            BinaryPrimitives.ReadInt64LittleEndian(span[21..]), sampleDate, fields, keys);
    }

    /// <summary>The JSON part of a matched record: the research row is skipped by its lengths, not decoded (the
    /// fan-out reads the JSON of every positive).</summary>
    public static ReadOnlySpan<byte> Json(ReadOnlySpan<byte> payload)
    {
        if (payload.Length == 0 || payload[0] is not (WithFact or WithFactAndResearch))
        {
            return payload;
        }
        ReadOnlySpan<byte> rest = payload[(1 + FactBytes)..];
        if (payload[0] == WithFact)
        {
            return rest;
        }
        int at = ResearchHeadBytes;
        RecordText.Skip(rest, ref at);
        at += 4 + BinaryPrimitives.ReadInt32LittleEndian(rest[at..]);
        int keys = rest[at++];
        for (int i = 0; i < keys; i++)
        {
            RecordText.Skip(rest, ref at);
        }
        return rest[at..];
    }

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
            if (payload.Span[0] is WithFact or WithFactAndResearch)
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
