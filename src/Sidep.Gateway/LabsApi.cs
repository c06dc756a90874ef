using System.Net;
using System.Text.Json;
using Microsoft.AspNetCore.Builder;
using Microsoft.AspNetCore.Http;
using Microsoft.AspNetCore.Routing;
using Sidep.Domain;
using Sidep.Pipeline;

namespace Sidep.Gateway;

/// <summary>
/// The lab register over HTTP, for the operator (X-Operator-Token): register or re-key labs — one, or many at once —
/// and list them, without stopping the server ('sidep labs add' does the same offline). A registration answers each
/// lab's API key, once; a request with any invalid lab registers none and says which and why.
/// </summary>
public static class LabsApi
{
    public sealed record LabRequest(string? Finess, string? Name, string[]? FacilityIds, string[]? MllpSources, string[]? MllpCertificates);

    /// <param name="Replaced">The lab was registered already: its name, facility ids, MLLP sources and certificates are now
    /// those of this request (the old lists are replaced, not merged), and its old API key no longer works.</param>
    public sealed record RegisteredLab(string Finess, string ApiKey, bool Replaced);

    public sealed record LabProblem(int Index, string? Finess, string Problem);

    public sealed record LabEntry(string Finess, string Name, IReadOnlyList<string> FacilityIds, IReadOnlyList<string> MllpSources, IReadOnlyList<string> MllpCertificates);

    /// <summary>More labs than this in one request are refused (5,000 labs fit in one).</summary>
    public const int MaxPerRequest = 20_000;

    private static readonly JsonSerializerOptions s_json = new(JsonSerializerDefaults.Web);

    public static IEndpointRouteBuilder MapLabsApi(this IEndpointRouteBuilder app)
    {
        app.MapPost("/v1/labs", RegisterAsync).RequireAuthorization(SidepPolicies.Operator);
        app.MapGet("/v1/labs", (ILabRegister store) =>
            TypedResults.Json(store.ListLabs().Select(l => new LabEntry(l.Finess, l.Name, l.FacilityIds, l.MllpSources, l.MllpCertificates)).ToList())).RequireAuthorization(SidepPolicies.Operator);
        return app;
    }

    private static async Task<IResult> RegisterAsync(HttpContext http, ILabRegister store)
    {
        List<LabRequest?> requests;
        try
        {
            using JsonDocument body = await JsonDocument.ParseAsync(http.Request.Body, cancellationToken: http.RequestAborted);
            requests = body.RootElement.ValueKind == JsonValueKind.Array
                ? body.RootElement.Deserialize<List<LabRequest?>>(s_json) ?? []
                : [body.RootElement.Deserialize<LabRequest>(s_json)];
        }
        catch (JsonException ex)
        {
            return TypedResults.Problem(statusCode: 400, title: "Not a lab registration",
                detail: $"the body is not JSON of a lab ({{\"finess\":…,\"name\":…,\"facilityIds\":[…],\"mllpSources\":[…],\"mllpCertificates\":[…]}}) or an array of them: {ex.Message}");
        }
        if (requests.Count is 0 or > MaxPerRequest)
        {
            return TypedResults.Problem(statusCode: 422, title: "No labs, or too many", detail: $"send between 1 and {MaxPerRequest} labs; this request has {requests.Count}");
        }
        var problems = new List<LabProblem>();
        var seen = new HashSet<string>(StringComparer.Ordinal);
        for (int i = 0; i < requests.Count; i++)
        {
            if (requests[i] is not LabRequest lab)
            {
                problems.Add(new LabProblem(i, null, "not a lab: null"));
            }
            else if (Problem(lab, seen) is string problem)
            {
                problems.Add(new LabProblem(i, lab.Finess, problem));
            }
        }
        if (problems.Count > 0)
        {
            return TypedResults.Json(new { registered = 0, rejected = problems }, statusCode: 422);
        }
        List<LabRequest> valid = [.. requests.OfType<LabRequest>()];
        List<LabRegistration> registrations = [.. valid.Select(r => new LabRegistration(r.Finess!, r.Name!.Trim(), r.FacilityIds ?? [], r.MllpSources ?? [], r.MllpCertificates ?? []))];
        HashSet<string> known = [.. store.ListLabs().Select(l => l.Finess)];
        List<string> keys;
        try
        {
            keys = store.AddLabs(registrations);
        }
        catch (LabConflictException conflict)
        {
            return TypedResults.Json(new
            {
                registered = 0,
                rejected = conflict.Conflicts.Select(c => new LabProblem(c.Index, valid[c.Index].Finess, $"{c}: a facility id is one lab's only")).ToList(),
            }, statusCode: 422);
        }
        return TypedResults.Json(valid.Select((r, i) => new RegisteredLab(r.Finess!, keys[i], known.Contains(r.Finess!))).ToList(), statusCode: 201);
    }

    /// <summary>Why a registration cannot be taken, or null.</summary>
    private static string? Problem(LabRequest r, HashSet<string> seen)
    {
        if (r.Finess is not { Length: 9 } finess || !finess.All(c => char.IsAsciiDigit(c) || c is 'A' or 'B'))
        {
            return $"finess '{r.Finess}' is not a FINESS number (9 characters: digits, 2A or 2B for Corsica)";
        }
        if (!seen.Add(finess))
        {
            return $"finess {finess} appears twice in this request";
        }
        if (string.IsNullOrWhiteSpace(r.Name))
        {
            return "name is empty";
        }
        if (r.FacilityIds?.FirstOrDefault(string.IsNullOrWhiteSpace) is not null)
        {
            return "facilityIds holds an empty identifier";
        }
        if (r.MllpSources?.FirstOrDefault(s => !IPAddress.TryParse(s, out _)) is string source)
        {
            return $"mllpSources: '{source}' is not an IP address";
        }
        if (r.MllpCertificates?.FirstOrDefault(c => c.Replace(":", "", StringComparison.Ordinal) is not { Length: 64 } hex || !hex.All(char.IsAsciiHexDigit)) is string certificate)
        {
            return $"mllpCertificates: '{certificate}' is not a SHA-256 thumbprint (64 hexadecimal digits, colons allowed)";
        }
        return null;
    }
}
