using System.Collections;
using System.Diagnostics.CodeAnalysis;
using System.Text;

namespace Sidep.Transport;

/// <summary>The headers of a message the in-process transport read, made without a dictionary per message: stages look
/// up one or two of them, most often none.</summary>
internal abstract class MessageHeaders : IReadOnlyDictionary<string, string>
{
    public abstract int Count { get; }

    public abstract bool TryGetValue(string key, [MaybeNullWhen(false)] out string value);

    protected abstract IEnumerable<KeyValuePair<string, string>> Pairs();

    public string this[string key] => TryGetValue(key, out string? value) ? value : throw new KeyNotFoundException(key);

    public bool ContainsKey(string key) => TryGetValue(key, out _);

    public IEnumerable<string> Keys => Pairs().Select(p => p.Key);

    public IEnumerable<string> Values => Pairs().Select(p => p.Value);

    public IEnumerator<KeyValuePair<string, string>> GetEnumerator() => Pairs().GetEnumerator();

    IEnumerator IEnumerable.GetEnumerator() => GetEnumerator();
}

/// <summary>One header (a journal topic's record key).</summary>
internal sealed class OneHeader(string name, string value) : MessageHeaders
{
    public override int Count => 1;

    public override bool TryGetValue(string key, [MaybeNullWhen(false)] out string found)
    {
        found = key == name ? value : null;
        return found is not null;
    }

    protected override IEnumerable<KeyValuePair<string, string>> Pairs() => [new(name, value)];
}

/// <summary>Headers left as the envelope encodes them (<c>[7-bit length][UTF-8 name][7-bit length][UTF-8 value]</c>,
/// <paramref name="count"/> times): a lookup compares the names in place and decodes only the value it finds.</summary>
internal sealed class EnvelopeHeaders(ReadOnlyMemory<byte> encoded, int count) : MessageHeaders
{
    public static readonly EnvelopeHeaders None = new(ReadOnlyMemory<byte>.Empty, 0);

    public override int Count => count;

    public override bool TryGetValue(string key, [MaybeNullWhen(false)] out string value)
    {
        ReadOnlySpan<byte> span = encoded.Span;
        Span<byte> name = stackalloc byte[256];
        int nameLength = Encoding.UTF8.TryGetBytes(key, name, out int written) ? written : -1;
        int at = 0;
        for (int i = 0; i < count; i++)
        {
            ReadOnlySpan<byte> candidate = Next(span, ref at);
            ReadOnlySpan<byte> found = Next(span, ref at);
            if (nameLength >= 0 ? candidate.SequenceEqual(name[..nameLength]) : Encoding.UTF8.GetString(candidate) == key)
            {
                value = Encoding.UTF8.GetString(found);
                return true;
            }
        }
        value = null;
        return false;
    }

    protected override IEnumerable<KeyValuePair<string, string>> Pairs()
    {
        var pairs = new List<KeyValuePair<string, string>>(count);
        ReadOnlySpan<byte> span = encoded.Span;
        int at = 0;
        for (int i = 0; i < count; i++)
        {
            string name = Encoding.UTF8.GetString(Next(span, ref at));
            pairs.Add(new(name, Encoding.UTF8.GetString(Next(span, ref at))));
        }
        return pairs;
    }

    /// <summary>The length-prefixed bytes at <paramref name="at"/>, which moves past them.</summary>
    public static ReadOnlySpan<byte> Next(ReadOnlySpan<byte> span, ref int at)
    {
        int length = 0;
        for (int shift = 0; ; shift += 7)
        {
            byte b = span[at++];
            length |= (b & 0x7F) << shift;
            if (b < 0x80)
            {
                break;
            }
        }
        ReadOnlySpan<byte> bytes = span.Slice(at, length);
        at += length;
        return bytes;
    }
}
