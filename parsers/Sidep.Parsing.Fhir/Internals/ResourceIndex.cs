using System.Text.Json;

namespace Sidep.Parsing.Fhir.Internals;

/// <summary>One resource of the submission: where its JSON object lies, how it is named, and its path. Compared by
/// reference (it is the resource), and light: a bundle has one per entry, so a top-level entry's path is made only when
/// a position is reported, and its list of contained resources only when it has one.</summary>
internal sealed class Entry(int index, string type, string? id, string? fullUrl, int start, int end, string? path, Entry? owner)
{
    private List<Entry>? _contained;

    public int Index { get; } = index;
    public string Type { get; } = type;
    public string? Id { get; } = id;
    public string? FullUrl { get; } = fullUrl;
    public int Start { get; } = start;
    public int End { get; } = end;
    public Entry? Owner { get; } = owner;

    /// <summary>Its path in the submission: <c>Bundle.entry[i].resource</c> unless given.</summary>
    public string Path => path ??= $"Bundle.entry[{Index}].resource";

    /// <summary>The path of an element of it (its own path when <paramref name="element"/> is empty), in one string.</summary>
    public string PathTo(string element) => element.Length == 0 ? Path
        : path is null ? $"Bundle.entry[{Index}].resource.{element}" : string.Concat(path, ".", element);

    public IReadOnlyList<Entry> Contained => (IReadOnlyList<Entry>?)_contained ?? [];

    public void Contain(Entry contained) => (_contained ??= []).Add(contained);
}

/// <summary>
/// Pass 1: finds every resource (bundle entries, or the single root resource, and their contained resources) with
/// Utf8JsonReader, skipping over everything else, and answers references: urn:uuid / absolute fullUrl, relative
/// "Type/id", and "#id" to a contained resource.
/// </summary>
internal sealed class ResourceIndex
{
    public const int MaxDepth = 64;

    public List<Entry> Entries { get; } = [];
    public string? RootType { get; private set; }
    public string? BundleType { get; private set; }

    /// <summary>The entries by the two names each has (its fullUrl, its Type/id), made at the first reference resolved in a
    /// bundle of more than <see cref="ScannedEntries"/> entries; a smaller one is scanned (a dictionary and a Type/id string
    /// per entry were a third of what a one-observation bundle cost).</summary>
    private Dictionary<string, Entry>? _byUrl;

    private const int ScannedEntries = 8;

    public static JsonReaderOptions Options => new() { MaxDepth = MaxDepth, CommentHandling = JsonCommentHandling.Skip, AllowTrailingCommas = true };

    public void Build(ReadOnlySpan<byte> json)
    {
        var r = new Utf8JsonReader(json, Options);
        if (!r.Read() || r.TokenType != JsonTokenType.StartObject)
        {
            throw new JsonException("the body is not a JSON object");
        }
        int rootStart = (int)r.TokenStartIndex;
        string? type = null, id = null;
        List<(int Start, int End, string? Type, string? Id)>? rootContained = null;
        bool sawEntries = false;
        while (r.Read() && r.TokenType == JsonTokenType.PropertyName)
        {
            if (r.ValueTextEquals("resourceType"u8))
            {
                type = JsonRead.String(ref r);
            }
            else if (r.ValueTextEquals("id"u8))
            {
                id = JsonRead.String(ref r);
            }
            else if (r.ValueTextEquals("type"u8))
            {
                BundleType = JsonRead.String(ref r);
            }
            else if (r.ValueTextEquals("entry"u8))
            {
                sawEntries = true;
                ReadEntries(ref r, json);
            }
            else if (r.ValueTextEquals("contained"u8))
            {
                rootContained = ReadContained(ref r);
            }
            else
            {
                r.Read();
                r.Skip();
            }
        }
        int rootEnd = (int)r.BytesConsumed;
        while (r.Read())
        {
            // drain: trailing tokens are a JSON error the reader reports
        }
        RootType = type;
        if (type != "Bundle")
        {
            var root = new Entry(0, type ?? "?", id, null, rootStart, rootEnd, type ?? "Resource", null);
            Entries.Add(root);
            foreach ((int start, int end, string? ctype, string? cid) in rootContained ?? [])
            {
                root.Contain(new Entry(-1, ctype ?? "?", cid, null, start, end, $"{root.Path}.contained[{root.Contained.Count}]", root));
            }
        }
        else if (!sawEntries)
        {
            BundleType ??= "";
        }
    }

    private void ReadEntries(ref Utf8JsonReader r, ReadOnlySpan<byte> json)
    {
        r.Read();
        if (r.TokenType != JsonTokenType.StartArray)
        {
            r.Skip();
            return;
        }
        int index = 0;
        while (r.Read() && r.TokenType == JsonTokenType.StartObject)
        {
            string? fullUrl = null;
            int start = -1, end = -1;
            string? type = null, id = null;
            List<(int Start, int End, string? Type, string? Id)>? contained = null;
            while (r.Read() && r.TokenType == JsonTokenType.PropertyName)
            {
                if (r.ValueTextEquals("fullUrl"u8))
                {
                    fullUrl = JsonRead.String(ref r);
                }
                else if (r.ValueTextEquals("resource"u8))
                {
                    r.Read();
                    if (r.TokenType != JsonTokenType.StartObject)
                    {
                        r.Skip();
                        continue;
                    }
                    start = (int)r.TokenStartIndex;
                    while (r.Read() && r.TokenType == JsonTokenType.PropertyName)
                    {
                        if (r.ValueTextEquals("resourceType"u8)) type = JsonRead.String(ref r);
                        else if (r.ValueTextEquals("id"u8)) id = JsonRead.String(ref r);
                        else if (r.ValueTextEquals("contained"u8)) contained = ReadContained(ref r);
                        else
                        {
                            r.Read();
                            r.Skip();
                        }
                    }
                    end = (int)r.BytesConsumed;
                }
                else
                {
                    r.Read();
                    r.Skip();
                }
            }
            if (start >= 0)
            {
                var entry = new Entry(index, type ?? "?", id, fullUrl, start, end, null, null);
                foreach ((int cs, int ce, string? ct, string? ci) in contained ?? [])
                {
                    entry.Contain(new Entry(-1, ct ?? "?", ci, null, cs, ce, $"{entry.Path}.contained[{entry.Contained.Count}]", entry));
                }
                Entries.Add(entry);
            }
            index++;
        }
    }

    private static List<(int Start, int End, string? Type, string? Id)> ReadContained(ref Utf8JsonReader r)
    {
        var list = new List<(int, int, string?, string?)>();
        r.Read();
        if (r.TokenType != JsonTokenType.StartArray)
        {
            r.Skip();
            return list;
        }
        while (r.Read() && r.TokenType == JsonTokenType.StartObject)
        {
            int start = (int)r.TokenStartIndex;
            string? type = null, id = null;
            while (r.Read() && r.TokenType == JsonTokenType.PropertyName)
            {
                if (r.ValueTextEquals("resourceType"u8)) type = JsonRead.String(ref r);
                else if (r.ValueTextEquals("id"u8)) id = JsonRead.String(ref r);
                else
                {
                    r.Read();
                    r.Skip();
                }
            }
            list.Add((start, (int)r.BytesConsumed, type, id));
        }
        return list;
    }

    /// <summary>The entries by name, first come first kept (as a reference resolves in a scanned bundle): two names an entry,
    /// sized once.</summary>
    private Dictionary<string, Entry> ByUrl()
    {
        if (_byUrl is null)
        {
            _byUrl = new Dictionary<string, Entry>(2 * Entries.Count, StringComparer.Ordinal);
            foreach (Entry entry in Entries)
            {
                if (entry.FullUrl is not null)
                {
                    _byUrl.TryAdd(entry.FullUrl, entry);
                }
                if (entry.Id is not null)
                {
                    _byUrl.TryAdd($"{entry.Type}/{entry.Id}", entry);
                }
            }
        }
        return _byUrl;
    }

    /// <summary>The entry <paramref name="name"/> names (its fullUrl or its Type/id), or null.</summary>
    private Entry? Named(string name)
    {
        if (Entries.Count > ScannedEntries)
        {
            return ByUrl().GetValueOrDefault(name);
        }
        foreach (Entry entry in Entries)
        {
            if (entry.FullUrl == name || (entry.Id is { } id && name.Length == entry.Type.Length + 1 + id.Length
                && name.StartsWith(entry.Type, StringComparison.Ordinal) && name[entry.Type.Length] == '/' && name.EndsWith(id, StringComparison.Ordinal)))
            {
                return entry;
            }
        }
        return null;
    }

    /// <summary>The resource a reference names, seen from <paramref name="from"/> (for "#id"), or null.</summary>
    public Entry? Resolve(string? reference, Entry from)
    {
        if (string.IsNullOrEmpty(reference))
        {
            return null;
        }
        if (reference[0] == '#')
        {
            Entry owner = from.Owner ?? from;
            string id = reference[1..];
            foreach (Entry c in owner.Contained)
            {
                if (c.Id == id)
                {
                    return c;
                }
            }
            return null;
        }
        if (Named(reference) is Entry found)
        {
            return found;
        }
        // An absolute URL whose tail is Type/id, or a versioned reference Type/id/_history/n.
        string[] parts = reference.Split('/');
        for (int i = parts.Length - 2; i >= 0; i--)
        {
            if (Named($"{parts[i]}/{parts[i + 1]}") is Entry tail)
            {
                return tail;
            }
        }
        return null;
    }
}
