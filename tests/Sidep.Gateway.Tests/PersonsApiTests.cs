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
        await using SidepTestServer server = await SidepTestServer.StartAsync(o => o with { OperatorToken = "operator-token-for-tests" });
        using HttpClient lab = server.Client(server.Labs.AddLab("990000001", "Demo", ["LAB"], []));
        for (int i = 0; i < IdentityFixtures.ThreeLabs.Length; i++)
        {
            var body = new ByteArrayContent(IdentityFixtures.Message($"ACC{i}", IdentityFixtures.ThreeLabs[i]).ToArray()) { Headers = { ContentType = new("application/hl7-v2") } };
            Assert.Equal(HttpStatusCode.Created, (await lab.PostAsync("/v1/submissions", body)).StatusCode);
        }
        using var anonymous = new HttpClient { BaseAddress = server.Http };
        Assert.Equal(HttpStatusCode.Unauthorized, (await anonymous.GetAsync("/v1/persons/1/decisions")).StatusCode);
        Assert.Equal(HttpStatusCode.Unauthorized, (await lab.GetAsync("/v1/persons/1/decisions")).StatusCode); // a lab is no operator
        using var op = new HttpClient { BaseAddress = server.Http };
        op.DefaultRequestHeaders.Add("X-Operator-Token", "operator-token-for-tests");
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

    [Fact]
    public async Task Possible_matches_and_INS_conflicts_wait_in_the_review_queue_for_the_operator()
    {
        await using SidepTestServer server = await SidepTestServer.StartAsync(o => o with { OperatorToken = "operator-token-for-tests" });
        using HttpClient lab = server.Client(server.Labs.AddLab("990000001", "Demo", ["LAB"], []));
        string[] pids =
        [
            "PID|1||51^^^LAB^PI||DURAND^PAUL^ANDRE||19700101|M",
            "PID|1||52^^^LAB^PI||DURAND^PAUL^MARCEL||19700101|M", // same names, second given names contradict: relatives?
            $"PID|1||{IdentityFixtures.Ins}^^^ASIP-SANTE-INS-NIR&1.2.250.1.213.1.4.8&ISO^INS||LEFEVRE^HELENE||19850314|F",
            $"PID|1||{IdentityFixtures.Ins}^^^ASIP-SANTE-INS-NIR&1.2.250.1.213.1.4.8&ISO^INS||BERNARD^SOPHIE||19850314|F", // same INS, another woman
        ];
        for (int i = 0; i < pids.Length; i++)
        {
            var body = new ByteArrayContent(IdentityFixtures.Message($"REV{i}", pids[i]).ToArray()) { Headers = { ContentType = new("application/hl7-v2") } };
            Assert.Equal(HttpStatusCode.Created, (await lab.PostAsync("/v1/submissions", body)).StatusCode);
        }
        using var anonymous = new HttpClient { BaseAddress = server.Http };
        Assert.Equal(HttpStatusCode.Unauthorized, (await anonymous.GetAsync("/v1/persons/review")).StatusCode);
        using var op = new HttpClient { BaseAddress = server.Http };
        op.DefaultRequestHeaders.Add("X-Operator-Token", "operator-token-for-tests");
        JsonElement items = default;
        for (int i = 0; i < 50; i++)
        {
            items = JsonDocument.Parse(await op.GetStringAsync("/v1/persons/review")).RootElement.GetProperty("items");
            if (items.GetArrayLength() == 2)
            {
                break;
            }
            await Task.Delay(100);
        }
        Assert.Equal(["PossibleMatch", "InsConflict"], items.EnumerateArray().Select(e => e.GetProperty("rule").GetString()));
        Assert.Equal(1, items[0].GetProperty("candidate").GetInt64());
        Assert.Equal(2, items[0].GetProperty("person").GetInt64());
        Assert.Equal("REV1", items[0].GetProperty("result").GetProperty("accessionId").GetString());
        Assert.Equal(3, items[1].GetProperty("candidate").GetInt64()); // the INS holder
        Assert.DoesNotContain("BERNARD", items.GetRawText(), StringComparison.OrdinalIgnoreCase); // nothing nominative
        JsonElement page = JsonDocument.Parse(await op.GetStringAsync($"/v1/persons/review?limit=1")).RootElement;
        Assert.Equal(1, page.GetProperty("items").GetArrayLength());
        JsonElement rest = JsonDocument.Parse(await op.GetStringAsync($"/v1/persons/review?after={page.GetProperty("next").GetInt64()}")).RootElement;
        Assert.Equal("InsConflict", Assert.Single(rest.GetProperty("items").EnumerateArray()).GetProperty("rule").GetString());
    }
}
