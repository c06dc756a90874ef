using Sidep.Ingestion;
using Sidep.Pipeline;

namespace Sidep.Tests;

/// <summary>What the system of record holds: the latest version of every result key in a journal (or on the results
/// topic, through <see cref="IResultJournal"/>), with where it lives.</summary>
public static class JournalResults
{
    public sealed record Latest(ResultEnvelope Envelope, int Partition, long Offset, int Records)
    {
        public string AccessionId => Envelope.Result.AccessionId;
        public int Version => Envelope.Version;
        public string? Loinc => Envelope.Result.Loinc;
        public string Interpretation => Envelope.Result.Value.Interpretation.ToString();
    }

    /// <summary>Every result key's latest version, and how many records the key has (one per version journalled).</summary>
    public static List<Latest> Of(IResultJournal journal)
    {
        var latest = new Dictionary<string, Latest>(StringComparer.Ordinal);
        foreach (LogEntry entry in journal.ReadAllResults())
        {
            ResultEnvelope envelope = ResultEnvelopes.Read(entry.Payload.Span, out string? reason) ?? throw new InvalidDataException(reason);
            latest[entry.Key] = latest.TryGetValue(entry.Key, out Latest? known)
                ? (known.Version < envelope.Version ? new Latest(envelope, entry.Partition, entry.Offset, known.Records + 1) : known with { Records = known.Records + 1 })
                : new Latest(envelope, entry.Partition, entry.Offset, 1);
        }
        return [.. latest.Values];
    }
}
