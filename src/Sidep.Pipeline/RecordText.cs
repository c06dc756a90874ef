using System.Buffers.Binary;
using System.Text;

namespace Sidep.Pipeline;

/// <summary>A text inside a binary record: <c>[u16 little-endian byte count][UTF-8]</c>, the count 0xFFFF for null. One
/// layout for every record that carries texts (result summaries, matched records' research rows).</summary>
public static class RecordText
{
    /// <summary>The count that stands for null; a text must be shorter than this many bytes.</summary>
    public const int NullCount = ushort.MaxValue;

    /// <summary>The bytes a text takes in a record.</summary>
    public static int Size(string? text) => 2 + (text is null ? 0 : Encoding.UTF8.GetByteCount(text));

    /// <summary>Writes a text at <paramref name="at"/>; returns where the next field starts.</summary>
    public static int Write(Span<byte> span, int at, string? text)
    {
        if (text is null)
        {
            BinaryPrimitives.WriteUInt16LittleEndian(span[at..], NullCount);
            return at + 2;
        }
        int length = Encoding.UTF8.GetBytes(text, span[(at + 2)..]);
        BinaryPrimitives.WriteUInt16LittleEndian(span[at..], (ushort)length);
        return at + 2 + length;
    }

    /// <summary>Reads the text at <paramref name="at"/> and moves past it.</summary>
    public static string? Read(ReadOnlySpan<byte> span, ref int at)
    {
        int length = BinaryPrimitives.ReadUInt16LittleEndian(span[at..]);
        at += 2;
        if (length == NullCount)
        {
            return null;
        }
        string text = Encoding.UTF8.GetString(span.Slice(at, length));
        at += length;
        return text;
    }

    /// <summary>Moves past the text at <paramref name="at"/> without decoding it.</summary>
    public static void Skip(ReadOnlySpan<byte> span, ref int at)
    {
        int length = BinaryPrimitives.ReadUInt16LittleEndian(span[at..]);
        at += 2 + (length == NullCount ? 0 : length);
    }
}
