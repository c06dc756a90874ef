using System.Text.Json;
using Sidep.Domain;
using Sidep.Pipeline;
using Sidep.Transport;

namespace Sidep.Ingestion;

/// <summary>
/// STORE: results from the results topic (the journal itself in the embedded mode, Kafka in the distributed one) into
/// the store's results table (latest version per key, and where it lives; SQLite or PostgreSQL), on the same runner as
/// every stage: each partition's rows and its position in one store transaction, then the transport is told; what a
/// crash makes the transport deliver again is below the store's position and skipped. It keeps no state (its writes
/// are upserts by version). A message that is not a result goes to the dead-letter topic with the reason, before the
/// store write (at least once), and the stream goes on.
/// </summary>
public sealed class ResultStoreStage(IStageTransport transport, IResultStore store, string topic = StageTopics.Results, string group = "sidep-result-store")
    : StageRunner<ResultStoreStage.NoState, IResultStore>(transport, store, topic, group, ConsumerName)
{
    public const string ConsumerName = "result-store";

    public sealed class NoState : State
    {
    }

    protected override bool Stateful => false;

    protected override NoState NewState(int partition) => new();

    protected override void Replay(NoState state, IReadOnlyList<IncomingMessage> messages)
    {
    }

    protected override async Task ProcessAsync(int partition, NoState state, IReadOnlyList<IncomingMessage> messages, long next, CancellationToken cancellationToken)
    {
        var rows = new List<StoredResult>(messages.Count);
        foreach (IncomingMessage m in messages)
        {
            if (Read(m.Payload, out string? reason) is ResultEnvelope envelope)
            {
                rows.Add(Row(envelope, m));
            }
            else
            {
                await Transport.PublishAsync(TransportHeaders.DeadLetterTopic(Topic), [TransportHeaders.DeadLetter(m, reason!)], cancellationToken).ConfigureAwait(false);
            }
        }
        Store.ApplyResults(PositionName(partition), -1, next, rows);
    }

    /// <summary>The payload of a result version on the transport: the same bytes as in the embedded journal
    /// (<see cref="ResultRecords"/>).</summary>
    public static byte[] Payload(ResultEnvelope envelope, byte[] contentHash) => ResultRecords.Encode(contentHash, envelope);

    /// <summary>The result envelope of a result record (binary, or JSON in a record of an earlier layout), or null with
    /// why it is not one.</summary>
    public static ResultEnvelope? Read(ReadOnlySpan<byte> payload, out string? reason)
    {
        if (!ResultRecords.IsResult(payload))
        {
            reason = "not a result envelope: too short for a result record (content hash, version, envelope)";
            return null;
        }
        try
        {
            ResultEnvelope? envelope = ResultRecords.IsBinary(payload)
                ? ResultRecords.Envelope(payload)
                : JsonSerializer.Deserialize(ResultRecords.EnvelopeJson(payload), SidepJson.Default.ResultEnvelope);
            reason = envelope?.Result is null ? "not a result envelope" : null;
            return reason is null ? envelope : null;
        }
        catch (Exception ex) when (ex is JsonException or FormatException or ArgumentOutOfRangeException)
        {
            reason = $"not a result envelope: {ex.Message}";
            return null;
        }
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
}
