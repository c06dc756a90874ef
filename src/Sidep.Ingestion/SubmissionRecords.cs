using System.Buffers;
using System.Buffers.Binary;
using System.Text.Json;
using K4os.Compression.LZ4;

namespace Sidep.Ingestion;

/// <summary>
/// The one owner of a submission record's layout (the journal's record of what a lab sent, and the submissions topic's):
/// <c>[i32: -2][LZ4 frame of: [i32: metadata length][metadata as JSON][the raw bytes as received]]</c>. The metadata holds
/// the per-item report, so a thousand-result submission's record was as much JSON as raw message; both compress well
/// (K4os.Compression.LZ4, fast level: a few microseconds a result, read back only when a submission is looked up).
/// Records written before compression (<c>[i32: metadata length][metadata][raw]</c>, the length never negative) are still
/// read.
/// </summary>
public static class SubmissionRecords
{
    private const int Compressed = -2;

    [ThreadStatic]
    private static ArrayBufferWriter<byte>? t_record;

    /// <summary>The largest writer a thread keeps between submission records.</summary>
    private const int KeptWriterBytes = 1 << 20;

    /// <summary>A submission record, its report already written as JSON (<paramref name="reportJson"/>: the bytes the
    /// lab's JSON answer holds too, written once); <paramref name="stored"/>'s own report is not read.</summary>
    public static byte[] Encode(StoredSubmission stored, ReadOnlySpan<byte> reportJson, in ReadOnlySequence<byte> body)
    {
        var meta = new ArrayBufferWriter<byte>(256 + reportJson.Length);
        using (var writer = new Utf8JsonWriter(meta))
        {
            // StoredSubmission as its JSON contract writes it (Decode reads it with that contract; a test holds them equal).
            writer.WriteStartObject();
            writer.WriteString("id", stored.Id);
            writer.WriteString("lab", stored.Lab);
            writer.WriteString("format", stored.Format);
            writer.WriteString("channel", stored.Channel);
            writer.WriteString("receivedAt", stored.ReceivedAt);
            writer.WriteString("sha256", stored.Sha256);
            writer.WritePropertyName("report");
            writer.WriteRawValue(reportJson, skipInputValidation: true);
            writer.WriteEndObject();
        }
        int length = 4 + meta.WrittenCount + (int)body.Length;
        byte[] plain = ArrayPool<byte>.Shared.Rent(length);
        try
        {
            BinaryPrimitives.WriteInt32LittleEndian(plain, meta.WrittenCount);
            meta.WrittenSpan.CopyTo(plain.AsSpan(4));
            body.CopyTo(plain.AsSpan(4 + meta.WrittenCount));
            // The compressed record is made in this thread's writer (kept between records: no buffer grown per record),
            // then copied out at its size.
            ArrayBufferWriter<byte> record = t_record ??= new ArrayBufferWriter<byte>(64 * 1024);
            record.ResetWrittenCount();
            BinaryPrimitives.WriteInt32LittleEndian(record.GetSpan(4), Compressed);
            record.Advance(4);
            LZ4Pickler.Pickle(plain.AsSpan(0, length), record, LZ4Level.L00_FAST);
            byte[] encoded = record.WrittenSpan.ToArray();
            if (record.Capacity > KeptWriterBytes)
            {
                t_record = null; // a large submission's buffer is not kept
            }
            return encoded;
        }
        finally
        {
            ArrayPool<byte>.Shared.Return(plain);
        }
    }

    /// <summary>The metadata and raw bytes of a submission record.</summary>
    /// <exception cref="InvalidDataException">The record is damaged.</exception>
    public static (StoredSubmission Meta, ReadOnlyMemory<byte> Raw) Decode(ReadOnlyMemory<byte> payload)
    {
        try
        {
            ReadOnlyMemory<byte> plain = BinaryPrimitives.ReadInt32LittleEndian(payload.Span) == Compressed ? LZ4Pickler.Unpickle(payload.Span[4..]) : payload;
            int metaLength = BinaryPrimitives.ReadInt32LittleEndian(plain.Span);
            StoredSubmission meta = JsonSerializer.Deserialize(plain.Span.Slice(4, metaLength), SidepJson.Default.StoredSubmission)
                ?? throw new InvalidDataException("a submission record without metadata");
            return (meta, plain[(4 + metaLength)..]);
        }
        catch (Exception ex) when (ex is ArgumentOutOfRangeException or JsonException or InvalidOperationException or IndexOutOfRangeException)
        {
            throw new InvalidDataException($"a damaged submission record: {ex.Message}", ex);
        }
    }
}
