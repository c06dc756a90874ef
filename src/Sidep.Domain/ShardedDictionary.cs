using System.Runtime.InteropServices;

namespace Sidep.Domain;

/// <summary>
/// A dictionary of millions of entries kept in sixteen dictionaries, by the key's hash. One dictionary of a peak day's
/// 2.3 million keys is one array of 100–150 MB on the large-object heap, and each time it doubles the new array stands
/// beside the old one until a full collection; here a growth costs a sixteenth of that, and the collector never sees an
/// array that large. Not thread-safe, like <see cref="Dictionary{TKey, TValue}"/>.
/// </summary>
public sealed class ShardedDictionary<TKey, TValue> where TKey : notnull
{
    private const int ShardBits = 4;

    private readonly Dictionary<TKey, TValue>[] _shards = [.. Enumerable.Range(0, 1 << ShardBits).Select(_ => new Dictionary<TKey, TValue>())];

    /// <summary>The shard of a key: the top bits of its hash mixed (Fibonacci hashing), so that keys whose hashes are
    /// small consecutive numbers — person ids — spread as evenly as random ones.</summary>
    private Dictionary<TKey, TValue> Shard(TKey key) => _shards[(uint)key.GetHashCode() * 0x9E3779B9u >> (32 - ShardBits)];

    public int Count
    {
        get
        {
            int count = 0;
            foreach (Dictionary<TKey, TValue> shard in _shards)
            {
                count += shard.Count;
            }
            return count;
        }
    }

    public TValue this[TKey key]
    {
        get => Shard(key)[key];
        set => Shard(key)[key] = value;
    }

    public bool TryGetValue(TKey key, out TValue value) => Shard(key).TryGetValue(key, out value!);

    public bool ContainsKey(TKey key) => Shard(key).ContainsKey(key);

    public bool Remove(TKey key, out TValue value) => Shard(key).Remove(key, out value!);

    public bool Remove(TKey key) => Shard(key).Remove(key);

    /// <summary>The value of <paramref name="key"/> by reference, added as <c>default</c> when missing
    /// (<see cref="CollectionsMarshal.GetValueRefOrAddDefault{TKey, TValue}(Dictionary{TKey, TValue}, TKey, out bool)"/>).</summary>
    public ref TValue? GetValueRefOrAddDefault(TKey key, out bool exists) => ref CollectionsMarshal.GetValueRefOrAddDefault(Shard(key), key, out exists);

    public void Clear()
    {
        foreach (Dictionary<TKey, TValue> shard in _shards)
        {
            shard.Clear();
        }
    }
}
