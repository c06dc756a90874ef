using Microsoft.AspNetCore.Builder;
using Microsoft.AspNetCore.Http;
using Microsoft.AspNetCore.Routing;
using Sidep.Ingestion;
using Sidep.Domain;
using Sidep.Pipeline;
using Sidep.Transport;

namespace Sidep.Gateway;

/// <summary>Where each stage of the pipeline stands against its input: how far behind it is (operator role).</summary>
public static class PipelineApi
{
    /// <summary>Messages a stage could not read and set aside, with the reason (the input's dead-letter topic).</summary>
    private static long DeadLetters(IStageTransport transport, string topic) => transport.EndOffsets(TransportHeaders.DeadLetterTopic(topic)).Sum();

    public sealed record StageView(string Stage, string Input, long Position, long End, long Lag);

    public static IEndpointRouteBuilder MapPipelineApi(this IEndpointRouteBuilder app)
    {
        RouteGroupBuilder operators = app.MapGroup("").RequireAuthorization(SidepPolicies.Operator);
        operators.MapGet("/v1/pipeline", (GatewayOptions options, IPipelineView pipeline) =>
        {
            (long results, long matched, IReadOnlyList<StageView> stages) = pipeline.Snapshot();
            return Results.Json(new { results, matched, caughtUp = stages.All(s => s.Lag == 0), stages });
        });
        // What the operators' page shows beside the positions: backpressure, dead letters, the quarantine by lab and code.
        operators.MapGet("/v1/pipeline/operations", (GatewayOptions options, Backpressure backpressure, IStageTransport transport, IngestionService ingestion,
            ILabActivityLog activity) =>
        {
            // The last 24 hours' rejections by reason and lab, every gateway's (this one's included).
            long now = LabHour.HourOf(options.Clock.GetUtcNow());
            var rejections = activity.Rejections(now - 23, now + 1).GroupBy(r => (r.Reason, r.Lab))
                .Select(g => new { reason = g.Key.Reason, lab = g.Key.Lab, count = g.Sum(r => r.Count) })
                .OrderByDescending(r => r.count).ThenBy(r => r.reason, StringComparer.Ordinal).ThenBy(r => r.lab, StringComparer.Ordinal).Take(500).ToList();
            var deadLetters = new[] { StageTopics.Results, StageTopics.Matched }
                .Select(topic => new { input = topic, deadLetters = DeadLetters(transport, topic) }).ToList();
            return Results.Json(new
            {
                backpressure = new { lag = backpressure.Lag, maxLag = options.MaxLag, overloaded = backpressure.Overloaded },
                deadLetters,
                rejections,
                // This gateway's quarantine (each gateway holds what it received until the mapping is added).
                quarantine = ingestion.QuarantineOf(null).Select(q => new { lab = q.Lab, localCode = q.LocalCode, label = q.Label, count = q.Count,
                    firstReceivedAt = q.FirstReceivedAt, lastReceivedAt = q.LastReceivedAt }),
            });
        });
        return app;
    }
}

/// <summary>The stages' positions against their inputs, in either mode.</summary>
public interface IPipelineView
{
    /// <summary>Results in the input, records in the identity stage's output, and every stage's position.</summary>
    (long Results, long Matched, IReadOnlyList<PipelineApi.StageView> Stages) Snapshot();

    /// <summary>The largest lag of a stage that feeds the indicators or the sinks, in results (cheap: checked at every
    /// submission).</summary>
    long Lag { get; }
}

/// <summary>
/// The pipeline's positions, in either mode: the topics' end offsets (in the embedded mode, the results topic is the
/// journal) against the positions the stages stored with their writes (what is durable, whichever worker holds a
/// partition).
/// </summary>
/// <param name="readingAge">How old the reading <see cref="Lag"/> uses may be. Positions only grow, so an older reading
/// overstates a lag, never understates it.</param>
/// <param name="liveEnds">Whether <see cref="Lag"/> reads the inputs' ends at every call (the embedded mode: counters in
/// the process) rather than with the positions (the distributed one: a broker away).</param>
public sealed class PipelineView(IStageTransport transport, IStageStore store, TimeSpan readingAge, bool liveEnds) : IPipelineView
{
    private readonly Lock _refresh = new();
    private volatile Reading? _last;

    /// <summary>The inputs' ends and the stages' positions (per stage, per partition) at <see cref="At"/>.</summary>
    private sealed record Reading(Dictionary<string, long[]> Ends, long[][] Positions, long At);

    private static readonly (string Stage, string Topic, string Consumer)[] s_stages =
    [
        ("identity", StageTopics.Results, IdentityStage.ConsumerName),
        ("indicators", StageTopics.Matched, IndicatorStage.ConsumerName),
        ("fan-out", StageTopics.Matched, FanOutStage.ConsumerName),
        ("research", StageTopics.Matched, ResearchStage.ConsumerName),
    ];

    private Dictionary<string, long[]> Ends() => new(StringComparer.Ordinal)
    {
        [StageTopics.Results] = transport.EndOffsets(StageTopics.Results),
        [StageTopics.Matched] = transport.EndOffsets(StageTopics.Matched),
    };

    private Reading Read()
    {
        Dictionary<string, long[]> ends = Ends();
        long[][] positions = [.. s_stages.Select(s => Enumerable.Range(0, ends[s.Topic].Length)
            .Select(p => store.GetOffset(Stages.PositionName(s.Consumer, p), -1)).ToArray())];
        var reading = new Reading(ends, positions, Environment.TickCount64);
        _last = reading;
        return reading;
    }

    /// <summary>Asked at every submission: from a reading at most <c>readingAge</c> old (one thread reads again while the
    /// others use the last one), with the inputs' ends read now in the embedded mode.</summary>
    public long Lag
    {
        get
        {
            Reading? last = _last;
            if (last is null || Environment.TickCount64 - last.At >= (long)readingAge.TotalMilliseconds)
            {
                if (_refresh.TryEnter())
                {
                    try
                    {
                        last = Read();
                    }
                    finally
                    {
                        _refresh.Exit();
                    }
                }
                else if (last is null)
                {
                    lock (_refresh)
                    {
                        last = _last ?? Read();
                    }
                }
            }
            Dictionary<string, long[]> ends = liveEnds ? Ends() : last.Ends;
            long lag = 0;
            for (int s = 0; s < s_stages.Length; s++)
            {
                long[] end = ends[s_stages[s].Topic];
                long behind = 0;
                for (int p = 0; p < end.Length; p++)
                {
                    behind += Math.Max(0, end[p] - (p < last.Positions[s].Length ? last.Positions[s][p] : 0));
                }
                lag = Math.Max(lag, behind);
            }
            return lag;
        }
    }

    /// <summary>Every stage position stored past the end of the partition it reads: the input then lacks records the
    /// stage had read (in the embedded mode, a journal replaced by an older copy, or deleted).</summary>
    public List<(string Stage, string Topic, int Partition, long Position, long End)> PastTheEnd()
    {
        Reading reading = Read();
        var past = new List<(string, string, int, long, long)>();
        for (int s = 0; s < s_stages.Length; s++)
        {
            long[] end = reading.Ends[s_stages[s].Topic];
            for (int p = 0; p < end.Length; p++)
            {
                if (reading.Positions[s][p] > end[p])
                {
                    past.Add((s_stages[s].Stage, s_stages[s].Topic, p, reading.Positions[s][p], end[p]));
                }
            }
        }
        return past;
    }

    /// <summary>Read now (GET /v1/pipeline: "caught up" must not come from a reading older than the last acknowledgement).</summary>
    public (long, long, IReadOnlyList<PipelineApi.StageView>) Snapshot()
    {
        // Positions first, then the ends: both only grow, so a stage is never shown past the end it reads.
        Reading reading = Read();
        Dictionary<string, long[]> ends = Ends();
        List<PipelineApi.StageView> stages = [.. s_stages.Select((s, i) =>
        {
            long[] end = ends[s.Topic];
            long position = Enumerable.Range(0, end.Length).Sum(p => Math.Min(end[p], p < reading.Positions[i].Length ? reading.Positions[i][p] : 0));
            return new PipelineApi.StageView(s.Stage, s.Topic, position, end.Sum(), end.Sum() - position);
        })];
        return (ends[StageTopics.Results].Sum(), ends[StageTopics.Matched].Sum(), stages);
    }
}
