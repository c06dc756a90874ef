using System.Net;
using System.Net.Http.Json;
using System.Text;
using System.Text.Json;

namespace Sidep.Gateway.Tests;

public class LabsApiTests
{
    private const string Token = "operator-token-for-labs";

    private static HttpClient Operator(SidepTestServer server)
    {
        HttpClient op = server.Client(null);
        op.DefaultRequestHeaders.Add("X-Operator-Token", Token);
        return op;
    }

    [Fact]
    public async Task The_operator_registers_many_labs_at_once_and_each_key_submits_and_each_source_speaks_MLLP()
    {
        await using SidepTestServer server = await SidepTestServer.StartAsync(o => o with { OperatorToken = Token });
        using HttpClient op = Operator(server);
        HttpResponseMessage answer = await op.PostAsJsonAsync("/v1/labs", new object[]
        {
            new { finess = "690000011", name = "Laboratoire A", facilityIds = new[] { "LABA" }, mllpSources = new[] { "127.0.9.1" } },
            new { finess = "2A0000012", name = "Laboratoire B", facilityIds = new[] { "SIDEP-DEMO" } },
        });
        Assert.Equal(HttpStatusCode.Created, answer.StatusCode);
        JsonElement[] keys = [.. JsonDocument.Parse(await answer.Content.ReadAsStringAsync()).RootElement.EnumerateArray()];
        Assert.Equal(["690000011", "2A0000012"], keys.Select(k => k.GetProperty("finess").GetString()));

        using HttpClient labB = server.Client(keys[1].GetProperty("apiKey").GetString());
        HttpResponseMessage sent = await labB.PostAsync("/v1/submissions",
            new ByteArrayContent(File.ReadAllBytes(Path.Combine(Sidep.Tests.Fixtures.RepoRoot, "examples", "demo-oru-r01.hl7"))) { Headers = { ContentType = new("application/hl7-v2") } });
        Assert.Equal(HttpStatusCode.Created, sent.StatusCode);

        await using MllpClient mllp = await MllpClient.ConnectAsync(server.MllpPort, "127.0.9.1");
        await mllp.SendAsync("MSH|^~\\&|APP|LABA|SIDEP|ANS|20260120093000+0100||ORU^R01^ORU_R01|M1|P|2.5\r" +
            "PID|1||L1^^^LABA^PI||DUPONT^MARIE||19800101|F\r" +
            "OBR|1||M1|94500-6^SARS-CoV-2^LN|||20260120081500+0100\rOBX|1|CWE|94500-6^SARS-CoV-2^LN||260373001^Detected^SCT||||||F\r");
        Assert.Contains("MSA|AA|M1", await mllp.ReceiveAsync());

        string listed = await op.GetStringAsync("/v1/labs");
        Assert.Contains("\"mllpSources\":[\"127.0.9.1\"]", listed);
        Assert.DoesNotContain("apiKey", listed);
    }

    [Fact]
    public async Task A_request_with_an_invalid_lab_registers_none_and_says_which_and_why()
    {
        await using SidepTestServer server = await SidepTestServer.StartAsync(o => o with { OperatorToken = Token });
        using HttpClient op = Operator(server);
        HttpResponseMessage answer = await op.PostAsJsonAsync("/v1/labs", new object?[]
        {
            new { finess = "690000011", name = "Laboratoire A" },
            new { finess = "69-000", name = "Laboratoire B" },
            new { finess = "690000013", name = "Laboratoire C", mllpSources = new[] { "not-an-address" } },
            null,
        });
        Assert.Equal(HttpStatusCode.UnprocessableEntity, answer.StatusCode);
        string body = await answer.Content.ReadAsStringAsync();
        Assert.Contains("\"index\":1", body);
        Assert.Contains("is not a FINESS number", body);
        Assert.Contains("\"index\":2", body);
        Assert.Contains("'not-an-address' is not an IP address", body);
        Assert.Contains("\"index\":3", body);
        Assert.Empty(server.Labs.ListLabs());
    }

    [Fact]
    public async Task Registering_labs_needs_the_operator_token()
    {
        await using SidepTestServer server = await SidepTestServer.StartAsync(o => o with { OperatorToken = Token });
        using HttpClient anonymous = server.Client(null);
        HttpResponseMessage answer = await anonymous.PostAsync("/v1/labs", new StringContent("{\"finess\":\"690000011\",\"name\":\"A\"}", Encoding.UTF8, "application/json"));
        Assert.Equal(HttpStatusCode.Unauthorized, answer.StatusCode);
        Assert.Equal(HttpStatusCode.Unauthorized, (await anonymous.GetAsync("/v1/labs")).StatusCode);
        Assert.Empty(server.Labs.ListLabs());
    }

    [Fact]
    public async Task A_facility_id_belongs_to_one_lab_only_and_registering_a_lab_again_says_it_replaced_its_lists()
    {
        await using SidepTestServer server = await SidepTestServer.StartAsync(o => o with { OperatorToken = Token });
        using HttpClient op = Operator(server);
        Assert.Equal(HttpStatusCode.Created, (await op.PostAsJsonAsync("/v1/labs", new { finess = "690000011", name = "A", facilityIds = new[] { "11D2030855" } })).StatusCode);

        foreach (string taken in new[] { "11D2030855", "690000011" })
        {
            HttpResponseMessage refused = await op.PostAsJsonAsync("/v1/labs", new { finess = "690000022", name = "B", facilityIds = new[] { "LABB", taken } });
            Assert.Equal(HttpStatusCode.UnprocessableEntity, refused.StatusCode);
            string why = await refused.Content.ReadAsStringAsync();
            Assert.Contains($"facility id {taken} belongs to lab 690000011", why);
        }
        Assert.DoesNotContain(server.Labs.ListLabs(), l => l.Finess == "690000022"); // nothing registered

        HttpResponseMessage again = await op.PostAsJsonAsync("/v1/labs", new { finess = "690000011", name = "A", facilityIds = new[] { "LABA2" } });
        Assert.Equal(HttpStatusCode.Created, again.StatusCode);
        Assert.True(JsonDocument.Parse(await again.Content.ReadAsStringAsync()).RootElement[0].GetProperty("replaced").GetBoolean());
        Assert.Equal(["LABA2"], server.Labs.ListLabs().Single(l => l.Finess == "690000011").FacilityIds);
        // Its old facility id is free now.
        Assert.Equal(HttpStatusCode.Created, (await op.PostAsJsonAsync("/v1/labs", new { finess = "690000022", name = "B", facilityIds = new[] { "11D2030855" } })).StatusCode);
    }
}
