using System.Buffers.Binary;
using Sidep.Domain;

namespace Sidep.Pipeline;

/// <summary>
/// The one owner of a result record's layout, on the embedded journal and on the results topic alike:
/// <c>[32 bytes: content hash][i32: version][0x02][the envelope, binary: <see cref="ResultEnvelopeCodec"/>]</c>, keyed
/// by the result key <c>lab ␟ accession ␟ test code</c>. Records of earlier layouts are still read: the envelope as JSON
/// right after the version (it starts with '{'), or behind a marker 0x01 and a binary summary
/// (<c>[0x01][u16: summary length][summary][JSON]</c>); <see cref="EnvelopeJson"/> gives their JSON. Nobody else knows
/// the offsets or the separator.
/// </summary>
public static class ResultRecords
{
    private const int HashBytes = 32;
    private const int BodyAt = HashBytes + 4;
    private const byte JsonWithSummary = 0x01;
    private const byte Binary = 0x02;
    private const char KeySeparator = '\u001F';

    /// <summary>A result version's payload: its content hash (the first 32 bytes of <paramref name="contentHash"/>), its
    /// version and its envelope.</summary>
    public static byte[] Encode(ReadOnlySpan<byte> contentHash, ResultEnvelope envelope)
    {
        var w = new RecordWriter(1024);
        try
        {
            w.Skip(BodyAt);
            w.Byte(Binary);
            ResultEnvelopeCodec.Write(ref w, envelope);
            byte[] payload = w.ToArray();
            contentHash[..HashBytes].CopyTo(payload);
            BinaryPrimitives.WriteInt32LittleEndian(payload.AsSpan(HashBytes), envelope.Version);
            return payload;
        }
        finally
        {
            w.Dispose();
        }
    }

    /// <summary>Whether the bytes are long enough to be a result payload (a hash, a version and an envelope).</summary>
    public static bool IsResult(ReadOnlySpan<byte> payload) => payload.Length > BodyAt;

    public static ReadOnlySpan<byte> ContentHash(ReadOnlySpan<byte> payload) => payload[..HashBytes];

    public static int Version(ReadOnlySpan<byte> payload) => BinaryPrimitives.ReadInt32LittleEndian(payload[HashBytes..]);

    /// <summary>Whether the envelope is binary (else JSON: a record of an earlier layout).</summary>
    public static bool IsBinary(ReadOnlySpan<byte> payload) => payload.Length > BodyAt + 1 && payload[BodyAt] == Binary;

    /// <summary>The envelope's binary form, as <see cref="ResultEnvelopeCodec"/> reads it (a binary record only).</summary>
    public static ReadOnlySpan<byte> EnvelopeBytes(ReadOnlySpan<byte> payload) =>
        IsBinary(payload) ? payload[(BodyAt + 1)..] : throw new FormatException("a result record of an earlier layout: its envelope is JSON");

    /// <summary>The envelope of a binary record.</summary>
    /// <exception cref="FormatException">Not a binary record, or its envelope is damaged.</exception>
    public static ResultEnvelope Envelope(ReadOnlySpan<byte> payload) => ResultEnvelopeCodec.Decode(EnvelopeBytes(payload));

    /// <summary>The envelope's JSON in a record of an earlier layout.</summary>
    /// <exception cref="ArgumentOutOfRangeException">The record is cut short.</exception>
    public static ReadOnlySpan<byte> EnvelopeJson(ReadOnlySpan<byte> payload) =>
        payload.Length > BodyAt + 3 && payload[BodyAt] == JsonWithSummary
            ? payload[(BodyAt + 3 + BinaryPrimitives.ReadUInt16LittleEndian(payload[(BodyAt + 1)..]))..]
            : payload[BodyAt..];

    /// <summary>The record key of a result: its lab, accession and test code.</summary>
    public static string Key(ResultKey key) => $"{key.LabId}{KeySeparator}{key.AccessionId}{KeySeparator}{key.TestCode}";

    /// <summary>The result key a record key names, or null when it is not one.</summary>
    public static ResultKey? ParseKey(string key) =>
        key.Split(KeySeparator) is [string lab, string accession, string test] ? new ResultKey(lab, accession, test) : null;
}
