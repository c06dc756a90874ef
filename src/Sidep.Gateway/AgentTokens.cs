using System.Security.Claims;
using System.Text;
using Microsoft.AspNetCore.Authentication.JwtBearer;
using Microsoft.IdentityModel.JsonWebTokens;
using Microsoft.IdentityModel.Tokens;
using Sidep.Indicators;

namespace Sidep.Gateway;

/// <summary>The roles of agents. Investigators and supervisors read the cases of their territories; auditors read the
/// audit log (nothing nominative); the notifier is the service that sends patient advice notices.</summary>
public static class AgentRoles
{
    public const string Investigator = "investigator";
    public const string Supervisor = "supervisor";
    public const string Auditor = "auditor";
    public const string Notifier = "notifier";
    /// <summary>The research operator: the pseudonym link tables of key rotations.</summary>
    public const string ResearchOperator = "research-operator";
    /// <summary>A national contact-tracing platform's investigator: the prior-positive question answered for anyone in
    /// France (other roles: for persons of their territories only); no access to the cases lists.</summary>
    public const string NationalInvestigator = "national-investigator";

    /// <summary>An epidemiologist: the indicators (tables, rates, revisions, freshness) and the console's charts of them;
    /// nothing nominative.</summary>
    public const string Epidemiologist = "epidemiologist";

    public static readonly string[] All = [Investigator, Supervisor, Auditor, Notifier, ResearchOperator, NationalInvestigator, Epidemiologist];
}

/// <summary>An authenticated agent: who, which role, which départements (régions expanded).</summary>
public sealed record Agent(string Id, string Role, IReadOnlySet<string> Departements)
{
    public bool Sees(string territory) => Departements.Contains(territory);

    /// <summary>The agent of a request authenticated by its bearer token, or null.</summary>
    public static Agent? Of(ClaimsPrincipal user)
    {
        if (user.Identity?.IsAuthenticated != true || user.FindFirst("sub")?.Value is not string id || user.FindFirst("role")?.Value is not string role)
        {
            return null;
        }
        var deps = new HashSet<string>(StringComparer.Ordinal);
        Geography g = Geography.France;
        foreach (Claim claim in user.FindAll("territory"))
        {
            if (claim.Value.StartsWith("reg:", StringComparison.Ordinal) && g.RegionIndex(claim.Value[4..]) is int r and >= 0)
            {
                deps.UnionWith(g.DepartementsOfRegion[r].Select(d => g.Departements[d]));
            }
            else if (g.DepartementIndex(claim.Value.StartsWith("dep:", StringComparison.Ordinal) ? claim.Value[4..] : claim.Value) is int d and >= 0)
            {
                deps.Add(g.Departements[d]);
            }
        }
        return new Agent(id, role, deps);
    }
}

/// <summary>Agents' bearer tokens: JWT signed with HS256 under the configured secret, carrying <c>sub</c> (the agent),
/// <c>role</c> and one <c>territory</c> claim per département (<c>75</c>) or région (<c>reg:11</c>).</summary>
public static class AgentTokens
{
    public const string DefaultIssuer = "sidep";
    public const string Audience = "sidep-agents";

    public static SymmetricSecurityKey Key(string secret)
    {
        byte[] bytes = Encoding.UTF8.GetBytes(secret);
        if (bytes.Length < 32)
        {
            throw new ArgumentException("the agent signing key must be at least 32 bytes long", nameof(secret));
        }
        return new SymmetricSecurityKey(bytes);
    }

    /// <summary>The longest an agent's token may live: a working day and a half.</summary>
    public static readonly TimeSpan MaxLifetime = TimeSpan.FromHours(36);

    /// <summary>Mints a token (for tests, demos, and the identity provider's stand-in).</summary>
    public static string Mint(string secret, string agent, string role, IEnumerable<string> territories, TimeSpan lifetime, string issuer = DefaultIssuer,
        DateTime? now = null)
    {
        if (lifetime <= TimeSpan.Zero || lifetime > MaxLifetime)
        {
            throw new ArgumentOutOfRangeException(nameof(lifetime), $"a token lives more than 0 and at most {MaxLifetime.TotalHours} hours");
        }
        DateTime issued = now ?? DateTime.UtcNow;
        var claims = new Dictionary<string, object> { ["sub"] = agent, ["role"] = role, ["territory"] = territories.ToArray() };
        return new JsonWebTokenHandler().CreateToken(new SecurityTokenDescriptor
        {
            Issuer = issuer,
            Audience = Audience,
            Claims = claims,
            IssuedAt = issued,
            NotBefore = issued,
            Expires = issued + lifetime,
            SigningCredentials = new SigningCredentials(Key(secret), SecurityAlgorithms.HmacSha256),
        });
    }

    /// <summary>How agents' tokens are validated (the <see cref="SidepSchemes.AgentToken"/> scheme): signed with the configured
    /// key, this issuer and audience, HS256 only; without a key no token is read at all.</summary>
    internal static void Configure(JwtBearerOptions jwt, GatewayOptions options)
    {
        jwt.MapInboundClaims = false;
        if (options.AgentSigningKey is not string secret)
        {
            jwt.Events = new JwtBearerEvents { OnMessageReceived = context => { context.NoResult(); return Task.CompletedTask; } };
            return;
        }
        jwt.TokenValidationParameters = new TokenValidationParameters
        {
            ValidIssuer = options.AgentIssuer,
            ValidAudience = Audience,
            IssuerSigningKey = Key(secret),
            ValidAlgorithms = [SecurityAlgorithms.HmacSha256],
            ClockSkew = TimeSpan.FromMinutes(1),
            NameClaimType = "sub",
            RoleClaimType = "role",
        };
    }
}
