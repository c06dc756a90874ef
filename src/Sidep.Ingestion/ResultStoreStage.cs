using System.Text.Json;
using Sidep.Domain;
using Sidep.Pipeline;
using Sidep.Transport;

namespace Sidep.Ingestion;

/// <summary>
/// STORE: results from the results topic (the journal itself in the embedded mode, Kafka in the distributed one) into
/// the store's results table (latest version per key; SQLite or PostgreSQL). Each partition's rows and its position are
/// written in one store transaction, and only then is the transport told the work is durable; what a crash makes
/// the transport deliver again is recognised by the store's position and skipped, so nothing is counted twice. A
/// message that is not a result goes to the dead-letter topic with the reason, and the stream goes on.
/// </summary>
public sealed class ResultStoreStage(IStageTransport transport, IStageStore store, string topic = StageTopics.Results, string group = "sidep-result-store")
    : IStageWorker
{
    public const string ConsumerName = "result-store";

    private readonly IStageConsumer _consumer = transport.Subscribe(topic, group);
    private readonly string _consumerName = PositionName(topic);

    /// <summary>The store's name for this stage's positions in a topic (one per partition).</summary>
    public static string PositionName(string topic) => $"{ConsumerName}:{topic}";

    /// <summary>The payload of a result version on the transport: the same bytes as in the embedded journal
    /// (content hash, version, then the envelope as JSON).</summary>
    public static byte[] Payload(ResultEnvelope envelope, byte[] contentHash)
    {
        return ResultRecords.Encode(contentHash, envelope.Version, envelope.Result, JsonSerializer.SerializeToUtf8Bytes(envelope, SidepJson.Default.ResultEnvelope));
    }

    /// <summary>The result envelope of a transport payload (<see cref="Payload"/>), or null with why it is not one.</summary>
    public static ResultEnvelope? Read(byte[] payload, out string? reason)
    {
        try
        {
            ResultEnvelope? envelope = ResultRecords.IsResult(payload) ? JsonSerializer.Deserialize(ResultRecords.Envelope(payload), SidepJson.Default.ResultEnvelope) : null;
            reason = envelope?.Result is null ? "not a result envelope (content hash, version, JSON)" : null;
            return reason is null ? envelope : null;
        }
        catch (JsonException ex)
        {
            reason = $"not a result envelope: {ex.Message}";
            return null;
        }
    }

    /// <summary>Moves what is there (waiting up to <paramref name="wait"/>); returns how many messages it handled.</summary>
    public async Task<int> DrainOnceAsync(TimeSpan wait, int max = 1000, CancellationToken cancellationToken = default)
    {
        IReadOnlyList<IncomingMessage> messages = _consumer.Poll(max, wait);
        if (messages.Count == 0)
        {
            return 0;
        }
        List<IGrouping<int, IncomingMessage>> partitions = [.. messages.GroupBy(m => m.Partition)];
        for (int g = 0; g < partitions.Count; g++)
        {
            try
            {
                await DrainPartitionAsync(partitions[g], cancellationToken).ConfigureAwait(false);
            }
            catch
            {
                // Nothing past the store's position is lost: this partition and those not reached are read again.
                for (int rest = g; rest < partitions.Count; rest++)
                {
                    _consumer.Seek(partitions[rest].Key, partitions[rest].Min(m => m.Offset));
                }
                throw;
            }
        }
        return messages.Count;
    }

    private async Task DrainPartitionAsync(IGrouping<int, IncomingMessage> partition, CancellationToken cancellationToken)
    {
        {
            long stored = store.GetOffset(_consumerName, partition.Key);
            List<IncomingMessage> ordered = [.. partition.OrderBy(m => m.Offset)];
            List<IncomingMessage> fresh = [.. ordered.Where(m => m.Offset >= stored)];
            // Holes in what the transport delivered (see Holes): processed up to the first, then back to it.
            long? backTo = Holes.Cut(transport, topic, partition.Key, stored, fresh);
            var rows = new List<StoredResult>();
            var handled = new List<IncomingMessage>();
            long covered = stored; // the position once this batch is written: past every message dealt with, dead letters included
            foreach (IncomingMessage m in ordered.Where(m => m.Offset < stored).Concat(fresh))
            {
                if (m.Offset < stored)
                {
                    handled.Add(m); // written before a crash that kept the transport from hearing of it
                    continue;
                }
                covered = m.Offset + 1;
                // The summary the gateway wrote beside the envelope: no JSON to parse (records written before it: the JSON).
                StoredResult? row = Summarised(m, out string? reason);
                if (row is null)
                {
                    // Written up to here first, so that the dead letter's position is covered by the store.
                    Flush(partition.Key, m.Offset, rows, handled);
                    await _consumer.DeadLetterAsync(m, reason!, cancellationToken).ConfigureAwait(false);
                    continue;
                }
                rows.Add(row);
                handled.Add(m);
            }
            Flush(partition.Key, covered, rows, handled);
            if (backTo is long offset)
            {
                _consumer.Seek(partition.Key, offset);
            }
        }
    }

    private void Flush(int partition, long nextOffset, List<StoredResult> rows, List<IncomingMessage> handled)
    {
        if (nextOffset > store.GetOffset(_consumerName, partition))
        {
            store.ApplyResults(_consumerName, partition, nextOffset, rows);
        }
        _consumer.Commit(handled);
        rows.Clear();
        handled.Clear();
    }

    /// <summary>The stored form of the result version a message holds, from its summary (or its JSON for a record written
    /// before summaries); null, with why, when it holds none.</summary>
    private static StoredResult? Summarised(IncomingMessage m, out string? reason)
    {
        ResultSummary? summary;
        try
        {
            summary = ResultRecords.IsResult(m.Payload) ? ResultRecords.Summary(m.Payload) : null;
        }
        catch (ArgumentOutOfRangeException)
        {
            reason = "not a result record: its summary is cut short";
            return null;
        }
        if (summary is null)
        {
            return Read(m.Payload, out reason) is ResultEnvelope envelope ? Row(envelope, m) : null;
        }
        reason = null;
        return new StoredResult(summary.LabId, summary.AccessionId, summary.TestCode, ResultRecords.Version(m.Payload), summary.Status.ToString(),
            summary.Interpretation.ToString(), summary.Loinc, summary.SampleDate?.ToString("yyyy-MM-dd", System.Globalization.CultureInfo.InvariantCulture),
            summary.PartitionKey, Source(m));
    }

    private static string Source(IncomingMessage m) => string.Create(System.Globalization.CultureInfo.InvariantCulture, $"{m.Topic}/{m.Partition}/{m.Offset}");

    /// <summary>The stored form of a result's version read at <paramref name="source"/>.</summary>
    public static StoredResult Row(ResultEnvelope env, IncomingMessage source)
    {
        LabResult r = env.Result;
        ResultKey key = r.Key;
        return new StoredResult(key.LabId, key.AccessionId, key.TestCode, env.Version, r.Status.ToString(), r.Value.Interpretation.ToString(),
            r.Loinc, r.SampledAt?.Date.ToString("yyyy-MM-dd", System.Globalization.CultureInfo.InvariantCulture), r.PartitionKey,
            Source(source));
    }

    public async Task RunAsync(CancellationToken cancellationToken)
    {
        while (!cancellationToken.IsCancellationRequested)
        {
            await DrainOnceAsync(TimeSpan.FromMilliseconds(200), cancellationToken: cancellationToken).ConfigureAwait(false);
        }
    }

    public void Dispose() => _consumer.Dispose();
}
