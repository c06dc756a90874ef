using System.Security.Claims;
using System.Globalization;
using System.Text.Json;
using Microsoft.AspNetCore.Builder;
using Microsoft.AspNetCore.Http;
using Microsoft.AspNetCore.Http.HttpResults;
using Microsoft.AspNetCore.Routing;
using Sidep.Domain;
using Sidep.Identity;
using Sidep.Ingestion;
using Microsoft.Extensions.DependencyInjection;
using Sidep.Pipeline;

namespace Sidep.Gateway;

/// <summary>
/// Contact tracing: the cases (new positive episodes) of an agent's territories, a feed for the case-management
/// system, the prior-positive lookup, the audit log and the notices outbox. Every answer that carries nominative data
/// is written to the append-only audit log (agent, time, query, case ids) before it is sent: <see cref="Audited"/> is
/// the only way these endpoints return data.
/// </summary>
public static class CasesApi
{
    private const int MaxPage = 500;

    /// <summary>The rate-limiting policy of the prior-positive question: so many a minute per agent.</summary>
    public const string PriorPositiveLimit = "prior-positive";

    /// <summary>The prior-positive question's limit, per agent (the token's subject): a fixed window of a minute;
    /// past it 429 with Retry-After, and the refusal is audited with the limit.</summary>
    public static IServiceCollection AddPriorPositiveLimit(this IServiceCollection services, GatewayOptions options) => services.AddRateLimiter(limiter =>
    {
        limiter.RejectionStatusCode = StatusCodes.Status429TooManyRequests;
        limiter.AddPolicy(PriorPositiveLimit, http => System.Threading.RateLimiting.RateLimitPartition.GetFixedWindowLimiter(
            http.User.FindFirst("sub")?.Value ?? http.Connection.RemoteIpAddress?.ToString() ?? "anonymous",
            _ => new System.Threading.RateLimiting.FixedWindowRateLimiterOptions { PermitLimit = Math.Max(1, options.PriorPositivePerMinute), Window = TimeSpan.FromMinutes(1), QueueLimit = 0 }));
        limiter.OnRejected = (context, _) =>
        {
            HttpContext http = context.HttpContext;
            http.Response.Headers.RetryAfter = "60";
            if (http.User.FindFirst("sub")?.Value is string agent)
            {
                http.RequestServices.GetRequiredService<IStageStore>().Audit(agent, http.User.FindFirst("role")?.Value ?? "", "cases.prior-positive",
                    $"refused: over the limit of {options.PriorPositivePerMinute}/min", [], http.RequestServices.GetRequiredService<TimeProvider>().GetUtcNow());
            }
            return ValueTask.CompletedTask;
        };
    });

    /// <summary>One case as an agent reads it.</summary>
    public sealed record CaseView(string CaseId, long Cursor, string Status, DateTimeOffset UpdatedAt, string Territory, JsonElement Details);

    public sealed record CasePage(IReadOnlyList<CaseView> Cases, long? Next);

    /// <summary>The prior-positive question: an INS, or traits.</summary>
    public sealed record PriorPositiveQuery(string? Ins, string? BirthName, string? UsedName, IReadOnlyList<string>? GivenNames, string? BirthDate, string? Sex, int? Days);

    /// <summary>The prior-positive answer: whether the person had a positive in the last days, within the agent's scope.</summary>
    public sealed record PriorPositiveAnswer(bool PriorPositive, string? Date, int Days, string Scope);

    public sealed record AuditPage(IReadOnlyList<AuditRecord> Records, long? Next);

    public sealed record NoticeView(long Id, string CaseId, string Channel, DateTimeOffset CreatedAt, JsonElement Notice);

    public sealed record Outbox(IReadOnlyList<NoticeView> Notices);

    public static IEndpointRouteBuilder MapCasesApi(this IEndpointRouteBuilder app)
    {
        app.MapGet("/v1/cases", ListCases).RequireAuthorization(SidepPolicies.CaseReader);
        app.MapGet("/v1/cases/feed", Feed).RequireAuthorization(SidepPolicies.CaseReader);
        app.MapGet("/v1/cases/{caseId}", GetCase).RequireAuthorization(SidepPolicies.CaseReader);
        app.MapPost("/v1/cases/prior-positive", PriorPositiveAsync).RequireAuthorization(SidepPolicies.PriorPositive).RequireRateLimiting(PriorPositiveLimit);
        app.MapGet("/v1/audit", AuditLog).RequireAuthorization(SidepPolicies.Auditor);
        app.MapGet("/v1/notifications/outbox", Notices).RequireAuthorization(SidepPolicies.Notifier);
        app.MapPost("/v1/notifications/{id:long}/ack", Acknowledge).RequireAuthorization(SidepPolicies.Notifier);
        return app;
    }

    /// <summary>The cases of the agent's territories (or of those asked, the policy checked them), from a cursor or a moment.</summary>
    private static Results<JsonHttpResult<CasePage>, ProblemHttpResult> ListCases(HttpContext http, ClaimsPrincipal user, IStageStore store, TimeProvider time)
    {
        Agent agent = user.Agent();
        if (!TryLong(http.Request.Query["cursor"].FirstOrDefault(), out long cursor) || !TryLimit(http, out int limit))
        {
            return Bad("cursor is a number returned as next; limit a number from 1 to 500");
        }
        if (!QueryMoments.TryRead(http.Request.Query, "since", out DateTimeOffset? since, out string? error))
        {
            return Bad(error!);
        }
        return Audited(store, time, agent, "cases.list", http, Page(store.Cases(Territories(http.Request, agent), cursor, since, limit), limit));
    }

    /// <summary>Every case of the agent's territories after a cursor: the case-management system's feed.</summary>
    private static Results<JsonHttpResult<CasePage>, ProblemHttpResult> Feed(HttpContext http, ClaimsPrincipal user, IStageStore store, TimeProvider time)
    {
        Agent agent = user.Agent();
        if (!TryLong(http.Request.Query["after"].FirstOrDefault(), out long after) || !TryLimit(http, out int limit))
        {
            return Bad("after is a cursor returned as next; limit a number from 1 to 500");
        }
        return Audited(store, time, agent, "cases.feed", http, Page(store.Cases(agent.Departements, after, since: null, limit), limit));
    }

    private static Results<JsonHttpResult<CaseView>, ProblemHttpResult> GetCase(string caseId, HttpContext http, ClaimsPrincipal user, IStageStore store, TimeProvider time)
    {
        Agent agent = user.Agent();
        // A case of another territory and no case at all get the same answer: ids cannot be probed.
        if (store.Case(caseId) is not StoredCase found || !agent.Sees(found.Territory))
        {
            return TypedResults.Problem(statusCode: 403, title: "Not a case of your territories", detail: $"case '{caseId}' is not visible to you");
        }
        CaseView view = View(found);
        Audit(store, time, agent, "cases.get", http, [view]);
        return TypedResults.Json(view, SidepGatewayJson.Default.CaseView); // one case, as documented
    }

    /// <summary>Did this person (an INS, or traits) have a positive in the last days? Answered within the agent's scope, audited.</summary>
    private static async Task<Results<JsonHttpResult<PriorPositiveAnswer>, ProblemHttpResult>> PriorPositiveAsync(HttpContext http, ClaimsPrincipal user,
        IStageStore store, IPersonIndex identity, GatewayOptions options, TimeProvider time)
    {
        Agent agent = user.Agent();
        PriorPositiveQuery? query;
        try
        {
            query = await http.Request.ReadFromJsonAsync(SidepGatewayJson.Default.PriorPositiveQuery, http.RequestAborted);
        }
        catch (JsonException ex)
        {
            return Bad($"the body is not the expected JSON: {ex.Message}");
        }
        if (query is null || Identity(query) is not PatientIdentity person)
        {
            return Bad("give an INS (ins), or traits: birthName, givenNames, birthDate (YYYY-MM-DD) and sex");
        }
        int days = Math.Clamp(query.Days ?? 60, 1, 366);
        DateOnly today = DateOnly.FromDateTime(time.GetUtcNow().UtcDateTime);
        long? found = identity.Find(person);
        List<StoredCase> recent = found is long id
            ? [.. store.OpenCasesOf(id).Where(c => DateOnly.ParseExact(c.SampleDate, "yyyy-MM-dd", CultureInfo.InvariantCulture) >= today.AddDays(-days))]
            : [];
        // Answered for persons of the agent's territories only (national investigators: anyone). A positive elsewhere
        // reads as none, exactly like no positive at all: the question cannot probe other territories.
        bool national = agent.Role == AgentRoles.NationalInvestigator;
        StoredCase? latest = recent.FirstOrDefault(c => national || agent.Sees(c.Territory));
        int elsewhere = recent.Count(c => !national && !agent.Sees(c.Territory));
        // Audited with the person it resolved to (Sidep's internal id, never the identity asked), the territory and
        // the answer; the case answered is the audit record's case.
        store.Audit(agent.Id, agent.Role, "cases.prior-positive",
            $"by {(query.Ins is null ? "traits" : "INS")}, {days} days, scope {(national ? "national" : string.Join(' ', agent.Departements.Order(StringComparer.Ordinal)))}, " +
            $"person {(found is long p ? p.ToString(CultureInfo.InvariantCulture) : "not found")}, territory {latest?.Territory ?? "-"}: {(latest is null ? "no" : "yes")}" +
            (elsewhere > 0 ? $" ({elsewhere} positive outside the scope, not answered)" : "") + $"; limit {options.PriorPositivePerMinute}/min",
            latest is null ? [] : [latest.CaseId], time.GetUtcNow());
        return TypedResults.Json(new PriorPositiveAnswer(latest is not null, latest?.SampleDate, days, national ? "national" : "your territories"),
            SidepGatewayJson.Default.PriorPositiveAnswer);
    }

    private static Results<JsonHttpResult<AuditPage>, ProblemHttpResult> AuditLog(HttpContext http, IStageStore store)
    {
        if (!TryLong(http.Request.Query["after"].FirstOrDefault(), out long after) || !TryLimit(http, out int limit))
        {
            return Bad("after is an audit record id; limit a number from 1 to 500");
        }
        List<AuditRecord> records = store.AuditLog(after, limit);
        return TypedResults.Json(new AuditPage(records, records.Count == limit ? records[^1].Id : null), SidepGatewayJson.Default.AuditPage);
    }

    /// <summary>The patient notices waiting to be sent (audited: they are nominative).</summary>
    private static Results<JsonHttpResult<Outbox>, ProblemHttpResult> Notices(HttpContext http, ClaimsPrincipal user, IStageStore store, TimeProvider time)
    {
        Agent agent = user.Agent();
        if (!TryLimit(http, out int limit))
        {
            return Bad("limit is a number from 1 to 500");
        }
        List<StoredNotice> notices = store.Outbox(limit);
        store.Audit(agent.Id, agent.Role, "notifications.outbox", http.Request.QueryString.Value ?? "", [.. notices.Select(n => n.CaseId)], time.GetUtcNow());
        return TypedResults.Json(new Outbox([.. notices.Select(n => new NoticeView(n.Id, n.CaseId, n.Channel, n.CreatedAt, JsonDocument.Parse(n.Json).RootElement))]),
            SidepGatewayJson.Default.Outbox);
    }

    private static Results<NoContent, ProblemHttpResult> Acknowledge(long id, ClaimsPrincipal user, IStageStore store, TimeProvider time)
    {
        Agent agent = user.Agent();
        bool acknowledged = store.AcknowledgeNotice(id, time.GetUtcNow());
        store.Audit(agent.Id, agent.Role, "notifications.ack", $"notice {id}: {(acknowledged ? "acknowledged" : "nothing to acknowledge")}", [], time.GetUtcNow());
        return acknowledged
            ? TypedResults.NoContent()
            : TypedResults.Problem(statusCode: 409, title: "Nothing to acknowledge", detail: $"notice {id} does not exist or was acknowledged already");
    }

    /// <summary>The only way nominative data leaves: the audit record is written first, then the answer.</summary>
    private static JsonHttpResult<CasePage> Audited(IStageStore store, TimeProvider time, Agent agent, string action, HttpContext http, CasePage page)
    {
        Audit(store, time, agent, action, http, page.Cases);
        return TypedResults.Json(page, SidepGatewayJson.Default.CasePage);
    }

    private static void Audit(IStageStore store, TimeProvider time, Agent agent, string action, HttpContext http, IReadOnlyList<CaseView> cases) =>
        store.Audit(agent.Id, agent.Role, action, http.Request.Path + http.Request.QueryString, [.. cases.Select(c => c.CaseId)], time.GetUtcNow());

    private static CasePage Page(List<StoredCase> cases, int limit) =>
        new([.. cases.Select(View)], cases.Count == limit ? cases[^1].Seq : null);

    private static CaseView View(StoredCase c) => new(c.CaseId, c.Seq, c.Status, c.UpdatedAt, c.Territory, JsonDocument.Parse(c.Json).RootElement);

    /// <summary>The territories asked (the policy's requirement made sure they are the agent's), else all the agent's.</summary>
    private static IReadOnlyCollection<string> Territories(HttpRequest request, Agent agent) =>
        TerritoryRequirement.Asked(request) is string[] asked ? asked : agent.Departements;

    internal static PatientIdentity? Identity(PriorPositiveQuery q)
    {
        if (q.Ins is { Length: > 0 } ins)
        {
            return InsNumber.IsValid(ins) ? new PatientIdentity { Ins = new Ins(ins, InsNumber.NirOid, InsKind.Nir) } : null;
        }
        if (q.BirthName is null || q.GivenNames is not { Count: > 0 } || q.BirthDate is null
            || !DateOnly.TryParseExact(q.BirthDate, "yyyy-MM-dd", CultureInfo.InvariantCulture, DateTimeStyles.None, out DateOnly birth))
        {
            return null;
        }
        return new PatientIdentity
        {
            BirthName = q.BirthName, UsedName = q.UsedName, GivenNames = q.GivenNames, BirthDate = new PartialDate(birth.Year, birth.Month, birth.Day),
            Sex = Sexes.Parse(q.Sex),
        };
    }

    private static bool TryLong(string? text, out long value)
    {
        value = 0;
        return text is null || long.TryParse(text, NumberStyles.None, CultureInfo.InvariantCulture, out value);
    }

    private static bool TryLimit(HttpContext http, out int limit)
    {
        limit = 100;
        return http.Request.Query["limit"].FirstOrDefault() is not string text
            || int.TryParse(text, NumberStyles.None, CultureInfo.InvariantCulture, out limit) && limit is >= 1 and <= MaxPage;
    }

    private static ProblemHttpResult Bad(string detail) => TypedResults.Problem(statusCode: 400, title: "Bad request", detail: detail);
}

[System.Text.Json.Serialization.JsonSourceGenerationOptions(JsonSerializerDefaults.Web)]
[System.Text.Json.Serialization.JsonSerializable(typeof(CasesApi.CasePage))]
[System.Text.Json.Serialization.JsonSerializable(typeof(CasesApi.CaseView))]
[System.Text.Json.Serialization.JsonSerializable(typeof(CasesApi.PriorPositiveQuery))]
[System.Text.Json.Serialization.JsonSerializable(typeof(CasesApi.PriorPositiveAnswer))]
[System.Text.Json.Serialization.JsonSerializable(typeof(CasesApi.AuditPage))]
[System.Text.Json.Serialization.JsonSerializable(typeof(CasesApi.Outbox))]
internal sealed partial class SidepGatewayJson : System.Text.Json.Serialization.JsonSerializerContext
{
}
