using System.Text;
using Sidep.Domain;
using Sidep.Journal;
using Sidep.Pipeline;
using Sidep.Storage.Sqlite;

using Sidep.Host;
using Sidep.Tests;

namespace Sidep.Host.Tests;

/// <summary>The operator's side of a damaged journal: `sidep serve` refuses to start and says where, `sidep journal
/// verify` reports the same, `sidep journal repair` moves the damage aside and lists what it held.</summary>
public class JournalCommandTests
{
    [Fact]
    public async Task A_damaged_journal_stops_serve_and_verify_then_repair_list_what_it_held()
    {
        using var temp = new TempDir();
        string dir = temp.Path;
        string log = Path.Combine(dir, "log");
        await using (EmbeddedLog journal = EmbeddedLog.Open(log))
        {
            for (int i = 0; i < 20; i++)
            {
                await journal.AppendAsync([new LogRecord(RecordKind.Submission, -1, $"sub_{i:D2}", Encoding.UTF8.GetBytes($"raw submission {i}")),
                    new LogRecord(RecordKind.Result, i % 8, $"990000001\u001FACC{i:D2}\u001F94500-6", Encoding.UTF8.GetBytes(new string('r', 200)))]);
            }
        }
        string segment = Path.Combine(log, "0000000000.seg");
        byte[] bytes = await File.ReadAllBytesAsync(segment);
        int at = Encoding.ASCII.GetString(bytes).IndexOf("ACC07", StringComparison.Ordinal);
        bytes[at + 40] ^= 0x20; // inside the 8th result's payload
        await File.WriteAllBytesAsync(segment, bytes);

        (int serve, string refused) = await SidepProcess.RunAsync("serve", "--data-dir", dir, "--urls", "http://127.0.0.1:0", "--mllp-port", "-1");
        Assert.Equal(1, serve);
        Assert.Contains("not starting", refused);
        Assert.Contains(segment, refused);
        Assert.Contains("24 acknowledged records lie beyond it", refused);

        (int verify, string report) = await SidepProcess.RunAsync("journal", "verify", "--data-dir", dir);
        Assert.Equal(1, verify);
        Assert.Contains("DAMAGED (acknowledged records)", report);
        Assert.Contains("held: result lab 990000001, accession ACC07, test 94500-6", report);

        (int repair, string repaired) = await SidepProcess.RunAsync("journal", "repair", "--data-dir", dir);
        Assert.Equal(0, repair);
        Assert.Contains("moved aside: " + Path.Combine(log, "damaged"), repaired);
        Assert.Single(Directory.GetFiles(Path.Combine(log, "damaged")));
        (int again, string clean) = await SidepProcess.RunAsync("journal", "verify", "--data-dir", dir);
        Assert.Equal(0, again);
        Assert.Contains("no damage", clean);
    }

    [Fact]
    public void A_data_directory_of_the_layout_before_one_pipeline_is_refused_with_what_to_do()
    {
        using var temp = new TempDir();
        string dir = temp.Path;
        Directory.CreateDirectory(Path.Combine(dir, "matched")); // the identity stage's own log, before the stages read the journal as a topic
        var refused = Assert.Throws<InvalidOperationException>(() => SidepServer.Build(new GatewayOptions(dir, MllpPort: -1), ["http://127.0.0.1:0"]));
        Assert.Contains("written by an earlier Sidep", refused.Message);
        Assert.Contains("Start with a new data directory", refused.Message);
    }

    [Fact]
    public async Task A_journal_that_lost_what_the_stages_had_read_stops_serve()
    {
        using var temp = new TempDir();
        string dir = temp.Path;
        await using (SidepTestServer server = await SidepTestServer.StartAsync(o => o with { OperatorToken = "operator-token-for-tests" }, dataDir: dir))
        {
            string key = server.Labs.AddLab("990000001", "Demo", ["SIDEP-DEMO"], []);
            using HttpClient http = server.Client(key);
            Assert.Equal(System.Net.HttpStatusCode.Created, (await http.PostAsync("/v1/submissions", ResultMessages.Hl7(ResultMessages.Message()))).StatusCode);
            using HttpClient op = server.Client(null);
            op.DefaultRequestHeaders.Add("X-Operator-Token", "operator-token-for-tests");
            var waited = System.Diagnostics.Stopwatch.StartNew();
            while (!System.Text.Json.JsonDocument.Parse(await op.GetStringAsync("/v1/pipeline")).RootElement.GetProperty("caughtUp").GetBoolean())
            {
                Assert.True(waited.Elapsed < TimeSpan.FromSeconds(30), "the pipeline did not catch up");
                await Task.Delay(20);
            }
        }
        Directory.Delete(Path.Combine(dir, "log"), recursive: true); // an operator "resets" the journal and keeps the database

        (int serve, string refused) = await SidepProcess.RunAsync("serve", "--data-dir", dir, "--urls", "http://127.0.0.1:0", "--mllp-port", "-1");
        Assert.Equal(1, serve);
        Assert.Contains("not starting", refused);
        Assert.Contains("the identity stage has read 1 records of sidep.results (partition 0), but it holds 0", refused);
    }
}
