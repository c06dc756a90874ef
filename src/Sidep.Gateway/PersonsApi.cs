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
            if (!IsOperator(http, options))
            {
                http.Response.Headers.WWWAuthenticate = "X-Operator-Token";
                return TypedResults.Problem(statusCode: 401, title: "Operator role required",
                    detail: options.OperatorToken is null ? "the operator role is not enabled on this server (serve --operator-token)" : "send the operator token as X-Operator-Token");
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

    private static bool IsOperator(HttpContext http, GatewayOptions options)
    {
        string? token = http.Request.Headers["X-Operator-Token"].FirstOrDefault();
        return options.OperatorToken is string expected && token is not null
            && CryptographicOperations.FixedTimeEquals(Encoding.UTF8.GetBytes(token), Encoding.UTF8.GetBytes(expected));
    }
}
