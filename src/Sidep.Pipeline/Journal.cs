namespace Sidep.Pipeline;

/// <summary>What a journal record is.</summary>
public enum RecordKind : byte
{
    /// <summary>A raw submission, kept immutably with its hash and the report given for it.</summary>
    Submission = 1,
    /// <summary>A normalised result, on a partition of the log.</summary>
    Result = 2,
    /// <summary>A result held until its local code is mapped to LOINC; keyed by its quarantine id, on no partition.</summary>
    Quarantined = 3,
    /// <summary>Marks quarantined results as replayed (payload: their ids, one per line); written with the replayed results.</summary>
    Released = 4,
    /// <summary>A result with the person it belongs to and the decision (the identity stage's output), on a partition.</summary>
    Matched = 5,
    /// <summary>Two persons proved one (the identity stage's output), on no partition; ordered among the matched results.</summary>
    Merged = 6,
    /// <summary>Fills a damaged range that journal repair moved aside; never read back.</summary>
    Padding = 7,
    /// <summary>Read in place of a result that journal repair moved aside (its number is kept, its content is gone):
    /// consumers skip it.</summary>
    Lost = 8,
}

/// <summary>A record to append: results go on <see cref="Partition"/>; submissions have no partition (-1).</summary>
public readonly record struct LogRecord(RecordKind Kind, int Partition, string Key, ReadOnlyMemory<byte> Payload)
{
    /// <summary>A result's partition key (the person's blocking key), for journals that partition by it themselves.</summary>
    public string? PartitionKey { get; init; }
}

/// <summary>
/// Where the gateway makes submissions and results durable: the embedded log, or the topics of the distributed mode.
/// </summary>
public interface IResultJournal
{
    int PartitionOf(string key);

    /// <summary>Appends in order; returns once every record is durable. The records are enqueued before it returns,
    /// so the order of calls is the order of the journal.</summary>
    Task AppendAsync(IReadOnlyList<LogRecord> records, CancellationToken cancellationToken = default);

    /// <summary>Every result record (its key is the result key), to rebuild the gateway's index at start-up.</summary>
    IEnumerable<LogEntry> ReadAllResults();

    List<LogEntry> ReadPendingQuarantine();

    LogEntry? ReadSubmission(string id);
}

/// <summary>A record read back, with its offset in its partition (results) or its journal position (submissions).</summary>
public readonly record struct LogEntry(RecordKind Kind, int Partition, long Offset, string Key, ReadOnlyMemory<byte> Payload);

/// <summary>
/// The journal cannot take appends now (a write or fsync failed, the disk is full, the device errs): nothing of the
/// append was acknowledged, the journal is as it was before it, and appends resume by themselves once a write succeeds.
/// </summary>
public sealed class JournalUnavailableException(string message, Exception? inner = null) : IOException(message, inner);
