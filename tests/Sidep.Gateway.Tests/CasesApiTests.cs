using System.Net;
using System.Net.Http.Headers;
using System.Net.Http.Json;
using System.Text.Json;
using Microsoft.AspNetCore.Routing;
using Microsoft.Extensions.DependencyInjection;
using Sidep.Domain;
using Sidep.Journal;
using Sidep.Pipeline;
using Sidep.Storage.Sqlite;

namespace Sidep.Gateway.Tests;

public class CasesApiTests
{
    private const string Key = "a-test-signing-key-of-at-least-32-bytes!";
    private static readonly DateOnly Today = DateOnly.FromDateTime(DateTime.UtcNow);

    private static HttpClient AgentClient(SidepTestServer server, string agent, string role, params string[] territories)
    {
        var client = new HttpClient { BaseAddress = server.Http };
        client.DefaultRequestHeaders.Authorization = new AuthenticationHeaderValue("Bearer", AgentTokens.Mint(Key, agent, role, territories, TimeSpan.FromHours(1)));
        return client;
    }

    private static Task<SidepTestServer> StartAsync(Func<GatewayOptions, GatewayOptions> configure) => StartAsync(null, configure);

    private static async Task<SidepTestServer> StartAsync(string? dir = null, Func<GatewayOptions, GatewayOptions>? configure = null)
    {
        SidepTestServer server = await SidepTestServer.StartAsync(o => (configure ?? (x => x))(o with { AgentSigningKey = Key, DataDirectory = dir ?? o.DataDirectory }));
        server.Labs.AddLab("990000001", "Demo", ["LAB"], []);
        return server;
    }

    private static async Task<JsonElement> WaitForCasesAsync(HttpClient agent, string url, int count)
    {
        JsonElement cases = default;
        for (int i = 0; i < 100; i++)
        {
            cases = JsonDocument.Parse(await agent.GetStringAsync(url)).RootElement.GetProperty("cases");
            if (cases.GetArrayLength() >= count)
            {
                break;
            }
            await Task.Delay(100);
        }
        return cases;
    }

    [Fact]
    public async Task A_positive_result_becomes_within_seconds_a_case_of_its_departement_invisible_to_another()
    {
        await using SidepTestServer server = await StartAsync();
        using HttpClient lab = server.Client(server.Labs.AddLab("990000001", "Demo", ["LAB"], []));
        await ResultMessages.SendAsync(lab, [ResultMessages.Oru(1, Today, 34, 'F', positive: true, phone: "0601020304"), ResultMessages.Oru(2, Today, 50, 'M', positive: false)]);

        using HttpClient ain = AgentClient(server, "agent-ain", AgentRoles.Investigator, "01");
        JsonElement cases = await WaitForCasesAsync(ain, "/v1/cases", 1);
        JsonElement only = Assert.Single(cases.EnumerateArray());
        Assert.Equal("01", only.GetProperty("territory").GetString());
        JsonElement details = only.GetProperty("details");
        Assert.Equal("0601020304", details.GetProperty("patient").GetProperty("phone").GetString());
        Assert.Equal("PERSB", details.GetProperty("patient").GetProperty("birthName").GetString());
        Assert.Equal(Today.ToString("yyyy-MM-dd"), details.GetProperty("sampleDate").GetString());
        string caseId = only.GetProperty("caseId").GetString()!;

        // The case-management system reads the same changes from the cases topic.
        var transport = server.Services.GetRequiredService<Sidep.Transport.IStageTransport>();
        using (Sidep.Transport.IStageConsumer topic = transport.Subscribe(Sidep.Ingestion.Cases.Topic, "case-management"))
        {
            Sidep.Transport.IncomingMessage? message = null;
            for (int i = 0; i < 50 && message is null; i++)
            {
                message = topic.Poll(10, TimeSpan.FromMilliseconds(100)).FirstOrDefault();
            }
            Assert.NotNull(message);
            Assert.Equal(caseId, message!.Headers["sidep-case-id"]);
            Assert.Equal(("open", "01"), (message.Headers["sidep-status"], message.Headers["sidep-territory"]));
            Assert.Contains("PERSB", System.Text.Encoding.UTF8.GetString(message.Payload.Span), StringComparison.Ordinal);
        }

        using HttpClient region = AgentClient(server, "agent-ara", AgentRoles.Supervisor, "reg:84"); // Auvergne-Rhône-Alpes holds the Ain
        Assert.Single((await WaitForCasesAsync(region, "/v1/cases", 1)).EnumerateArray());
        HttpResponseMessage one = await region.GetAsync($"/v1/cases/{caseId}");
        Assert.Equal(HttpStatusCode.OK, one.StatusCode);
        using (JsonDocument single = JsonDocument.Parse(await one.Content.ReadAsStringAsync()))
        {
            Assert.Equal(caseId, single.RootElement.GetProperty("caseId").GetString()); // one case, not a page
            Assert.False(single.RootElement.TryGetProperty("cases", out _));
        }

        using HttpClient paris = AgentClient(server, "agent-paris", AgentRoles.Investigator, "75");
        Assert.Empty(JsonDocument.Parse(await paris.GetStringAsync("/v1/cases")).RootElement.GetProperty("cases").EnumerateArray());
        Assert.Equal(HttpStatusCode.Forbidden, (await paris.GetAsync($"/v1/cases/{caseId}")).StatusCode);
        Assert.Equal(HttpStatusCode.Forbidden, (await paris.GetAsync("/v1/cases/case_doesnotexist")).StatusCode); // the same answer: no probing
        Assert.Equal(HttpStatusCode.Forbidden, (await paris.GetAsync("/v1/cases?territory=01")).StatusCode);
        Assert.Empty(JsonDocument.Parse(await paris.GetStringAsync("/v1/cases/feed")).RootElement.GetProperty("cases").EnumerateArray());

        using HttpClient nowhere = AgentClient(server, "agent-nowhere", AgentRoles.Investigator); // no territory in the token
        Assert.Empty(JsonDocument.Parse(await nowhere.GetStringAsync("/v1/cases")).RootElement.GetProperty("cases").EnumerateArray());
        Assert.Equal(HttpStatusCode.Forbidden, (await nowhere.GetAsync($"/v1/cases/{caseId}")).StatusCode);

        using HttpClient auditor = AgentClient(server, "auditor-1", AgentRoles.Auditor);
        Assert.Equal(HttpStatusCode.Forbidden, (await auditor.GetAsync("/v1/cases")).StatusCode);
        Assert.Equal(HttpStatusCode.Forbidden, (await ain.GetAsync("/v1/audit")).StatusCode);
        using var anonymous = new HttpClient { BaseAddress = server.Http };
        Assert.Equal(HttpStatusCode.Unauthorized, (await anonymous.GetAsync("/v1/cases")).StatusCode);
        using var forged = new HttpClient { BaseAddress = server.Http };
        forged.DefaultRequestHeaders.Authorization = new("Bearer", AgentTokens.Mint("another-key-that-is-also-32-bytes-long", "x", AgentRoles.Investigator, ["01"], TimeSpan.FromHours(1)));
        Assert.Equal(HttpStatusCode.Unauthorized, (await forged.GetAsync("/v1/cases")).StatusCode);

        // Every read of nominative data is in the audit log, with the cases it returned.
        JsonElement records = JsonDocument.Parse(await auditor.GetStringAsync("/v1/audit")).RootElement.GetProperty("records");
        Assert.Contains(records.EnumerateArray(), r => r.GetProperty("agent").GetString() == "agent-ain" && r.GetProperty("caseIds").EnumerateArray().Any(c => c.GetString() == caseId));
        Assert.Contains(records.EnumerateArray(), r => r.GetProperty("agent").GetString() == "agent-ara" && r.GetProperty("action").GetString() == "cases.get");
        // Not even a connection of its own to the database file can change the log.
        using var behind = new Microsoft.Data.Sqlite.SqliteConnection($"Data Source={Path.Combine(server.DataDir, "sidep.db")}");
        behind.Open();
        foreach (string sql in new[] { "DELETE FROM audit", "UPDATE audit SET agent = 'nobody'" })
        {
            using Microsoft.Data.Sqlite.SqliteCommand command = behind.CreateCommand();
            command.CommandText = sql;
            Assert.Throws<Microsoft.Data.Sqlite.SqliteException>(() => command.ExecuteNonQuery());
        }
    }

    [Fact]
    public async Task No_path_returns_nominative_data_without_an_audit_record()
    {
        await using SidepTestServer server = await StartAsync();
        using HttpClient lab = server.Client(server.Labs.AddLab("990000001", "Demo", ["LAB"], []));
        await ResultMessages.SendAsync(lab, [ResultMessages.Oru(1, Today, 34, 'F', positive: true, phone: "0601020304")]);
        using HttpClient ain = AgentClient(server, "agent-ain", AgentRoles.Investigator, "01");
        string caseId = (await WaitForCasesAsync(ain, "/v1/cases", 1))[0].GetProperty("caseId").GetString()!;
        using HttpClient notifier = AgentClient(server, "sender", AgentRoles.Notifier);

        // Every GET route of the contact-tracing and notification APIs, as the app declares them.
        var routes = server.Services.GetRequiredService<EndpointDataSource>().Endpoints.OfType<RouteEndpoint>()
            .Select(e => e.RoutePattern.RawText!)
            .Where(r => r.StartsWith("/v1/cases", StringComparison.Ordinal) || r.StartsWith("/v1/notifications", StringComparison.Ordinal))
            .Distinct().ToList();
        Assert.True(routes.Count >= 6, string.Join(", ", routes));
        foreach (string route in routes)
        {
            string url = route.Replace("{caseId}", caseId, StringComparison.Ordinal).Replace("{id:long}", "1", StringComparison.Ordinal);
            HttpClient client = route.StartsWith("/v1/notifications", StringComparison.Ordinal) ? notifier : ain;
            int before = server.Store.AuditLog(0, 10_000).Count;
            HttpResponseMessage response = route.EndsWith("/ack", StringComparison.Ordinal) || route.EndsWith("prior-positive", StringComparison.Ordinal)
                ? await client.PostAsJsonAsync(url, new { ins = ResultMessages.InsOf(1, 'F') })
                : await client.GetAsync(url);
            string body = await response.Content.ReadAsStringAsync();
            bool nominative = body.Contains("0601020304", StringComparison.Ordinal) || body.Contains("PERSB", StringComparison.Ordinal);
            if (nominative || route.EndsWith("prior-positive", StringComparison.Ordinal))
            {
                Assert.True(server.Store.AuditLog(0, 10_000).Count > before, $"{route} answered without an audit record");
            }
        }
    }

    [Fact]
    public async Task Each_episode_gives_exactly_one_notice_through_duplicates_repeat_positives_and_restarts()
    {
        string dir = Directory.CreateTempSubdirectory("sidep-notices-").FullName;
        string sms = ResultMessages.Oru(1, Today.AddDays(-10), 34, 'F', positive: true, phone: "06 01 02 03 04", birthDate: new DateOnly(1990, 5, 5));
        await using (SidepTestServer server = await StartAsync(dir))
        {
            using HttpClient lab = server.Client(server.Labs.AddLab("990000001", "Demo", ["LAB"], []));
            await ResultMessages.SendAsync(lab, [sms, ResultMessages.Oru(2, Today, 50, 'M', positive: true)]);
            await ResultMessages.SendAsync(lab, [sms]); // the same result again: a duplicate
            // The same woman positive again five days later (another lab accession): the same episode.
            await ResultMessages.SendAsync(lab, [ResultMessages.Oru(1, Today.AddDays(-5), 34, 'F', positive: true, accession: "B1", phone: "0601020304", birthDate: new DateOnly(1990, 5, 5))]);
            using HttpClient ain = AgentClient(server, "agent-ain", AgentRoles.Investigator, "01");
            Assert.Equal(2, (await WaitForCasesAsync(ain, "/v1/cases", 2)).GetArrayLength());
        }
        await using (SidepTestServer again = await StartAsync(dir)) // rebuilt from the logs
        {
            using HttpClient notifier = AgentClient(again, "sender", AgentRoles.Notifier);
            JsonElement notices = JsonDocument.Parse(await notifier.GetStringAsync("/v1/notifications/outbox")).RootElement.GetProperty("notices");
            Assert.Equal(2, notices.GetArrayLength());
            Assert.Equal(["sms", "post"], notices.EnumerateArray().Select(n => n.GetProperty("channel").GetString()));
            long first = notices[0].GetProperty("id").GetInt64();
            Assert.Equal(HttpStatusCode.NoContent, (await notifier.PostAsync($"/v1/notifications/{first}/ack", null)).StatusCode);
            Assert.Equal(HttpStatusCode.Conflict, (await notifier.PostAsync($"/v1/notifications/{first}/ack", null)).StatusCode);
            Assert.Contains(again.Store.AuditLog(0, 1000), r => r.Action == "notifications.ack" && r.Agent == "sender" && r.Query == $"notice {first}: acknowledged");
            Assert.Single(JsonDocument.Parse(await notifier.GetStringAsync("/v1/notifications/outbox")).RootElement.GetProperty("notices").EnumerateArray());
            using HttpClient ain = AgentClient(again, "agent-ain", AgentRoles.Investigator, "01");
            Assert.Equal(2, JsonDocument.Parse(await ain.GetStringAsync("/v1/cases")).RootElement.GetProperty("cases").GetArrayLength());
        }
        Directory.Delete(dir, recursive: true);
    }

    [Fact]
    public async Task The_identity_index_is_whole_after_a_restart_before_any_new_result_arrives()
    {
        string dir = Directory.CreateTempSubdirectory("sidep-gw-").FullName;
        try
        {
            await using (SidepTestServer server = await StartAsync(dir))
            {
                using HttpClient lab = server.Client(server.Labs.AddLab("990000001", "Demo", ["LAB"], []));
                await ResultMessages.SendAsync(lab, [ResultMessages.Oru(1, Today.AddDays(-20), 34, 'F', positive: true, birthDate: new DateOnly(1990, 5, 5))]);
                await WaitForCasesAsync(AgentClient(server, "agent-ain", AgentRoles.Investigator, "01"), "/v1/cases", 1);
            }
            await using (SidepTestServer again = await StartAsync(dir))
            {
                // Nothing new arrives: the identity stage's state is restored at start, not at the next result.
                using HttpClient ain = AgentClient(again, "agent-ain", AgentRoles.Investigator, "01");
                JsonElement yes = JsonDocument.Parse(await (await ain.PostAsJsonAsync("/v1/cases/prior-positive", new { ins = ResultMessages.InsOf(1, 'F') }))
                    .Content.ReadAsStringAsync()).RootElement;
                Assert.True(yes.GetProperty("priorPositive").GetBoolean());
            }
        }
        finally
        {
            Directory.Delete(dir, recursive: true);
        }
    }

    [Fact]
    public async Task The_prior_positive_lookup_answers_only_whether_and_when()
    {
        await using SidepTestServer server = await StartAsync();
        using HttpClient lab = server.Client(server.Labs.AddLab("990000001", "Demo", ["LAB"], []));
        await ResultMessages.SendAsync(lab, [ResultMessages.Oru(1, Today.AddDays(-20), 34, 'F', positive: true, birthDate: new DateOnly(1990, 5, 5))]);
        using HttpClient ain = AgentClient(server, "agent-ain", AgentRoles.Investigator, "01");
        await WaitForCasesAsync(ain, "/v1/cases", 1);

        string ins = ResultMessages.InsOf(1, 'F');
        JsonElement yes = JsonDocument.Parse(await (await ain.PostAsJsonAsync("/v1/cases/prior-positive", new { ins })).Content.ReadAsStringAsync()).RootElement;
        Assert.True(yes.GetProperty("priorPositive").GetBoolean());
        Assert.Equal(Today.AddDays(-20).ToString("yyyy-MM-dd"), yes.GetProperty("date").GetString());
        Assert.Equal(4, yes.EnumerateObject().Count()); // whether, when, over how many days, within which scope: nothing else
        JsonElement byTraits = JsonDocument.Parse(await (await ain.PostAsJsonAsync("/v1/cases/prior-positive",
            new { birthName = "PERSB", givenNames = new[] { "Claude" }, birthDate = "1990-05-05", sex = "F" })).Content.ReadAsStringAsync()).RootElement;
        Assert.True(byTraits.GetProperty("priorPositive").GetBoolean());
        JsonElement tooOld = JsonDocument.Parse(await (await ain.PostAsJsonAsync("/v1/cases/prior-positive", new { ins, days = 10 })).Content.ReadAsStringAsync()).RootElement;
        Assert.False(tooOld.GetProperty("priorPositive").GetBoolean());
        JsonElement nobody = JsonDocument.Parse(await (await ain.PostAsJsonAsync("/v1/cases/prior-positive", new { ins = ResultMessages.InsOf(99, 'M') })).Content.ReadAsStringAsync()).RootElement;
        Assert.False(nobody.GetProperty("priorPositive").GetBoolean());
        Assert.Equal(HttpStatusCode.BadRequest, (await ain.PostAsJsonAsync("/v1/cases/prior-positive", new { birthName = "X" })).StatusCode);
        Assert.Contains(server.Store.AuditLog(0, 100), r => r.Action == "cases.prior-positive" && !r.Query.Contains(ins, StringComparison.Ordinal));
    }

    [Fact]
    public async Task The_prior_positive_lookup_answers_for_the_agents_territories_only_audits_the_person_and_is_rate_limited()
    {
        await using SidepTestServer server = await StartAsync(o => o with { PriorPositivePerMinute = 5 });
        using HttpClient lab = server.Client(server.Labs.AddLab("990000001", "Demo", ["LAB"], []));
        await ResultMessages.SendAsync(lab, [ResultMessages.Oru(1, Today.AddDays(-20), 34, 'F', positive: true, birthDate: new DateOnly(1990, 5, 5))]);
        using HttpClient ain = AgentClient(server, "agent-ain", AgentRoles.Investigator, "01");
        await WaitForCasesAsync(ain, "/v1/cases", 1);
        string ins = ResultMessages.InsOf(1, 'F');

        // An investigator of the Rhône asks about a person of the Ain: answered exactly as for nobody.
        using HttpClient rhone = AgentClient(server, "agent-rhone", AgentRoles.Investigator, "69");
        JsonElement elsewhere = JsonDocument.Parse(await (await rhone.PostAsJsonAsync("/v1/cases/prior-positive", new { ins })).Content.ReadAsStringAsync()).RootElement;
        Assert.False(elsewhere.GetProperty("priorPositive").GetBoolean());
        Assert.Equal(JsonValueKind.Null, elsewhere.GetProperty("date").ValueKind);
        AuditRecord refused = server.Store.AuditLog(0, 100).Last(r => r.Agent == "agent-rhone");
        Assert.Contains("scope 69", refused.Query);
        Assert.Contains("1 positive outside the scope, not answered", refused.Query);
        Assert.Empty(refused.CaseIds);

        // A national investigator is answered for anyone; the audit names the person and the territory, never the INS.
        using HttpClient national = AgentClient(server, "agent-national", AgentRoles.NationalInvestigator);
        JsonElement yes = JsonDocument.Parse(await (await national.PostAsJsonAsync("/v1/cases/prior-positive", new { ins })).Content.ReadAsStringAsync()).RootElement;
        Assert.True(yes.GetProperty("priorPositive").GetBoolean());
        AuditRecord answered = server.Store.AuditLog(0, 100).Last(r => r.Agent == "agent-national");
        Assert.Matches("person [0-9]+, territory 01: yes", answered.Query);
        Assert.Contains("limit 5/min", answered.Query);
        Assert.Single(answered.CaseIds);
        Assert.DoesNotContain(ins, answered.Query, StringComparison.Ordinal);
        Assert.Equal(HttpStatusCode.Forbidden, (await national.GetAsync("/v1/cases")).StatusCode);

        // Five a minute per agent: the sixth is refused, and the refusal audited with the limit.
        for (int i = 0; i < 4; i++)
        {
            Assert.Equal(HttpStatusCode.OK, (await national.PostAsJsonAsync("/v1/cases/prior-positive", new { ins })).StatusCode);
        }
        HttpResponseMessage over = await national.PostAsJsonAsync("/v1/cases/prior-positive", new { ins });
        Assert.Equal(HttpStatusCode.TooManyRequests, over.StatusCode);
        Assert.NotNull(over.Headers.RetryAfter);
        Assert.Contains(server.Store.AuditLog(0, 100), r => r.Agent == "agent-national" && r.Query == "refused: over the limit of 5/min");
        Assert.Equal(HttpStatusCode.OK, (await rhone.PostAsJsonAsync("/v1/cases/prior-positive", new { ins })).StatusCode); // another agent's own limit
    }
}
