using System.Buffers.Binary;
using Sidep.Domain;

namespace Sidep.Pipeline;

/// <summary>A result to decide: 128-bit fingerprints of its key (lab, accession, test) and of its content.</summary>
public readonly record struct KeyedContent(UInt128 Key, UInt128 Content)
{
    /// <summary>The fingerprint of a content hash (its first 16 bytes; the journal keeps the whole hash).</summary>
    public static UInt128 Fingerprint(ReadOnlySpan<byte> sha256) => BinaryPrimitives.ReadUInt128LittleEndian(sha256);

    /// <summary>A result to decide: its key and its content hash.</summary>
    public static KeyedContent Of(ResultKey key, ReadOnlySpan<byte> sha256) => new(key.Fingerprint(), Fingerprint(sha256));

    /// <summary>A result record of the journal as the index holds it: its key and content, and its version; null when
    /// the record's key is not a result key. What every index rebuilds or fills itself from.</summary>
    public static (KeyedContent Result, int Version)? OfRecord(in LogEntry entry) =>
        ResultRecords.ParseKey(entry.Key) is ResultKey key
            ? (Of(key, ResultRecords.ContentHash(entry.Payload.Span)), ResultRecords.Version(entry.Payload.Span))
            : null;
}

/// <summary>What the result-key index answers for one result.</summary>
/// <param name="Version">A duplicate: the version this content already is. Otherwise: the version to journal it as.</param>
/// <param name="Latest">The newest version of the key known, this one included (greater than <paramref name="Version"/>
/// when a newer version supersedes the one sent again).</param>
/// <param name="Duplicate">The content is a version already made durable: nothing to journal, no effect.</param>
public readonly record struct KeyAnswer(int Version, int Latest, bool Duplicate);

/// <summary>
/// The result-key index (fixed decision 11): for every result key, the content fingerprint of each of its versions, so
/// that a resend of any earlier version is a duplicate of it — never a new version that undoes a newer one — and only new
/// content is a correction. The embedded mode keeps it in the gateway's process, rebuilt from the journal; the distributed
/// mode shares one among every gateway, so that each result gets one answer whichever gateway it reaches.
/// </summary>
public interface IResultKeyIndex
{
    /// <summary>What <see cref="DecideAsync"/> would answer now, reserving nothing (a dry run). Items are decided in
    /// order: a key met twice is answered against the first as well.</summary>
    Task<KeyAnswer[]> PeekAsync(IReadOnlyList<KeyedContent> items, CancellationToken cancellationToken = default);

    /// <summary>
    /// Decides every item in order and reserves the new versions, then calls <paramref name="journal"/> with the answers:
    /// it enqueues the journal write of what is not a duplicate and returns the task that completes once that write is
    /// durable. The reservations are confirmed then, and the answers returned. A duplicate is answered only for a version
    /// already durable. If the write fails, its failure is rethrown and the index does not take the reserved versions
    /// for durable: a resend is journalled again, never taken for a duplicate of a result that was lost.
    /// </summary>
    Task<KeyAnswer[]> DecideAsync(IReadOnlyList<KeyedContent> items, Func<KeyAnswer[], Task> journal, CancellationToken cancellationToken = default);
}

/// <summary>
/// Where a result is journalled in the distributed mode (fixed decision 5): on the partition of its person's blocking
/// key (birth date + sex), except a result with an INS, which goes where that INS was first seen, so that the one match
/// worker holding the INS holder's partition decides it — and links it by INS, as the embedded mode's single matcher
/// does, even when its birth date or sex was mistyped or only partly known.
/// </summary>
public interface IPartitionRouter
{
    /// <summary>For each result, its (trusted) INS or null and its own partition key: the partition key to journal it
    /// under. An INS not seen before is placed under the first of its results in the list.</summary>
    Task<string[]> RouteAsync(IReadOnlyList<(string? Ins, string PartitionKey)> results, CancellationToken cancellationToken = default);
}
