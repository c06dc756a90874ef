using Microsoft.AspNetCore.Builder;
using Microsoft.AspNetCore.Http;
using Microsoft.AspNetCore.Routing;
using Sidep.Ingestion;
using Sidep.Storage.Embedded;

namespace Sidep.Gateway;

/// <summary>Where each stage of the embedded pipeline stands against its input: how far behind it is (operator role).</summary>
public static class PipelineApi
{
    public sealed record StageView(string Stage, string Input, long Position, long End, long Lag);

    public static IEndpointRouteBuilder MapPipelineApi(this IEndpointRouteBuilder app)
    {
        app.MapGet("/v1/pipeline", (HttpContext http, GatewayOptions options, EmbeddedLog log, StateStore store, IdentityStage identity, IndicatorStage indicators,
            FanOutStage fanOut, ResearchStage research, MatchedLog matched) =>
        {
            if (Operator.Refuse(http, options) is IResult refused)
            {
                return refused;
            }
            long results = log.OrderedCount, matchedCount = matched.Log.OrderedCount;
            long stored = Enumerable.Range(0, log.PartitionCount).Sum(p => store.GetOffset(ResultStoreStage.ConsumerName, p));
            StageView[] stages =
            [
                new("result-store", "journal", stored, results, results - stored),
                new("identity", "journal", identity.Position, results, results - identity.Position),
                new("indicators", "matched", indicators.Position, matchedCount, matchedCount - indicators.Position),
                new("fan-out", "matched", fanOut.Position, matchedCount, matchedCount - fanOut.Position),
                new("research", "matched", research.Position, matchedCount, matchedCount - research.Position),
            ];
            return Results.Json(new { results, matched = matchedCount, caughtUp = stages.All(s => s.Lag == 0) && identity.Position == results, stages });
        });
        return app;
    }
}

/// <summary>The identity stage's output log, as a service of its own (the input log is the <see cref="EmbeddedLog"/> service).</summary>
public sealed record MatchedLog(EmbeddedLog Log);
