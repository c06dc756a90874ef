using System.Diagnostics;
using System.Text.Json;
using Sidep.Tests;

namespace Sidep.Gateway.Tests;

/// <summary>A test that needs Debian's python3-hl7 (its `mllp_send` client and `hl7` parser); `.ci/run` installs it.</summary>
public sealed class RealMllpClientFactAttribute : FactAttribute
{
    public RealMllpClientFactAttribute()
    {
        if (!File.Exists("/usr/bin/mllp_send") || !File.Exists("/usr/bin/python3"))
        {
            Skip = "needs Debian's python3-hl7 (mllp_send): apt-get install python3-hl7 (.ci/run installs it)";
        }
    }
}

/// <summary>Labs' real MLLP clients wait for an answer to each message: every message of every corpus file, sent by
/// python3-hl7's `mllp_send`, is answered once, and each answer parses with that package and names its message.</summary>
public class MllpRealClientTests
{
    [RealMllpClientFact]
    public async Task Every_corpus_message_sent_by_mllp_send_is_answered_once_with_its_control_id()
    {
        await using SidepTestServer server = await SidepTestServer.StartAsync();
        var parser = new Parsing.Hl7v2.Hl7v2Parser();
        // One lab on 127.0.0.1 that may send as every corpus facility (mllp_send cannot choose its source address).
        string[] facilities = [.. Fixtures.Hl7Files.SelectMany(f => parser.Parse(File.ReadAllBytes(f)).Messages.SelectMany(m => m.SenderIds)).Distinct()];
        server.Labs.AddLab("990000001", "Corpus", facilities, ["127.0.0.1"]);
        string script = Path.Combine(AppContext.BaseDirectory, "mllp_send_check.py");
        int messages = 0;
        foreach (string file in Fixtures.Hl7Files)
        {
            var psi = new ProcessStartInfo("/usr/bin/python3") { RedirectStandardOutput = true, RedirectStandardError = true };
            foreach (string a in (string[])[script, file, server.MllpPort.ToString(System.Globalization.CultureInfo.InvariantCulture)])
            {
                psi.ArgumentList.Add(a);
            }
            using Process p = Process.Start(psi)!;
            string output = await p.StandardOutput.ReadToEndAsync();
            string error = await p.StandardError.ReadToEndAsync();
            await p.WaitForExitAsync().WaitAsync(TimeSpan.FromMinutes(2));
            Assert.True(p.ExitCode == 0, $"{Path.GetFileName(file)}: {error}");
            JsonElement result = JsonDocument.Parse(output).RootElement;
            Assert.True(result.GetProperty("exit").GetInt32() == 0, $"{Path.GetFileName(file)}: mllp_send failed: {result.GetProperty("stderr").GetString()}");
            string[] sent = [.. result.GetProperty("sent").EnumerateArray().Select(s => s.GetString()!)];
            JsonElement[] answers = [.. result.GetProperty("answers").EnumerateArray()];
            Assert.True(sent.Length == answers.Length, $"{Path.GetFileName(file)}: {sent.Length} messages sent, {answers.Length} answers");
            for (int i = 0; i < sent.Length; i++)
            {
                Assert.False(answers[i].TryGetProperty("error", out JsonElement why), $"{Path.GetFileName(file)} #{i + 1}: {why}");
                Assert.Contains(answers[i].GetProperty("code").GetString(), new[] { "AA", "AE", "AR" });
                Assert.Equal(sent[i], answers[i].GetProperty("control").GetString());
            }
            messages += sent.Length;
        }
        Assert.True(messages >= 30, $"{messages} messages sent");
    }
}
