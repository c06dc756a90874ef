using System.Buffers.Binary;
using Sidep.Domain;

namespace Sidep.Pipeline;

/// <summary>What the results table keeps of a result version, readable without its JSON.</summary>
public sealed record ResultSummary(string LabId, string AccessionId, string TestCode, ResultStatus Status, Interpretation Interpretation, string? Loinc,
    DateOnly? SampleDate, string PartitionKey);

/// <summary>
/// The one owner of a result record's layout, on the embedded journal and on the results topic alike:
/// <c>[32 bytes: content hash][i32: version][0x01][u16: summary length][summary][the result envelope as JSON]</c>, keyed
/// by the result key <c>lab ␟ accession ␟ test code</c>. The summary (<see cref="ResultSummary"/>, binary) is what the
/// store stage needs, so that it never parses the JSON. Records written before the summary existed
/// (<c>[hash][version][JSON]</c>: the JSON starts with '{', never 0x01) are still read. Nobody else knows the offsets
/// or the separator.
/// </summary>
public static class ResultRecords
{
    private const int HashBytes = 32;
    private const int BodyAt = HashBytes + 4;
    private const byte WithSummary = 0x01;
    private const char KeySeparator = '\u001F';

    /// <summary>A result version's payload: its content hash (the first 32 bytes of <paramref name="contentHash"/>), its
    /// version, the summary of <paramref name="result"/>, its envelope.</summary>
    public static byte[] Encode(ReadOnlySpan<byte> contentHash, int version, LabResult result, ReadOnlySpan<byte> envelopeJson)
    {
        ResultKey key = result.Key;
        string?[] texts = [key.LabId, key.AccessionId, key.TestCode, result.Loinc, result.PartitionKey];
        int[] sizes = [.. texts.Select(RecordText.Size)];
        int summaryLength = 1 + 1 + 4 + sizes.Sum();
        if (sizes.Any(size => size - 2 >= RecordText.NullCount) || summaryLength > ushort.MaxValue)
        {
            // Fields too long for a summary (no parser lets them through): the record without one, read by its JSON.
            byte[] plain = new byte[BodyAt + envelopeJson.Length];
            contentHash[..HashBytes].CopyTo(plain);
            BinaryPrimitives.WriteInt32LittleEndian(plain.AsSpan(HashBytes), version);
            envelopeJson.CopyTo(plain.AsSpan(BodyAt));
            return plain;
        }
        byte[] payload = new byte[BodyAt + 3 + summaryLength + envelopeJson.Length];
        contentHash[..HashBytes].CopyTo(payload);
        BinaryPrimitives.WriteInt32LittleEndian(payload.AsSpan(HashBytes), version);
        Span<byte> s = payload.AsSpan(BodyAt);
        s[0] = WithSummary;
        BinaryPrimitives.WriteUInt16LittleEndian(s[1..], (ushort)summaryLength);
        s[3] = (byte)result.Status;
        s[4] = (byte)result.Value.Interpretation;
        BinaryPrimitives.WriteInt32LittleEndian(s[5..], result.SampledAt?.Date.DayNumber ?? -1);
        int at = 9;
        foreach (string? text in texts)
        {
            at = RecordText.Write(s, at, text);
        }
        envelopeJson.CopyTo(s[at..]);
        return payload;
    }

    /// <summary>Whether the bytes are long enough to be a result payload (a hash, a version and some JSON).</summary>
    public static bool IsResult(ReadOnlySpan<byte> payload) => payload.Length > BodyAt;

    public static ReadOnlySpan<byte> ContentHash(ReadOnlySpan<byte> payload) => payload[..HashBytes];

    public static int Version(ReadOnlySpan<byte> payload) => BinaryPrimitives.ReadInt32LittleEndian(payload[HashBytes..]);

    private static bool HasSummary(ReadOnlySpan<byte> payload) => payload.Length > BodyAt + 3 && payload[BodyAt] == WithSummary;

    /// <summary>The envelope's JSON.</summary>
    public static ReadOnlySpan<byte> Envelope(ReadOnlySpan<byte> payload) =>
        HasSummary(payload) ? payload[(BodyAt + 3 + BinaryPrimitives.ReadUInt16LittleEndian(payload[(BodyAt + 1)..]))..] : payload[BodyAt..];

    /// <summary>The summary of a result payload; null for a record written before summaries (read its JSON).</summary>
    /// <exception cref="ArgumentOutOfRangeException">The summary is cut short (damaged bytes).</exception>
    public static ResultSummary? Summary(ReadOnlySpan<byte> payload)
    {
        if (!HasSummary(payload))
        {
            return null;
        }
        ReadOnlySpan<byte> s = payload.Slice(BodyAt, 3 + BinaryPrimitives.ReadUInt16LittleEndian(payload[(BodyAt + 1)..]));
        int day = BinaryPrimitives.ReadInt32LittleEndian(s[5..]);
        int at = 9;
        string lab = RecordText.Read(s, ref at) ?? "", accession = RecordText.Read(s, ref at) ?? "", test = RecordText.Read(s, ref at) ?? "";
        string? loinc = RecordText.Read(s, ref at);
        string partitionKey = RecordText.Read(s, ref at) ?? "";
        return new ResultSummary(lab, accession, test, (ResultStatus)s[3], (Interpretation)s[4], loinc, day < 0 ? null : DateOnly.FromDayNumber(day), partitionKey);
    }

    /// <summary>The record key of a result: its lab, accession and test code.</summary>
    public static string Key(ResultKey key) => $"{key.LabId}{KeySeparator}{key.AccessionId}{KeySeparator}{key.TestCode}";

    /// <summary>The result key a record key names, or null when it is not one.</summary>
    public static ResultKey? ParseKey(string key) =>
        key.Split(KeySeparator) is [string lab, string accession, string test] ? new ResultKey(lab, accession, test) : null;
}
