using System.Net;
using System.Net.Http.Headers;
using System.Text.Json;
using Microsoft.AspNetCore.Authorization;
using Microsoft.AspNetCore.Http;
using Microsoft.AspNetCore.Routing;
using Microsoft.Extensions.DependencyInjection;

namespace Sidep.Gateway.Tests;

/// <summary>Authentication schemes and policies (Access): who may call what, and what a refusal says.</summary>
public class AccessTests
{
    private const string Key = "a-test-signing-key-of-at-least-32-bytes!";
    private const string OperatorToken = "operator-token-for-tests";

    [Fact]
    public async Task Every_API_endpoint_and_the_metrics_require_a_policy()
    {
        await using SidepTestServer server = await SidepTestServer.StartAsync();
        List<RouteEndpoint> endpoints = [.. server.Services.GetRequiredService<EndpointDataSource>().Endpoints.OfType<RouteEndpoint>()];
        List<RouteEndpoint> api = [.. endpoints.Where(e => e.RoutePattern.RawText!.StartsWith("/v1/", StringComparison.Ordinal))];
        Assert.True(api.Count >= 25, $"{api.Count} API endpoints found");
        string[] open = [.. api.Where(e => e.Metadata.GetOrderedMetadata<IAuthorizeData>().All(a => a.Policy is null)).Select(e => e.RoutePattern.RawText!)];
        Assert.Empty(open);
        Assert.Equal(SidepPolicies.Operator, endpoints.Single(e => e.RoutePattern.RawText == "/metrics").Metadata.GetMetadata<IAuthorizeData>()?.Policy);
    }

    [Fact]
    public async Task Refusals_say_what_to_send_and_what_the_caller_lacks()
    {
        await using SidepTestServer server = await SidepTestServer.StartAsync(o => o with { AgentSigningKey = Key, OperatorToken = OperatorToken });
        using var anonymous = new HttpClient { BaseAddress = server.Http };

        HttpResponseMessage noKey = await anonymous.GetAsync("/v1/quarantine");
        await AssertProblem(noKey, 401, "Unknown or missing API key", "API key");
        Assert.Contains("Bearer", noKey.Headers.WwwAuthenticate.ToString());
        await AssertProblem(await server.Client("sdp_not-a-key").GetAsync("/v1/quarantine"), 401, "Unknown or missing API key", "sidep labs add");

        HttpResponseMessage noOperator = await anonymous.GetAsync("/v1/pipeline");
        await AssertProblem(noOperator, 401, "Operator role required", "X-Operator-Token");
        Assert.Equal("X-Operator-Token", noOperator.Headers.WwwAuthenticate.ToString());
        // The operator token as a bearer token (what Prometheus sends) is the operator's too.
        Assert.Equal(HttpStatusCode.OK, (await server.Client(OperatorToken).GetAsync("/v1/pipeline")).StatusCode);

        await AssertProblem(await anonymous.GetAsync("/v1/cases"), 401, "Agent token required", "Authorization: Bearer");
        using HttpClient ain = Agent("a.martin", AgentRoles.Investigator, "01");
        await AssertProblem(await ain.GetAsync("/v1/cases?territory=01,75"), 403, "Not your territory", "territory '75' is not one of yours");
        Assert.Equal(HttpStatusCode.OK, (await ain.GetAsync("/v1/cases?territory=01")).StatusCode);
        await AssertProblem(await ain.GetAsync("/v1/audit"), 403, "Role not allowed", "role 'investigator' may not do this; needed: auditor");
        // An agent's token is not a lab's key, nor the operator's.
        await AssertProblem(await ain.GetAsync("/v1/quarantine"), 401, "Unknown or missing API key", "API key");
        await AssertProblem(await ain.GetAsync("/v1/pipeline"), 401, "Operator role required", "operator token");
        // The indicators: the operator or an epidemiologist; another agent is told which roles may.
        await AssertProblem(await ain.GetAsync("/v1/indicators/fra/daily.csv"), 403, "Role not allowed", "needed: operator or epidemiologist");
        using HttpClient epidemiologist = Agent("e.durand", AgentRoles.Epidemiologist);
        Assert.Equal(HttpStatusCode.OK, (await epidemiologist.GetAsync("/v1/indicators/fra/daily.csv")).StatusCode);
        // A lab's key reaches none of the agents' or operator's endpoints.
        using HttpClient lab = server.Client(server.Labs.AddLab("990000001", "Demo", ["LAB"], []));
        Assert.Equal(HttpStatusCode.OK, (await lab.GetAsync("/v1/quarantine")).StatusCode);
        await AssertProblem(await lab.GetAsync("/v1/cases"), 401, "Agent token required", "agent token");
        await AssertProblem(await lab.GetAsync("/metrics"), 401, "Operator role required", "operator token");

        HttpClient Agent(string id, string role, params string[] territories)
        {
            var client = new HttpClient { BaseAddress = server.Http };
            client.DefaultRequestHeaders.Authorization = new AuthenticationHeaderValue("Bearer", AgentTokens.Mint(Key, id, role, territories, TimeSpan.FromHours(1)));
            return client;
        }
    }

    [Fact]
    public async Task Without_a_signing_key_or_operator_token_the_roles_say_they_are_not_enabled()
    {
        await using SidepTestServer server = await SidepTestServer.StartAsync();
        using var client = new HttpClient { BaseAddress = server.Http };
        client.DefaultRequestHeaders.Authorization = new AuthenticationHeaderValue("Bearer",
            AgentTokens.Mint(Key, "a.martin", AgentRoles.Investigator, ["01"], TimeSpan.FromHours(1)));
        await AssertProblem(await client.GetAsync("/v1/cases"), 401, "Agent tokens are not enabled", "--agent-key");
        await AssertProblem(await client.GetAsync("/v1/labs"), 401, "Operator role required", "--operator-token");
    }

    private static async Task AssertProblem(HttpResponseMessage response, int status, string title, string detailPart)
    {
        Assert.Equal(status, (int)response.StatusCode);
        Assert.Equal("application/problem+json", response.Content.Headers.ContentType?.MediaType);
        JsonElement problem = JsonDocument.Parse(await response.Content.ReadAsStringAsync()).RootElement;
        Assert.Equal(title, problem.GetProperty("title").GetString());
        Assert.Contains(detailPart, problem.GetProperty("detail").GetString());
    }
}
