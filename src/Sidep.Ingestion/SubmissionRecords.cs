using System.Buffers;
using System.Buffers.Binary;
using System.Text.Json;
using K4os.Compression.LZ4;
using Sidep.Domain;

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

    /// <summary>A submission record, its report already written as JSON (<paramref name="reportJson"/>: the bytes the
    /// lab's JSON answer holds too, written once); <paramref name="stored"/>'s own report is not read.</summary>
    public static byte[] Encode(StoredSubmission stored, ReadOnlySpan<byte> reportJson, in ReadOnlySequence<byte> body)
    {
        using var meta = new PooledBufferWriter(256 + reportJson.Length);
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
        int length = 4 + meta.WrittenSpan.Length + (int)body.Length;
        byte[] plain = ArrayPool<byte>.Shared.Rent(length);
        try
        {
            BinaryPrimitives.WriteInt32LittleEndian(plain, meta.WrittenSpan.Length);
            meta.WrittenSpan.CopyTo(plain.AsSpan(4));
            body.CopyTo(plain.AsSpan(4 + meta.WrittenSpan.Length));
            // The compressed record is made in a pooled buffer, then copied out at its size (one array per record).
            using var record = new PooledBufferWriter(length / 2 + 64);
            BinaryPrimitives.WriteInt32LittleEndian(record.GetSpan(4), Compressed);
            record.Advance(4);
            LZ4Pickler.Pickle(plain.AsSpan(0, length), record, LZ4Level.L00_FAST);
            return record.WrittenSpan.ToArray();
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

/// <summary>An <see cref="IBufferWriter{T}"/> over arrays of the shared pool: grows by renting a larger one, returns
/// what it holds when disposed.</summary>
internal sealed class PooledBufferWriter(int initialCapacity) : IBufferWriter<byte>, IDisposable
{
    private byte[] _buffer = ArrayPool<byte>.Shared.Rent(Math.Max(initialCapacity, 256));
    private int _written;

    public ReadOnlySpan<byte> WrittenSpan => _buffer.AsSpan(0, _written);

    public void Advance(int count)
    {
        ArgumentOutOfRangeException.ThrowIfNegative(count);
        ArgumentOutOfRangeException.ThrowIfGreaterThan(count, _buffer.Length - _written);
        _written += count;
    }

    public Memory<byte> GetMemory(int sizeHint = 0)
    {
        Reserve(sizeHint);
        return _buffer.AsMemory(_written);
    }

    public Span<byte> GetSpan(int sizeHint = 0)
    {
        Reserve(sizeHint);
        return _buffer.AsSpan(_written);
    }

    private void Reserve(int sizeHint) => PooledBuffers.Grow(ref _buffer, _written, _written + Math.Max(sizeHint, 1));

    public void Dispose()
    {
        ArrayPool<byte>.Shared.Return(_buffer);
        _buffer = [];
    }
}
