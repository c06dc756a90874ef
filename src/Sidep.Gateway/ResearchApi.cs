using System.Globalization;
using System.Text.Json;
using Microsoft.AspNetCore.Builder;
using Microsoft.AspNetCore.Http;
using Microsoft.AspNetCore.Routing;
using Sidep.Domain;
using Sidep.Identity;
using Sidep.Ingestion;
using Microsoft.Extensions.DependencyInjection;
using Sidep.Pipeline;

namespace Sidep.Gateway;

/// <summary>Oppositions to research use (operator role) and the pseudonym link table of a key rotation (research operator).</summary>
public static class ResearchApi
{
    public static IEndpointRouteBuilder MapResearchApi(this IEndpointRouteBuilder app)
    {
        app.MapPost("/v1/oppositions", async (HttpContext http, IStageStore store, IPersonIndex identity, TimeProvider time) =>
        {
            CasesApi.PriorPositiveQuery? query;
            try
            {
                query = await http.Request.ReadFromJsonAsync(SidepGatewayJson.Default.PriorPositiveQuery, http.RequestAborted);
            }
            catch (JsonException ex)
            {
                return TypedResults.Problem(statusCode: 400, title: "Bad request", detail: $"the body is not the expected JSON: {ex.Message}");
            }
            if (query is null || CasesApi.Identity(query) is not PatientIdentity person)
            {
                return TypedResults.Problem(statusCode: 400, title: "Bad request", detail: "give an INS (ins), or traits: birthName, givenNames, birthDate (YYYY-MM-DD) and sex");
            }
            long? known = identity.Find(person);
            List<string> keys = [.. ResearchSink.IdentityKeys(person)];
            foreach (string key in keys)
            {
                store.RecordOpposition(known, key, time.GetUtcNow());
            }
            // The partitions that held the person's rows are written again without them by the research stage.
            return Results.Json(new { recorded = true, personKnown = known is not null }, statusCode: 201);
        }).RequireAuthorization(SidepPolicies.Operator);

        app.MapGet("/v1/research/pseudonym-links", (IStageStore store, Pseudonyms pseudonyms, string? from, string? to) =>
        {
            if (from is null || to is null)
            {
                return TypedResults.Problem(statusCode: 400, title: "Bad request", detail: "give the old and the new key ids: ?from=k1&to=k2");
            }
            try
            {
                return Results.Json(ResearchSink.LinkTable(store, pseudonyms, from, to).Select(l => new { old = l.Old, @new = l.New }));
            }
            catch (ArgumentException ex)
            {
                return TypedResults.Problem(statusCode: 400, title: "Bad request", detail: ex.Message);
            }
        }).RequireAuthorization(SidepPolicies.ResearchOperator);
        return app;
    }
}
