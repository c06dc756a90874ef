using System.Net;
using System.Net.Http.Json;
using System.Text;
using System.Text.Json;
using Sidep.Ingestion;
using Sidep.Storage.Tests;

namespace Sidep.Gateway.Tests;

/// <summary>Two gateways of the distributed mode (gateway role, no stages) on one Kafka cluster and one PostgreSQL,
/// as behind a load balancer: they share the labs, the transcoding tables and the result-key index.</summary>
public sealed class TwoGatewaysTests(KafkaCluster kafka, PostgresCluster postgres) : IClassFixture<KafkaCluster>, IClassFixture<PostgresCluster>
{
    private const string Token = "operator-token-for-tests";

    private static async Task<SubmissionReport> ReportOf(HttpResponseMessage response) =>
        JsonSerializer.Deserialize(await response.Content.ReadAsStringAsync(), SidepJson.Default.SubmissionReport)!;

    [Fact]
    public async Task A_lab_registered_through_one_gateway_is_served_by_the_other_and_a_mapping_added_through_one_replays_what_the_other_holds()
    {
        string database = await postgres.NewDatabaseAsync();
        await using GatewayRole first = await GatewayRole.StartAsync(kafka.Bootstrap, database, Token), second = await GatewayRole.StartAsync(kafka.Bootstrap, database, Token);
        SidepTestServer a = first.Server, b = second.Server;
        using HttpClient operatorA = a.Client(null);
        operatorA.DefaultRequestHeaders.Add("X-Operator-Token", Token);
        HttpResponseMessage registered = await operatorA.PostAsJsonAsync("/v1/labs", new { finess = "750000001", name = "Labo", facilityIds = new[] { "SIDEP-DEMO" } });
        Assert.Equal(HttpStatusCode.Created, registered.StatusCode);
        string key = JsonDocument.Parse(await registered.Content.ReadAsStringAsync()).RootElement[0].GetProperty("apiKey").GetString()!;

        // Through the other gateway: known, and its local code held in quarantine.
        using HttpClient labB = b.Client(key), labA = a.Client(key);
        string local = ResultMessages.Message("Q1", $"ACC-{Guid.NewGuid():N}"[..16]).Replace("94500-6^SARS-CoV-2^LN||260415000", "SCOV^SARS-CoV-2 PCR^L||260415000");
        SubmissionReport held = await ReportOf(await labB.PostAsync("/v1/submissions", ResultMessages.Hl7(local)));
        Assert.Equal(1, held.Counts.Quarantined);
        Assert.Equal(["SCOV"], (await labB.GetFromJsonAsync("/v1/quarantine", SidepJson.Default.ListQuarantineSummary))!.Select(q => q.LocalCode));

        // The lab maps the code through the first gateway: the second takes the mapping and replays what it held.
        HttpResponseMessage put = await labA.PutAsync("/v1/labs/750000001/transcoding", new StringContent("local_code;loinc\nSCOV;94500-6\n", Encoding.UTF8, "text/csv"));
        Assert.Equal(HttpStatusCode.OK, put.StatusCode);
        DateTime until = DateTime.UtcNow + TimeSpan.FromSeconds(30);
        while ((await labB.GetFromJsonAsync("/v1/quarantine", SidepJson.Default.ListQuarantineSummary))!.Count > 0)
        {
            Assert.True(DateTime.UtcNow < until, "the second gateway did not replay its quarantined result within 30 s of the mapping");
            await Task.Delay(100);
        }
        // The replayed result is stored: sent again through either gateway, a duplicate.
        SubmissionReport again = await ReportOf(await labA.PostAsync("/v1/submissions", ResultMessages.Hl7(local)));
        Assert.Equal((ItemStatus.Duplicate, "94500-6"), (again.Items.Single().Status, again.Items.Single().Loinc));
        Assert.Equal(ItemStatus.Duplicate, (await ReportOf(await labB.PostAsync("/v1/submissions", ResultMessages.Hl7(local)))).Items.Single().Status);
        // Either gateway lists the same labs.
        using HttpClient operatorB = b.Client(null);
        operatorB.DefaultRequestHeaders.Add("X-Operator-Token", Token);
        Assert.Contains("750000001", await operatorB.GetStringAsync("/v1/labs"));

        // Lab health adds what both gateways counted (each writes its counts every few seconds): the quarantined item and
        // the duplicate through B, the duplicate through A (the replay is no new item received).
        DateTime counted = DateTime.UtcNow + TimeSpan.FromSeconds(30);
        while (true)
        {
            using JsonDocument health = JsonDocument.Parse(await operatorA.GetStringAsync("/v1/labs/health"));
            JsonElement row = health.RootElement.GetProperty("labs").EnumerateArray().Single(l => l.GetProperty("lab").GetString() == "750000001");
            if (row.GetProperty("receivedLast24h").GetInt64() == 3)
            {
                Assert.Equal(0.3333, row.GetProperty("quarantinedShare24h").GetDouble());
                Assert.NotEqual(JsonValueKind.Null, row.GetProperty("lastReceivedAt").ValueKind);
                break;
            }
            Assert.True(DateTime.UtcNow < counted, $"gateway A's lab health did not add gateway B's counts within 30 s: {row}");
            await Task.Delay(200);
        }
    }
}
