using System.Security.Claims;
using System.Text;
using Microsoft.AspNetCore.Builder;
using Microsoft.AspNetCore.Http;
using Microsoft.AspNetCore.Http.HttpResults;
using Microsoft.AspNetCore.Routing;
using Sidep.Ingestion;
using Sidep.Domain;
using Sidep.Pipeline;

namespace Sidep.Gateway;

/// <summary>Transcoding tables (local code → LOINC) and the quarantine of results waiting for a mapping.</summary>
public static class TerminologyApi
{
    public sealed record TranscodingProblem(int Line, string Problem);

    public sealed record TranscodingOutcome(string Lab, int Added, int Updated, int Unchanged, IReadOnlyList<TranscodingProblem> Rejected, int Replayed, int StillQuarantined);

    public sealed record TranscodingEntry(string LocalCode, string Loinc, string? Label, bool InNationalValueSet);

    public static IEndpointRouteBuilder MapTerminologyApi(this IEndpointRouteBuilder app)
    {
        RouteGroupBuilder v1 = app.MapGroup("/v1").RequireAuthorization(SidepPolicies.Lab);
        v1.MapPut("/labs/{finess}/transcoding", PutTranscodingAsync);
        v1.MapGet("/labs/{finess}/transcoding", GetTranscoding);
        v1.MapGet("/quarantine", (ClaimsPrincipal user, IngestionService ingestion) =>
            TypedResults.Json(ingestion.QuarantineOf(user.Lab().Finess), SidepJson.Default.ListQuarantineSummary));
        return app;
    }

    private static async Task<IResult> PutTranscodingAsync(string finess, HttpContext http, ClaimsPrincipal user, IngestionService ingestion, ILabRegister store)
    {
        Lab lab = user.Lab();
        if (lab.Finess != finess)
        {
            return TypedResults.Problem(statusCode: 403, title: "A lab may only change its own transcoding table", detail: $"this API key belongs to lab {lab.Finess}, not {finess}");
        }
        string? media = http.Request.ContentType?.Split(';')[0].Trim().ToLowerInvariant();
        bool json = media is "application/json";
        if (!json && media is not ("text/csv" or "text/plain" or "application/csv"))
        {
            return TypedResults.Problem(statusCode: 415, title: "Unsupported media type",
                detail: "send the table as text/csv (local_code;loinc;label, one per line) or application/json ([{\"localCode\":…,\"loinc\":…,\"label\":…}] or {\"CODE\":\"LOINC\"})");
        }
        using var reader = new StreamReader(http.Request.Body, Encoding.UTF8);
        string body = await reader.ReadToEndAsync(http.RequestAborted);
        (List<TranscodingRow> rows, List<(int Line, string Problem)> problems) = Terminology.ParseTable(body, json);
        (int added, int updated) = rows.Count == 0 ? (0, 0) : store.UpsertTranscoding(lab.Finess, rows);
        int replayed = await ingestion.MapAndReplayAsync(lab.Finess, rows, http.RequestAborted);
        int still = ingestion.QuarantineOf(lab.Finess).Sum(q => q.Count);
        var outcome = new TranscodingOutcome(lab.Finess, added, updated, rows.Count - added - updated,
            problems.Select(p => new TranscodingProblem(p.Line, p.Problem)).ToList(), replayed, still);
        return TypedResults.Json(outcome, statusCode: rows.Count == 0 && problems.Count > 0 ? 422 : 200);
    }

    private static Results<JsonHttpResult<List<TranscodingEntry>>, ProblemHttpResult> GetTranscoding(string finess, ClaimsPrincipal user, IngestionService ingestion,
        ILabRegister store)
    {
        Lab lab = user.Lab();
        if (lab.Finess != finess)
        {
            return TypedResults.Problem(statusCode: 403, title: "A lab may only read its own transcoding table", detail: $"this API key belongs to lab {lab.Finess}, not {finess}");
        }
        List<TranscodingEntry> table = store.ListTranscoding(finess)
            .Select(r => new TranscodingEntry(r.Row.LocalCode, r.Row.Loinc, r.Row.Label, ingestion.Terminology.ValueSet.ContainsKey(r.Row.Loinc)))
            .ToList();
        return TypedResults.Json(table);
    }
}
