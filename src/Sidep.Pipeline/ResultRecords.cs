using System.Buffers.Binary;
using Sidep.Domain;

namespace Sidep.Pipeline;

/// <summary>
/// The one owner of a result record's layout, on the embedded journal and on the results topic alike:
/// <c>[32 bytes: content hash][i32: version][the result envelope as JSON]</c>, keyed by the result key
/// <c>lab ␟ accession ␟ test code</c>. Nobody else knows the offsets or the separator.
/// </summary>
public static class ResultRecords
{
    private const int HashBytes = 32;
    private const int EnvelopeAt = HashBytes + 4;
    private const char KeySeparator = '\u001F';

    /// <summary>A result version's payload: its content hash (the first 32 bytes of <paramref name="contentHash"/>), its version, its envelope.</summary>
    public static byte[] Encode(ReadOnlySpan<byte> contentHash, int version, ReadOnlySpan<byte> envelopeJson)
    {
        byte[] payload = new byte[EnvelopeAt + envelopeJson.Length];
        contentHash[..HashBytes].CopyTo(payload);
        BinaryPrimitives.WriteInt32LittleEndian(payload.AsSpan(HashBytes), version);
        envelopeJson.CopyTo(payload.AsSpan(EnvelopeAt));
        return payload;
    }

    /// <summary>Whether the bytes are long enough to be a result payload (a hash, a version and some JSON).</summary>
    public static bool IsResult(ReadOnlySpan<byte> payload) => payload.Length > EnvelopeAt;

    public static ReadOnlySpan<byte> ContentHash(ReadOnlySpan<byte> payload) => payload[..HashBytes];

    public static int Version(ReadOnlySpan<byte> payload) => BinaryPrimitives.ReadInt32LittleEndian(payload[HashBytes..]);

    /// <summary>The envelope's JSON.</summary>
    public static ReadOnlySpan<byte> Envelope(ReadOnlySpan<byte> payload) => payload[EnvelopeAt..];

    /// <summary>The record key of a result: its lab, accession and test code.</summary>
    public static string Key(ResultKey key) => $"{key.LabId}{KeySeparator}{key.AccessionId}{KeySeparator}{key.TestCode}";

    /// <summary>The result key a record key names, or null when it is not one.</summary>
    public static ResultKey? ParseKey(string key) =>
        key.Split(KeySeparator) is [string lab, string accession, string test] ? new ResultKey(lab, accession, test) : null;
}
