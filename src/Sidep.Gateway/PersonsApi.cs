using System.Security.Cryptography;
using System.Text;
using System.Text.Json;
using Microsoft.AspNetCore.Builder;
using Microsoft.AspNetCore.Http;
using Microsoft.AspNetCore.Routing;
using Sidep.Ingestion;
using Microsoft.Extensions.DependencyInjection;
using Sidep.Domain;
using Sidep.Pipeline;

namespace Sidep.Gateway;

/// <summary>The identity decisions of a person, for the restricted operator role (X-Operator-Token). A decision
/// says which rule fired, the score and how each field compared — never the names or dates themselves.</summary>
public static class PersonsApi
{
    public sealed record DecisionView(string LabId, string AccessionId, string TestCode, int Version, long PersonId, string Rule, double Score, JsonElement Decision);

    public static IEndpointRouteBuilder MapPersonsApi(this IEndpointRouteBuilder app)
    {
        RouteGroupBuilder operators = app.MapGroup("").RequireAuthorization(SidepPolicies.Operator);
        operators.MapGet("/v1/persons/{id:long}/decisions", (long id, HttpContext http, IStageStore store, IPersonIndex identity, GatewayOptions options) =>
        {
            long current = identity.Current(id);
            List<DecisionView> decisions = store.DecisionsOf(current)
                .Select(r => new DecisionView(r.LabId, r.AccessionId, r.TestCode, r.Version, r.PersonId, r.Rule, r.Score, JsonDocument.Parse(r.DecisionJson).RootElement))
                .ToList();
            return decisions.Count == 0
                ? TypedResults.Problem(statusCode: 404, title: "No such person", detail: $"no decision places a result with person {id}")
                : (IResult)TypedResults.Json(new { person = current, decisions });
        });
        // The review queue: possible matches (similar, not linked) and INS conflicts, for an operator to decide.
        operators.MapGet("/v1/persons/review", (HttpContext http, IStageStore store, IPersonIndex identity, GatewayOptions options, long? after, int? limit) =>
        {
            int take = Math.Clamp(limit ?? 100, 1, 1000);
            var items = store.ReviewQueue(after ?? 0, take).Select(x =>
            {
                JsonElement decision = JsonDocument.Parse(x.Row.DecisionJson).RootElement;
                long? candidate = decision.TryGetProperty("candidateId", out JsonElement c) && c.ValueKind == JsonValueKind.Number ? c.GetInt64() : null;
                return new
                {
                    id = x.Id,
                    rule = x.Row.Rule,
                    score = x.Row.Score,
                    person = identity.Current(x.Row.PersonId),
                    candidate = candidate is long k ? identity.Current(k) : (long?)null,
                    result = new { labId = x.Row.LabId, accessionId = x.Row.AccessionId, testCode = x.Row.TestCode, version = x.Row.Version },
                    decision,
                };
            }).ToList();
            return Results.Json(new { items, next = items.Count == take ? items[^1].id : (long?)null });
        });
        return app;
    }
}
