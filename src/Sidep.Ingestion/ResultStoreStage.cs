using System.Text.Json;
using Sidep.Domain;
using Sidep.Journal;
using Sidep.Pipeline;
using Sidep.Storage.Sqlite;

namespace Sidep.Ingestion;

/// <summary>
/// Consumes the log into the state store's results table (latest version per key). Writes and the consumer's
/// position go in one transaction, so a restart resumes exactly where it stopped: nothing lost, nothing twice.
/// </summary>
public sealed class ResultStoreStage(EmbeddedLog log, StateStore store)
{
    public const string ConsumerName = "result-store";

    /// <summary>Moves every partition up to its end once; returns how many results it applied.</summary>
    public int DrainOnce(int maxPerPartition = 1000)
    {
        int applied = 0;
        for (int p = 0; p < log.PartitionCount; p++)
        {
            long offset = store.GetOffset(ConsumerName, p);
            List<LogEntry> entries = log.Read(p, offset, maxPerPartition);
            if (entries.Count == 0)
            {
                continue;
            }
            var rows = new List<StoredResult>(entries.Count);
            foreach (LogEntry e in entries)
            {
                if (e.Kind == RecordKind.Lost)
                {
                    continue; // moved aside by journal repair: its number stays, its content is gone
                }
                ReadOnlySpan<byte> json = ResultRecords.Envelope(e.Payload.Span);
                // The envelope's JSON is stored as it is in the journal: read for its fields, not written again.
                rows.Add(Row(JsonSerializer.Deserialize(json, SidepJson.Default.ResultEnvelope)!, System.Text.Encoding.UTF8.GetString(json)));
            }
            store.ApplyResults(ConsumerName, p, offset + entries.Count, rows);
            applied += rows.Count;
        }
        return applied;
    }

    /// <summary>The stored form of a result's version.</summary>
    public static StoredResult Row(ResultEnvelope env, string? json = null)
    {
        LabResult r = env.Result;
        ResultKey key = r.Key;
        return new StoredResult(key.LabId, key.AccessionId, key.TestCode, env.Version, r.Status.ToString(), r.Value.Interpretation.ToString(),
            r.Loinc, r.SampledAt?.Date.ToString("yyyy-MM-dd", System.Globalization.CultureInfo.InvariantCulture), r.PartitionKey,
            json ?? JsonSerializer.Serialize(env, SidepJson.Default.ResultEnvelope));
    }

    public async Task RunAsync(CancellationToken cancellationToken)
    {
        while (!cancellationToken.IsCancellationRequested)
        {
            if (DrainOnce() == 0)
            {
                await log.WaitForDataAsync(TimeSpan.FromMilliseconds(200), cancellationToken).ConfigureAwait(false);
            }
        }
    }
}
