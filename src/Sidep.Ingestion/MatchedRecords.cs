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
/// The identity stage's output records. A matched result is written as a marker byte (0x05), the indicator fact it makes
/// (what the indicators and the fan-out count with, 36 bytes, then the SPF 2021 person key, 8 bytes; 0x04 records
/// without the key are still read), the research row it makes (what the research stage
/// stores), then the match — sequence, person, rule, score — and, for a positive only, the result envelope in its
/// binary form (<see cref="ResultEnvelopeCodec"/>, copied from the journal's record, not encoded again): the indicators
/// and the research stage never decode the envelope, and the fan-out reads it for positives only (the journal keeps
/// every result's envelope; a copy in every matched record doubled the bytes written for nothing). Records written with the match as JSON
/// (markers 0x02 and 0x03) or as JSON only are still read.
/// </summary>
public static class MatchedRecords
{
    private const byte WithFact = 0x02;
    private const byte WithFactAndResearch = 0x03;
    private const byte BinaryMatch = 0x04;
    /// <summary>As <see cref="BinaryMatch"/>, the fact followed by the SPF 2021 person key (8 bytes).</summary>
    private const byte KeyedMatch = 0x05;
    private const int FactBytes = 1 + 16 + 4 + 8 + 4 + 1 + 2;

    private static int FactLength(byte marker) => marker == KeyedMatch ? FactBytes + 8 : FactBytes;

    public static byte[] Encode(MatchedResult matched, IndicatorFact? fact, ResearchFact? research = null) =>
        Encode(matched.Sequence, matched.PersonId, matched.Rule, matched.Score, ResultEnvelopeCodec.Encode(matched.Envelope), fact, research);

    /// <summary>A matched record around the envelope's binary form as it is in the journal's record.</summary>
    public static byte[] Encode(long sequence, long personId, string rule, double score, ReadOnlySpan<byte> envelope, IndicatorFact? fact,
        ResearchFact? research = null)
    {
        int researchBytes = ResearchBytes(research);
        int matchBytes = 8 + 8 + RecordText.Size(rule) + 8;
        const int factBytes = FactBytes + 8;
        byte[] payload = new byte[1 + factBytes + researchBytes + matchBytes + envelope.Length];
        payload[0] = KeyedMatch;
        Span<byte> f = payload.AsSpan(1, factBytes);
        if (fact is IndicatorFact x)
        {
            f[0] = 1;
            BinaryPrimitives.WriteUInt128LittleEndian(f[1..], x.Key);
            BinaryPrimitives.WriteInt32LittleEndian(f[17..], x.Version);
            BinaryPrimitives.WriteInt64LittleEndian(f[21..], x.Person);
            BinaryPrimitives.WriteInt32LittleEndian(f[29..], x.Day);
            f[33] = (byte)x.Outcome;
            BinaryPrimitives.WriteInt16LittleEndian(f[34..], x.Cell);
            BinaryPrimitives.WriteInt64LittleEndian(f[36..], x.Spf2021);
        }
        if (research is not null)
        {
            WriteResearch(payload.AsSpan(1 + factBytes, researchBytes), research);
        }
        else
        {
            payload[1 + factBytes] = NoResearch;
        }
        Span<byte> m = payload.AsSpan(1 + factBytes + researchBytes);
        BinaryPrimitives.WriteInt64LittleEndian(m, sequence);
        BinaryPrimitives.WriteInt64LittleEndian(m[8..], personId);
        int at = RecordText.Write(m, 16, rule);
        BinaryPrimitives.WriteDoubleLittleEndian(m[at..], score);
        envelope.CopyTo(m[(at + 8)..]);
        return payload;
    }

    /// <summary>The research part's first byte when a matched record carries no research row.</summary>
    private const byte NoResearch = 0xFF;

    private static int ResearchBytes(ResearchFact? r) => r is null ? 1
        : ResearchHeadBytes + RecordText.Size(r.SampleDate) + 4 + r.FieldsJson.Length + 1 + r.IdentityKeys.Sum(RecordText.Size);

    /// <summary>Action, key, version, person: the fixed part of a research row.</summary>
    private const int ResearchHeadBytes = 1 + 16 + 4 + 8;

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
        if (payload.Length == 0 || payload[0] is not (WithFactAndResearch or BinaryMatch or KeyedMatch) || payload[1 + FactLength(payload[0])] == NoResearch)
        {
            return null;
        }
        ReadOnlySpan<byte> span = payload[(1 + FactLength(payload[0]))..];
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

    /// <summary>Moves past a matched record's fact and research row, which are skipped by their lengths, not decoded.</summary>
    private static ReadOnlySpan<byte> AfterResearch(ReadOnlySpan<byte> payload)
    {
        ReadOnlySpan<byte> rest = payload[(1 + FactLength(payload[0]))..];
        if (payload[0] == WithFact)
        {
            return rest;
        }
        if (rest[0] == NoResearch)
        {
            return rest[1..];
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

    /// <summary>The matched result a record holds (the fan-out reads every positive's).</summary>
    /// <exception cref="FormatException">The record is damaged.</exception>
    public static MatchedResult Read(ReadOnlySpan<byte> payload)
    {
        if (payload.Length == 0 || payload[0] is not (WithFact or WithFactAndResearch or BinaryMatch or KeyedMatch))
        {
            return JsonSerializer.Deserialize(payload, SidepJson.Default.MatchedResult)!; // the first layout: JSON only
        }
        ReadOnlySpan<byte> m = AfterResearch(payload);
        if (payload[0] is not (BinaryMatch or KeyedMatch))
        {
            return JsonSerializer.Deserialize(m, SidepJson.Default.MatchedResult)!;
        }
        int at = 16;
        string rule = RecordText.Read(m, ref at) ?? "";
        if (m.Length == at + 8)
        {
            throw new InvalidOperationException("this matched record carries no envelope: only a positive's does (the journal holds every result's)");
        }
        return new MatchedResult(BinaryPrimitives.ReadInt64LittleEndian(m), BinaryPrimitives.ReadInt64LittleEndian(m[8..]), rule,
            BinaryPrimitives.ReadDoubleLittleEndian(m[at..]), ResultEnvelopeCodec.Decode(m[(at + 8)..]));
    }

    /// <summary>Feeds a batch to an aggregator (the indicators' or the fan-out's) in order; <paramref name="onFact"/>
    /// also sees each fact, with a way to read its matched result, before it is applied.</summary>
    /// <param name="bySpf2021">Count persons by SPF's 2021 key (birth name, first given name, age, sex) rather than by the
    /// matcher's persons: the matcher's merges then move nothing.</param>
    /// <param name="feeds">Which facts the aggregator is fed (null: every one); merges always are.</param>
    public static void Apply(List<LogEntry> batch, Aggregator aggregator, Func<string?, TestKind> kindOf, Action<IndicatorFact, Func<MatchedResult>>? onFact = null,
        bool bySpf2021 = false, Func<IndicatorFact, bool>? feeds = null)
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
                if (!bySpf2021)
                {
                    aggregator.Merge(merge.From, merge.Into);
                }
                continue;
            }
            ReadOnlyMemory<byte> payload = entry.Payload;
            IndicatorFact? fact;
            if (payload.Span[0] is WithFact or WithFactAndResearch or BinaryMatch or KeyedMatch)
            {
                ReadOnlySpan<byte> f = payload.Span.Slice(1, FactLength(payload.Span[0]));
                fact = f[0] == 0 ? null : new IndicatorFact(BinaryPrimitives.ReadUInt128LittleEndian(f[1..]), BinaryPrimitives.ReadInt32LittleEndian(f[17..]),
                    BinaryPrimitives.ReadInt64LittleEndian(f[21..]), BinaryPrimitives.ReadInt32LittleEndian(f[29..]), (Outcome)f[33], BinaryPrimitives.ReadInt16LittleEndian(f[34..]))
                {
                    Spf2021 = f.Length > FactBytes ? BinaryPrimitives.ReadInt64LittleEndian(f[36..]) : 0,
                };
            }
            else
            {
                MatchedResult legacy = Read(payload.Span);
                ResultEnvelope e = legacy.Envelope;
                fact = Facts.From(e.Result, e.Version, legacy.PersonId, e.ReceivedAt, kindOf);
            }
            if (fact is IndicatorFact x && (feeds is null || feeds(x)))
            {
                onFact?.Invoke(x, () => Read(payload.Span));
                aggregator.Apply(bySpf2021 && x.Spf2021 != 0 ? x with { Person = x.Spf2021 } : x);
            }
        }
    }
}
