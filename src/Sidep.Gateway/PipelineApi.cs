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

/// <summary>
/// The pipeline's positions, in either mode: the topics' end offsets (in the embedded mode, the results topic is the
/// journal) against the positions the stages stored with their writes (what is durable, whichever worker holds a
/// partition). Backpressure reads them at most once a second.
/// </summary>
/// <param name="readingAge">How old a reading <see cref="Lag"/> may use: none in the embedded mode (positions in the
/// process's own store), a second in the distributed one (a broker and a database away).</param>
public sealed class PipelineView(IStageTransport transport, IStageStore store, TimeSpan readingAge) : IPipelineView
{
    private readonly Lock _lock = new();
    private (long, long, IReadOnlyList<PipelineApi.StageView>) _last;
    private long _readAt;

    private static readonly (string Stage, string Topic, Func<int, (string Consumer, int Partition)> Position)[] s_stages =
    [
        ("result-store", StageTopics.Results, p => (ResultStoreStage.PositionName(StageTopics.Results), p)),
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
                last = _last.Item3 is not null && Environment.TickCount64 - _readAt < (long)readingAge.TotalMilliseconds ? _last : Snapshot();
            }
            return last.Item3.Where(s => s.Stage != "result-store").Select(s => s.Lag).DefaultIfEmpty(0).Max();
        }
    }

    /// <summary>Every stage position stored past the end of the partition it reads: the input then lacks records the
    /// stage had read (in the embedded mode, a journal replaced by an older copy, or deleted).</summary>
    public List<(string Stage, string Topic, int Partition, long Position, long End)> PastTheEnd()
    {
        var past = new List<(string, string, int, long, long)>();
        foreach ((string stage, string topic, Func<int, (string Consumer, int Partition)> position) in s_stages)
        {
            long[] end = transport.EndOffsets(topic);
            for (int p = 0; p < end.Length; p++)
            {
                (string consumer, int partition) = position(p);
                if (store.GetOffset(consumer, partition) is long stored && stored > end[p])
                {
                    past.Add((stage, topic, p, stored, end[p]));
                }
            }
        }
        return past;
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
