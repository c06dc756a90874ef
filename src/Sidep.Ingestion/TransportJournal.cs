using System.Text;
using Sidep.Domain;
using Sidep.Pipeline;
using Sidep.Transport;

namespace Sidep.Ingestion;

/// <summary>
/// The gateway's journal in the distributed mode: results on <see cref="StageTopics.Results"/> keyed by their partition
/// key (the person's blocking key; the result key in a header), raw submissions on <see cref="Submissions"/> keyed by
/// submission id, quarantined results and their releases on <see cref="Quarantine"/>. An append returns once every
/// record is acknowledged by the transport (Kafka: all in-sync replicas), so no acknowledgement precedes durability.
/// </summary>
public sealed class TransportJournal(IStageTransport transport) : IResultJournal
{
    public const string Submissions = "sidep.submissions";
    public const string Quarantine = "sidep.quarantine";
    private const string KindHeader = "sidep-kind";

    /// <summary>Header of a submission's parts, "index/count": a submission (up to the gateway's body limit, with its
    /// report) is cut into messages a broker takes (Kafka's default limit is 1 MB).</summary>
    private const string PartHeader = "sidep-part";
    public const int PartBytes = 512 * 1024;

    /// <summary>Unused here: the transport places results by their partition key.</summary>
    public int PartitionOf(string key) => -1;

    public Task AppendAsync(IReadOnlyList<LogRecord> records, CancellationToken cancellationToken = default)
    {
        var submissions = new List<OutgoingMessage>();
        var results = new List<OutgoingMessage>();
        var quarantine = new List<OutgoingMessage>();
        foreach (LogRecord r in records)
        {
            byte[] payload = r.Payload.ToArray();
            switch (r.Kind)
            {
                case RecordKind.Result:
                    results.Add(new OutgoingMessage(r.PartitionKey ?? throw new InvalidOperationException("a result record without its partition key"), payload,
                        new Dictionary<string, string> { [StageTopics.ResultKey] = r.Key }));
                    break;
                case RecordKind.Submission:
                    int parts = Math.Max(1, (payload.Length + PartBytes - 1) / PartBytes);
                    for (int i = 0; i < parts; i++)
                    {
                        submissions.Add(new OutgoingMessage(r.Key, payload[(i * PartBytes)..Math.Min(payload.Length, (i + 1) * PartBytes)],
                            new Dictionary<string, string> { [PartHeader] = $"{i}/{parts}" }));
                    }
                    break;
                case RecordKind.Quarantined or RecordKind.Released:
                    quarantine.Add(new OutgoingMessage(r.Key, payload, new Dictionary<string, string> { [KindHeader] = r.Kind.ToString() }));
                    break;
                default:
                    throw new InvalidOperationException($"the gateway does not journal {r.Kind} records");
            }
        }
        // Each publication is enqueued before the next starts (the order of calls is the order on every partition).
        var pending = new List<Task>(3);
        if (submissions.Count > 0)
        {
            pending.Add(transport.PublishAsync(Submissions, submissions, cancellationToken));
        }
        if (results.Count > 0)
        {
            pending.Add(transport.PublishAsync(StageTopics.Results, results, cancellationToken));
        }
        if (quarantine.Count > 0)
        {
            pending.Add(transport.PublishAsync(Quarantine, quarantine, cancellationToken));
        }
        return Task.WhenAll(pending);
    }

    private IEnumerable<IncomingMessage> All(string topic)
    {
        long[] ends = transport.EndOffsets(topic);
        for (int p = 0; p < ends.Length; p++)
        {
            foreach (IncomingMessage m in transport.ReadRange(topic, p, 0, ends[p]))
            {
                yield return m;
            }
        }
    }

    public IEnumerable<LogEntry> ReadAllResults() =>
        All(StageTopics.Results).Select(m => new LogEntry(RecordKind.Result, m.Partition, m.Offset, m.Headers.GetValueOrDefault(StageTopics.ResultKey) ?? "", m.Payload));

    public List<LogEntry> ReadPendingQuarantine()
    {
        var held = new List<LogEntry>();
        var released = new HashSet<string>(StringComparer.Ordinal);
        foreach (IncomingMessage m in All(Quarantine))
        {
            if (m.Headers.GetValueOrDefault(KindHeader) == nameof(RecordKind.Released))
            {
                released.UnionWith(Encoding.UTF8.GetString(m.Payload.Span).Split('\n'));
            }
            else
            {
                held.Add(new LogEntry(RecordKind.Quarantined, -1, m.Offset, m.Key, m.Payload));
            }
        }
        return held.FindAll(e => !released.Contains(e.Key));
    }

    /// <summary>A stored submission, its parts found by reading the submissions topic (an operator's lookup, not a hot
    /// path; a large deployment would index it in the store).</summary>
    public LogEntry? ReadSubmission(string id)
    {
        List<IncomingMessage> parts = [.. All(Submissions).Where(m => m.Key == id)];
        if (parts.Count == 0)
        {
            return null;
        }
        // Parts in order; a part published twice (a retried publication) is taken once.
        byte[] payload = [.. parts.GroupBy(m => m.Headers.GetValueOrDefault(PartHeader) ?? "0/1").OrderBy(g => int.Parse(g.Key.Split('/')[0], System.Globalization.CultureInfo.InvariantCulture))
            .SelectMany(g => g.First().Payload.ToArray())];
        return new LogEntry(RecordKind.Submission, -1, parts[0].Offset, id, payload);
    }
}
