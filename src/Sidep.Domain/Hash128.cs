namespace Sidep.Domain;

/// <summary>
/// A 128-bit fingerprint (of a result key, of a content) as two words, for the in-memory tables that hold millions of
/// them: <see cref="UInt128"/> is aligned on 16 bytes, which makes every struct, array element and dictionary slot that
/// holds one 8 to 16 bytes larger. Converts to and from <see cref="UInt128"/> implicitly.
/// </summary>
public readonly record struct Hash128(ulong Lo, ulong Hi)
{
    public static implicit operator Hash128(UInt128 value) => new((ulong)value, (ulong)(value >> 64));

    public static implicit operator UInt128(Hash128 value) => new(value.Hi, value.Lo);

    public UInt128 Value => this;

    /// <summary>The fingerprints are hashes already: their low bits are as good as any mix of them.</summary>
    public override int GetHashCode() => (int)Lo ^ (int)(Lo >>> 32);
}
