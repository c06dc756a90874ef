using System.Net;
using System.Text;
using System.Text.Json;

namespace Sidep.Gateway.Tests;

public class BackpressureTests
{
    private static readonly DateOnly Day = new(2026, 3, 2);

    [Fact]
    public async Task When_the_stages_fall_behind_HTTP_senders_get_503_with_Retry_After_and_MLLP_acknowledgements_wait()
    {
        // The stages do not run: every accepted result stays behind, and the limit is one result.
        await using SidepTestServer server = await SidepTestServer.StartAsync(o => o with { MaxLag = 0, RunStages = false, OperatorToken = "operator-token-for-tests" });
        using HttpClient lab = server.Client(server.Labs.AddLab("990000001", "Demo", ["LAB"], ["127.0.0.1"]));
        HttpResponseMessage first = await lab.PostAsync("/v1/submissions", Body(ResultMessages.Oru(1, Day, 30, 'F', positive: false)));
        Assert.Equal(HttpStatusCode.Created, first.StatusCode);

        HttpResponseMessage second = await lab.PostAsync("/v1/submissions", Body(ResultMessages.Oru(2, Day, 40, 'M', positive: false)));
        Assert.Equal(HttpStatusCode.ServiceUnavailable, second.StatusCode);
        Assert.True(second.Headers.RetryAfter?.Delta >= TimeSpan.FromSeconds(1));
        Assert.Contains("results behind", await second.Content.ReadAsStringAsync());
        Assert.Equal(1, JsonDocument.Parse(await OperatorGet(server, "/v1/pipeline")).RootElement.GetProperty("results").GetInt64()); // the refused one was not stored
        // Checking a file stores nothing: it is not slowed down.
        Assert.Equal(HttpStatusCode.OK, (await lab.PostAsync("/v1/validate", Body(ResultMessages.Oru(3, Day, 50, 'F', positive: false)))).StatusCode);

        // On MLLP the acknowledgement is held while the pipeline is behind.
        await using MllpClient client = await MllpClient.ConnectAsync(server.MllpPort);
        await client.SendAsync(ResultMessages.Oru(4, Day, 60, 'M', positive: false));
        Assert.Null(await client.ReceiveAsync(TimeSpan.FromSeconds(1.5)));
    }

    private static ByteArrayContent Body(string message) => new(Encoding.UTF8.GetBytes(message)) { Headers = { ContentType = new("application/hl7-v2") } };

    private static async Task<string> OperatorGet(SidepTestServer server, string path)
    {
        using var op = new HttpClient { BaseAddress = server.Http };
        op.DefaultRequestHeaders.Add("X-Operator-Token", "operator-token-for-tests");
        return await op.GetStringAsync(path);
    }
}
