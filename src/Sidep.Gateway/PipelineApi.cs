using Microsoft.AspNetCore.Builder;
using Microsoft.AspNetCore.Http;
using Microsoft.AspNetCore.Routing;
using Sidep.Ingestion;
using Sidep.Domain;
using Sidep.Journal;
using Sidep.Pipeline;
using Sidep.Storage.Sqlite;
using Sidep.Transport;

namespace Sidep.Gateway;

/// <summary>Where each stage of the pipeline stands against its input: how far behind it is (operator role).</summary>
public static class PipelineApi
{
    public sealed record StageView(string Stage, string Input, long Position, long End, long Lag);

    public static IEndpointRouteBuilder MapPipelineApi(this IEndpointRouteBuilder app)
    {
        app.MapGet("/v1/pipeline", (HttpContext http, GatewayOptions options, IPipelineView pipeline) =>
        {
            if (Operator.Refuse(http, options) is IResult refused)
            {
                return refused;
            }
            (long results, long matched, IReadOnlyList<StageView> stages) = pipeline.Snapshot();
            return Results.Json(new { results, matched, caughtUp = stages.All(s => s.Lag == 0), stages });
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

/// <summary>The embedded pipeline's positions, from the stages in memory (the result store's from its store).</summary>
public sealed class EmbeddedPipeline(EmbeddedLog log, MatchedLog matched, StateStore store, IdentityStage identity, IndicatorStage indicators, FanOutStage fanOut,
    ResearchStage research) : IPipelineView
{
    public long Lag
    {
        get
        {
            long results = log.OrderedCount, matchedCount = matched.Log.OrderedCount;
            return Math.Max(results - identity.Position,
                Math.Max(matchedCount - indicators.Position, Math.Max(matchedCount - fanOut.Position, matchedCount - research.Position)));
        }
    }

    public (long, long, IReadOnlyList<PipelineApi.StageView>) Snapshot()
    {
        // Positions first, then the ends: both only grow, so a stage is never shown past the end it reads.
        long stored = Enumerable.Range(0, log.PartitionCount).Sum(p => store.GetOffset(ResultStoreStage.ConsumerName, p));
        long matching = identity.Position, counting = indicators.Position, fanning = fanOut.Position, researching = research.Position;
        long results = log.OrderedCount, matchedCount = matched.Log.OrderedCount;
        return (results, matchedCount,
        [
            new("result-store", "journal", stored, results, results - stored),
            new("identity", "journal", matching, results, results - matching),
            new("indicators", "matched", counting, matchedCount, matchedCount - counting),
            new("fan-out", "matched", fanning, matchedCount, matchedCount - fanning),
            new("research", "matched", researching, matchedCount, matchedCount - researching),
        ]);
    }
}

/// <summary>
/// The distributed pipeline's positions: the topics' end offsets against the positions the workers stored with their
/// writes (what is durable, whichever worker holds a partition). Backpressure reads them at most once a second.
/// </summary>
public sealed class DistributedPipeline(IStageTransport transport, IStageStore store) : IPipelineView
{
    private readonly Lock _lock = new();
    private (long, long, IReadOnlyList<PipelineApi.StageView>) _last;
    private long _readAt;

    private static readonly (string Stage, string Topic, Func<int, (string Consumer, int Partition)> Position)[] s_stages =
    [
        ("result-store", StageTopics.Results, p => ($"{ResultStoreStage.ConsumerName}:{StageTopics.Results}", p)),
        ("identity", StageTopics.Results, p => ($"{IdentityStage.ConsumerName}/{p}", -1)),
        ("indicators", StageTopics.Matched, p => ($"{IndicatorStage.ConsumerName}/{p}", -1)),
        ("fan-out", StageTopics.Matched, p => ($"{FanOutStage.ConsumerName}/{p}", -1)),
        ("research", StageTopics.Matched, p => ($"{ResearchStage.ConsumerName}/{p}", -1)),
    ];

    /// <summary>Asked at every submission: from a reading at most a second old.</summary>
    public long Lag
    {
        get
        {
            (long, long, IReadOnlyList<PipelineApi.StageView>) last;
            lock (_lock)
            {
                last = _last.Item3 is not null && Environment.TickCount64 - _readAt < 1000 ? _last : Snapshot();
            }
            return last.Item3.Where(s => s.Stage != "result-store").Select(s => s.Lag).DefaultIfEmpty(0).Max();
        }
    }

    /// <summary>Read now (GET /v1/pipeline: "caught up" must not come from a reading older than the last acknowledgement).</summary>
    public (long, long, IReadOnlyList<PipelineApi.StageView>) Snapshot()
    {
        lock (_lock)
        {
            var ends = new Dictionary<string, long[]>(StringComparer.Ordinal)
            {
                [StageTopics.Results] = transport.EndOffsets(StageTopics.Results),
                [StageTopics.Matched] = transport.EndOffsets(StageTopics.Matched),
            };
            List<PipelineApi.StageView> stages = [.. s_stages.Select(s =>
            {
                long[] end = ends[s.Topic];
                long position = Enumerable.Range(0, end.Length).Sum(p => Math.Min(end[p], store.GetOffset(s.Position(p).Consumer, s.Position(p).Partition)));
                return new PipelineApi.StageView(s.Stage, s.Topic, position, end.Sum(), end.Sum() - position);
            })];
            _last = (ends[StageTopics.Results].Sum(), ends[StageTopics.Matched].Sum(), stages);
            _readAt = Environment.TickCount64;
            return _last;
        }
    }
}

/// <summary>The identity stage's output log, as a service of its own (the input log is the <see cref="EmbeddedLog"/> service).</summary>
public sealed record MatchedLog(EmbeddedLog Log);
