using Sidep.Gateway;
using Sidep.Tests;

namespace Sidep.Host.Tests;

/// <summary>Configuration that cannot be half-secure: a secret that is set but empty or short is refused at start,
/// whatever its source; only an unset secret turns its role off.</summary>
public class SecretsConfigurationTests
{
    [Theory]
    [InlineData("--operator-token", "", "the operator token is empty: it must be at least 16 characters")]
    [InlineData("--operator-token", "short", "the operator token is too short: it must be at least 16 characters")]
    [InlineData("--agent-key", "", "the agent signing key is empty: it must be at least 32 characters")]
    public async Task An_empty_or_short_secret_on_the_command_line_stops_serve_with_a_clear_message(string flag, string value, string message)
    {
        using var temp = new TempDir();
        string dir = temp.Path;
        (int exit, string output) = await SidepProcess.RunAsync("serve", "--data-dir", dir, "--urls", "http://127.0.0.1:0", "--mllp-port", "-1", flag, value);
        Assert.Equal(2, exit);
        Assert.Contains(message, output);
        Assert.DoesNotContain("   at ", output); // a sentence, not a stack trace
    }

    [Fact]
    public async Task A_server_built_with_an_empty_operator_token_refuses_to_start_and_an_unset_one_keeps_the_role_off()
    {
        ArgumentException refused = await Assert.ThrowsAsync<ArgumentException>(() => SidepTestServer.StartAsync(o => o with { OperatorToken = "   " }));
        Assert.Contains("operator token is empty", refused.Message);

        await using SidepTestServer server = await SidepTestServer.StartAsync();
        using HttpClient op = server.Client(null);
        op.DefaultRequestHeaders.TryAddWithoutValidation("X-Operator-Token", "");
        Assert.Equal(System.Net.HttpStatusCode.Unauthorized, (await op.PostAsync("/v1/labs", new StringContent("[]", System.Text.Encoding.UTF8, "application/json"))).StatusCode);
        Assert.Equal(System.Net.HttpStatusCode.Unauthorized, (await op.GetAsync("/v1/indicators/fra/daily.csv")).StatusCode);
    }
}

/// <summary>What an operator meets at the command line: one sentence, never a stack trace.</summary>
public class CommandLineRefusalTests
{
    [Fact]
    public async Task A_port_in_use_is_said_in_one_line()
    {
        using var taken = new System.Net.Sockets.TcpListener(System.Net.IPAddress.Loopback, 0);
        taken.Start();
        int port = ((System.Net.IPEndPoint)taken.LocalEndpoint).Port;
        using var temp = new TempDir();
        string dir = temp.Path;
        (int exit, string output) = await SidepProcess.RunAsync("serve", "--data-dir", dir, "--urls", $"http://127.0.0.1:{port}", "--mllp-port", "-1");
        Assert.Equal(1, exit);
        Assert.Contains($"http://127.0.0.1:{port} is in use by another program; choose another address with --urls", output);
        Assert.DoesNotContain("   at ", output);
    }

    [Theory]
    [InlineData("-2")]
    [InlineData("0")]
    [InlineData("1000")]
    public async Task A_token_that_would_be_born_expired_or_live_for_weeks_is_not_minted(string hours)
    {
        (int exit, string output) = await SidepProcess.RunAsync("agents", "token", "--agent", "a", "--role", "investigator", "--territory", "69", "--hours", hours,
            "--key", new string('k', 32));
        Assert.Equal(2, exit);
        Assert.Contains("--hours must be more than 0 and at most 36", output);
    }
}
