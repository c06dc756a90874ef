using System.Net;
using System.Text.Json;
using System.Buffers;
using Sidep.Tests;

namespace Sidep.Gateway.Tests;

public class PersonsApiTests
{
    [Fact]
    public async Task Identity_decisions_are_served_to_the_operator_role_only()
    {
        await using SidepTestServer server = await SidepTestServer.StartAsync(o => o with { OperatorToken = "op-secret" });
        using HttpClient lab = server.Client(server.Store.AddLab("990000001", "Demo", ["LAB"], []));
        for (int i = 0; i < IdentityFixtures.ThreeLabs.Length; i++)
        {
            var body = new ByteArrayContent(IdentityFixtures.Message($"ACC{i}", IdentityFixtures.ThreeLabs[i]).ToArray()) { Headers = { ContentType = new("application/hl7-v2") } };
            Assert.Equal(HttpStatusCode.Created, (await lab.PostAsync("/v1/submissions", body)).StatusCode);
        }
        using var anonymous = new HttpClient { BaseAddress = server.Http };
        Assert.Equal(HttpStatusCode.Unauthorized, (await anonymous.GetAsync("/v1/persons/1/decisions")).StatusCode);
        Assert.Equal(HttpStatusCode.Unauthorized, (await lab.GetAsync("/v1/persons/1/decisions")).StatusCode); // a lab is no operator
        using var op = new HttpClient { BaseAddress = server.Http };
        op.DefaultRequestHeaders.Add("X-Operator-Token", "op-secret");
        JsonElement decisions = default;
        for (int i = 0; i < 50; i++)
        {
            HttpResponseMessage r = await op.GetAsync("/v1/persons/1/decisions");
            if (r.StatusCode == HttpStatusCode.OK && JsonDocument.Parse(await r.Content.ReadAsStringAsync()).RootElement.GetProperty("decisions") is { } d && d.GetArrayLength() == 3)
            {
                decisions = d;
                break;
            }
            await Task.Delay(100);
        }
        Assert.Equal(3, decisions.GetArrayLength());
        Assert.Equal(["InsNewPerson", "FuzzyTraits", "ExactTraits"], decisions.EnumerateArray().Select(d => d.GetProperty("rule").GetString()));
        Assert.True(decisions[1].GetProperty("decision").GetProperty("comparisons").GetArrayLength() >= 4);
    }
}
