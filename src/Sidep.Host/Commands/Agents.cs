namespace Sidep.Host;

/// <summary>`sidep agents`: minting agents' tokens.</summary>
public static partial class Cli
{
    private static Command Agents()
    {
        var key = new Option<string?>("--key") { Description = "The signing secret given to 'sidep serve --agent-key' (default: $SIDEP_AGENT_KEY)" };
        var agent = new Option<string>("--agent") { Required = true, Description = "The agent's identifier (the token's subject)" };
        var role = new Option<string>("--role") { Required = true, Description = "investigator, supervisor, auditor or notifier" };
        role.AcceptOnlyFromAmong(AgentRoles.All);
        var territory = new Option<string[]>("--territory") { Description = "A département (75, 2A, 971) or a région (reg:11); repeat for several", AllowMultipleArgumentsPerToken = true };
        var hours = new Option<double>("--hours") { Description = "How long the token is valid", DefaultValueFactory = _ => 8 };
        var issuer = new Option<string>("--issuer") { Description = "The issuer the server expects", DefaultValueFactory = _ => AgentTokens.DefaultIssuer };
        var token = new Command("token", "Mint an agent's bearer token (JWT, HS256) for tests and demos; prints it") { key, agent, role, territory, hours, issuer };
        token.SetAction(parse =>
        {
            string? secret = parse.GetValue(key) ?? Environment.GetEnvironmentVariable("SIDEP_AGENT_KEY");
            if (secret is not { Length: >= 32 })
            {
                Console.Error.WriteLine("the signing key is needed (--key or $SIDEP_AGENT_KEY), 32 bytes or more, as given to 'sidep serve --agent-key'.");
                return 2;
            }
            double lifetime = parse.GetValue(hours);
            if (!(lifetime > 0) || lifetime > AgentTokens.MaxLifetime.TotalHours)
            {
                Console.Error.WriteLine($"--hours must be more than 0 and at most {AgentTokens.MaxLifetime.TotalHours} (a token is minted to be used, then renewed)");
                return 2;
            }
            string[] territories = parse.GetValue(territory) ?? [];
            var unknown = territories.Where(t => Sidep.Indicators.Geography.France.DepartementIndex(t) < 0
                && !(t.StartsWith("reg:", StringComparison.Ordinal) && Sidep.Indicators.Geography.France.RegionIndex(t[4..]) >= 0)).ToList();
            if (unknown.Count > 0)
            {
                Console.Error.WriteLine($"unknown territories: {string.Join(", ", unknown)} (a département code, or reg: and a région code)");
                return 2;
            }
            Console.WriteLine(AgentTokens.Mint(secret, parse.GetValue(agent)!, parse.GetValue(role)!, territories, TimeSpan.FromHours(parse.GetValue(hours)), parse.GetValue(issuer)!));
            return 0;
        });
        return new Command("agents", "Contact-tracing agents' access") { token };
    }
}
