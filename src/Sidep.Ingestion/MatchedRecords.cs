using System.Text.Json;
using Sidep.Indicators;
using Sidep.Storage.Embedded;

namespace Sidep.Ingestion;

/// <summary>Reading the identity stage's output log: merges, and matched results with the indicator fact they make.</summary>
internal static class MatchedRecords
{
    /// <summary>Feeds a batch to an aggregator (the indicators' or the fan-out's) in order; <paramref name="onFact"/>
    /// also sees each matched result with its fact before it is applied.</summary>
    public static void Apply(List<LogEntry> batch, Aggregator aggregator, Func<string?, TestKind> kindOf, Action<MatchedResult, IndicatorFact>? onFact = null)
    {
        foreach (LogEntry entry in batch)
        {
            if (entry.Kind == RecordKind.Merged)
            {
                PersonMerge merge = JsonSerializer.Deserialize(entry.Payload.Span, SidepJson.Default.PersonMerge)!;
                aggregator.Merge(merge.From, merge.Into);
                continue;
            }
            MatchedResult matched = JsonSerializer.Deserialize(entry.Payload.Span, SidepJson.Default.MatchedResult)!;
            ResultEnvelope envelope = matched.Envelope;
            if (Facts.From(envelope.Result, envelope.Version, matched.PersonId, envelope.ReceivedAt, kindOf) is IndicatorFact fact)
            {
                onFact?.Invoke(matched, fact);
                aggregator.Apply(fact);
            }
        }
    }
}
