using System.Security.Cryptography;
using System.Text;
using System.Text.Json;
using Microsoft.AspNetCore.Builder;
using Microsoft.AspNetCore.Http;
using Microsoft.AspNetCore.Routing;
using Sidep.Ingestion;
using Sidep.Storage.Embedded;

namespace Sidep.Gateway;

/// <summary>The identity decisions of a person, for the restricted operator role (X-Operator-Token). A decision
/// says which rule fired, the score and how each field compared — never the names or dates themselves.</summary>
public static class PersonsApi
{
    public sealed record DecisionView(string LabId, string AccessionId, string TestCode, int Version, long PersonId, string Rule, double Score, JsonElement Decision);

    public static IEndpointRouteBuilder MapPersonsApi(this IEndpointRouteBuilder app)
    {
        app.MapGet("/v1/persons/{id:long}/decisions", (long id, HttpContext http, StateStore store, IdentityStage identity, GatewayOptions options) =>
        {
            if (Operator.Refuse(http, options) is IResult refused)
            {
                return refused;
            }
            long current = identity.Current(id);
            List<DecisionView> decisions = store.DecisionsOf(current)
                .Select(r => new DecisionView(r.LabId, r.AccessionId, r.TestCode, r.Version, r.PersonId, r.Rule, r.Score, JsonDocument.Parse(r.DecisionJson).RootElement))
                .ToList();
            return decisions.Count == 0
                ? TypedResults.Problem(statusCode: 404, title: "No such person", detail: $"no decision places a result with person {id}")
                : (IResult)TypedResults.Json(new { person = current, decisions });
        });
        return app;
    }
}
