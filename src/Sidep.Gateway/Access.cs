using System.Security.Claims;
using System.Security.Cryptography;
using System.Text;
using System.Text.Encodings.Web;
using Microsoft.AspNetCore.Authentication;
using Microsoft.AspNetCore.Authentication.JwtBearer;
using Microsoft.AspNetCore.Authorization;
using Microsoft.AspNetCore.Authorization.Infrastructure;
using Microsoft.AspNetCore.Authorization.Policy;
using Microsoft.AspNetCore.Http;
using Microsoft.Extensions.DependencyInjection;
using Microsoft.Extensions.Logging;
using Microsoft.Extensions.Options;
using Microsoft.IdentityModel.Tokens;
using Sidep.Domain;
using Sidep.Pipeline;

namespace Sidep.Gateway;

/// <summary>Who calls Sidep's HTTP API, and how each proves it: three authentication schemes.</summary>
public static class SidepSchemes
{
    /// <summary>A lab's API key, as <c>X-Api-Key</c> or <c>Authorization: Bearer</c>, found in the lab register.</summary>
    public const string LabKey = "lab-key";

    /// <summary>The operator's shared token (serve --operator-token), as <c>X-Operator-Token</c> or <c>Authorization: Bearer</c>
    /// (what Prometheus sends).</summary>
    public const string OperatorToken = "operator-token";

    /// <summary>An agent's JWT (see <see cref="AgentTokens"/>).</summary>
    public const string AgentToken = JwtBearerDefaults.AuthenticationScheme;

    /// <summary>The role claim of the operator token's principal (agents' roles are <see cref="AgentRoles"/>).</summary>
    public const string OperatorRole = "operator";
}

/// <summary>What each endpoint requires: one policy per kind of caller (<see cref="Access.AddSidepAccess"/>).</summary>
public static class SidepPolicies
{
    public const string Lab = "lab";
    public const string Operator = "operator";
    /// <summary>The indicators: the operator, or an epidemiologist agent.</summary>
    public const string IndicatorReader = "indicator-reader";
    /// <summary>The cases of the agent's territories (investigators and supervisors); a <c>territory</c> asked must be theirs.</summary>
    public const string CaseReader = "case-reader";
    /// <summary>The prior-positive question: investigators, supervisors and national investigators.</summary>
    public const string PriorPositive = "prior-positive";
    public const string Auditor = "auditor";
    public const string Notifier = "notifier";
    public const string ResearchOperator = "research-operator";
}

/// <summary>The lab of a request authenticated by its API key: its identity carries the register's entry.</summary>
public sealed class LabIdentity(Lab lab) : ClaimsIdentity([new Claim("sub", lab.Finess), new Claim("role", "lab")], SidepSchemes.LabKey, "sub", "role")
{
    public Lab Lab { get; } = lab;
}

/// <summary>The authenticated caller of an endpoint, as its policy guarantees it.</summary>
public static class Callers
{
    /// <summary>The lab calling an endpoint under <see cref="SidepPolicies.Lab"/>.</summary>
    public static Lab Lab(this ClaimsPrincipal user) => user.Identities.OfType<LabIdentity>().FirstOrDefault()?.Lab
        ?? throw new InvalidOperationException("the endpoint reads a lab but requires no lab policy");

    /// <summary>The agent calling an endpoint under one of the agents' policies.</summary>
    public static Agent Agent(this ClaimsPrincipal user) => Sidep.Gateway.Agent.Of(user)
        ?? throw new InvalidOperationException("the endpoint reads an agent but requires no agent policy");
}

/// <summary>
/// Authentication and authorisation the ASP.NET Core way: a handler per scheme (<see cref="SidepSchemes"/>), a policy per
/// kind of caller (<see cref="SidepPolicies"/>) with the agents' territory requirement, and refusals answered as
/// problem details that say what to send (<see cref="ProblemAnswers"/>). Endpoints state their policy and receive the
/// authenticated principal.
/// </summary>
public static class Access
{
    public static IServiceCollection AddSidepAccess(this IServiceCollection services, GatewayOptions options)
    {
        services.AddAuthentication()
            .AddScheme<AuthenticationSchemeOptions, LabKeyHandler>(SidepSchemes.LabKey, null)
            .AddScheme<AuthenticationSchemeOptions, OperatorTokenHandler>(SidepSchemes.OperatorToken, null)
            .AddJwtBearer(SidepSchemes.AgentToken, jwt => AgentTokens.Configure(jwt, options));
        services.AddSingleton<IAuthorizationHandler, TerritoryHandler>();
        services.AddSingleton<IAuthorizationMiddlewareResultHandler, ProblemAnswers>();
        services.AddAuthorizationBuilder()
            .AddPolicy(SidepPolicies.Lab, p => p.AddAuthenticationSchemes(SidepSchemes.LabKey).RequireAuthenticatedUser())
            .AddPolicy(SidepPolicies.Operator, p => p.AddAuthenticationSchemes(SidepSchemes.OperatorToken).RequireRole(SidepSchemes.OperatorRole))
            .AddPolicy(SidepPolicies.IndicatorReader, p => p.AddAuthenticationSchemes(SidepSchemes.OperatorToken, SidepSchemes.AgentToken)
                .RequireRole(SidepSchemes.OperatorRole, AgentRoles.Epidemiologist))
            .AddPolicy(SidepPolicies.CaseReader, p => Agents(p, AgentRoles.Investigator, AgentRoles.Supervisor).AddRequirements(new TerritoryRequirement()))
            .AddPolicy(SidepPolicies.PriorPositive, p => Agents(p, AgentRoles.Investigator, AgentRoles.Supervisor, AgentRoles.NationalInvestigator))
            .AddPolicy(SidepPolicies.Auditor, p => Agents(p, AgentRoles.Auditor))
            .AddPolicy(SidepPolicies.Notifier, p => Agents(p, AgentRoles.Notifier))
            .AddPolicy(SidepPolicies.ResearchOperator, p => Agents(p, AgentRoles.ResearchOperator));
        return services;
    }

    private static AuthorizationPolicyBuilder Agents(AuthorizationPolicyBuilder policy, params string[] roles) =>
        policy.AddAuthenticationSchemes(SidepSchemes.AgentToken).RequireRole(roles);

    /// <summary>The credential sent as <paramref name="header"/>, else as a bearer token.</summary>
    internal static string? Credential(HttpRequest request, string header)
    {
        string? value = request.Headers[header].FirstOrDefault();
        string? authorization = request.Headers.Authorization.FirstOrDefault();
        if (value is null && authorization is not null && authorization.StartsWith("Bearer ", StringComparison.OrdinalIgnoreCase))
        {
            value = authorization["Bearer ".Length..].Trim();
        }
        return string.IsNullOrEmpty(value) ? null : value;
    }
}

/// <summary>A lab by its API key (the register keeps only the key's hash).</summary>
internal sealed class LabKeyHandler(IOptionsMonitor<AuthenticationSchemeOptions> options, ILoggerFactory logger, UrlEncoder encoder, ILabRegister labs)
    : AuthenticationHandler<AuthenticationSchemeOptions>(options, logger, encoder)
{
    protected override Task<AuthenticateResult> HandleAuthenticateAsync()
    {
        if (Access.Credential(Request, "X-Api-Key") is not string key)
        {
            return Task.FromResult(AuthenticateResult.NoResult());
        }
        return Task.FromResult(labs.FindLabByApiKey(key) is Lab lab
            ? AuthenticateResult.Success(new AuthenticationTicket(new ClaimsPrincipal(new LabIdentity(lab)), Scheme.Name))
            : AuthenticateResult.Fail("unknown API key"));
    }
}

/// <summary>The operator by the shared token, compared in constant time; nobody when the server has none.</summary>
internal sealed class OperatorTokenHandler(IOptionsMonitor<AuthenticationSchemeOptions> options, ILoggerFactory logger, UrlEncoder encoder, GatewayOptions gateway)
    : AuthenticationHandler<AuthenticationSchemeOptions>(options, logger, encoder)
{
    private readonly byte[]? _expected = gateway.OperatorToken is { Length: >= GatewayOptions.MinOperatorTokenLength } token ? Encoding.UTF8.GetBytes(token) : null;

    protected override Task<AuthenticateResult> HandleAuthenticateAsync()
    {
        if (_expected is null || Access.Credential(Request, "X-Operator-Token") is not string token)
        {
            return Task.FromResult(AuthenticateResult.NoResult());
        }
        if (!CryptographicOperations.FixedTimeEquals(Encoding.UTF8.GetBytes(token), _expected))
        {
            return Task.FromResult(AuthenticateResult.NoResult()); // maybe another scheme's bearer token (an agent's JWT)
        }
        var identity = new ClaimsIdentity([new Claim("sub", "operator"), new Claim("role", SidepSchemes.OperatorRole)], Scheme.Name, "sub", "role");
        return Task.FromResult(AuthenticateResult.Success(new AuthenticationTicket(new ClaimsPrincipal(identity), Scheme.Name)));
    }
}

/// <summary>A <c>territory</c> asked in the query (one, or several separated by commas) must be among the agent's.</summary>
public sealed class TerritoryRequirement : IAuthorizationRequirement
{
    /// <summary>The territories asked, or null when none is (the agent's own are meant).</summary>
    public static string[]? Asked(HttpRequest request) => request.Query["territory"].FirstOrDefault() is string asked
        ? asked.Split(',', StringSplitOptions.RemoveEmptyEntries | StringSplitOptions.TrimEntries)
        : null;
}

internal sealed class TerritoryHandler : AuthorizationHandler<TerritoryRequirement, HttpContext>
{
    protected override Task HandleRequirementAsync(AuthorizationHandlerContext context, TerritoryRequirement requirement, HttpContext http)
    {
        if (Agent.Of(context.User) is not Agent agent)
        {
            return Task.CompletedTask;
        }
        if (TerritoryRequirement.Asked(http.Request)?.FirstOrDefault(t => !agent.Sees(t)) is string outside)
        {
            context.Fail(new AuthorizationFailureReason(this, $"territory '{outside}' is not one of yours"));
        }
        else
        {
            context.Succeed(requirement);
        }
        return Task.CompletedTask;
    }
}

/// <summary>Refusals as problem details saying what to send (401, with WWW-Authenticate) or what the caller lacks (403).</summary>
internal sealed class ProblemAnswers(GatewayOptions options) : IAuthorizationMiddlewareResultHandler
{
    private readonly AuthorizationMiddlewareResultHandler _default = new();

    public Task HandleAsync(RequestDelegate next, HttpContext http, AuthorizationPolicy policy, PolicyAuthorizationResult result)
    {
        if (result.Challenged)
        {
            return Challenge(http, policy.AuthenticationSchemes).ExecuteAsync(http);
        }
        if (result.Forbidden)
        {
            return Forbid(http, result.AuthorizationFailure).ExecuteAsync(http);
        }
        return _default.HandleAsync(next, http, policy, result);
    }

    private IResult Challenge(HttpContext http, IReadOnlyList<string> schemes)
    {
        if (schemes.Contains(SidepSchemes.LabKey))
        {
            http.Response.Headers.WWWAuthenticate = "Bearer realm=\"sidep\"";
            return TypedResults.Problem(statusCode: 401, title: "Unknown or missing API key",
                detail: "send the lab's API key as 'Authorization: Bearer <key>' or 'X-Api-Key: <key>'; 'sidep labs add' issues one");
        }
        if (schemes.Contains(SidepSchemes.OperatorToken))
        {
            http.Response.Headers.WWWAuthenticate = "X-Operator-Token";
            string also = schemes.Contains(SidepSchemes.AgentToken) ? " (or an epidemiologist's agent token as Authorization: Bearer <jwt>)" : "";
            return TypedResults.Problem(statusCode: 401, title: "Operator role required",
                detail: options.OperatorToken is null ? "the operator role is not enabled on this server (serve --operator-token)" + also : "send the operator token as X-Operator-Token" + also);
        }
        if (options.AgentSigningKey is null)
        {
            return TypedResults.Problem(statusCode: 401, title: "Agent tokens are not enabled",
                detail: "this server has no agent signing key (serve --agent-key or $SIDEP_AGENT_KEY)");
        }
        http.Response.Headers.WWWAuthenticate = "Bearer";
        return TypedResults.Problem(statusCode: 401, title: "Agent token required", detail: "send a valid agent token as Authorization: Bearer <jwt>");
    }

    private static IResult Forbid(HttpContext http, AuthorizationFailure? failure)
    {
        if (failure?.FailureReasons.FirstOrDefault(r => r.Handler is TerritoryHandler) is { } territory)
        {
            return TypedResults.Problem(statusCode: 403, title: "Not your territory", detail: territory.Message);
        }
        string[] needed = [.. failure?.FailedRequirements.OfType<RolesAuthorizationRequirement>().SelectMany(r => r.AllowedRoles) ?? []];
        string role = http.User.FindFirst("role")?.Value ?? "(none)";
        return TypedResults.Problem(statusCode: 403, title: "Role not allowed", detail: $"role '{role}' may not do this; needed: {string.Join(" or ", needed)}");
    }
}
