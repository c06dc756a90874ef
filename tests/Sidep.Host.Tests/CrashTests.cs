using System.Collections.Concurrent;
using System.Net;
using System.Net.Http.Headers;
using System.Text.Json;
using Sidep.Ingestion;
using Sidep.Domain;
using Sidep.Journal;
using Sidep.Pipeline;
using Sidep.Storage.Sqlite;
using Sidep.Tests;

namespace Sidep.Host.Tests;

public class CrashTests
{
    [Fact]
    public Task SIGKILL_right_after_ACKs_loses_nothing_acknowledged_and_duplicates_nothing() => KillAfterAcknowledgementsAsync();

    /// <summary>Segments of 16 KiB: the journal rolls every few submissions, so the kill lands among rolls (a sealed
    /// segment's index half written, the next segment created but empty, or the commit point still in the old one).</summary>
    [Fact]
    public Task SIGKILL_while_the_journal_rolls_segments_loses_nothing_acknowledged() => KillAfterAcknowledgementsAsync("--journal-segment-bytes", "16384");

    private static async Task KillAfterAcknowledgementsAsync(params string[] serveArgs)
    {
        using var temp = new TempDir();
        string dir = temp.Path;
        (int exit, string output) = await SidepProcess.RunAsync("labs", "add", "--data-dir", dir, "--finess", "990000001", "--name", "Demo", "--facility", "SIDEP-DEMO");
        Assert.Equal(0, exit);
        string key = output.Trim();

        var acknowledged = new ConcurrentDictionary<int, string>();
        using (SidepProcess server = await SidepProcess.ServeAsync(dir, serveArgs))
        {
            using var http = new HttpClient { BaseAddress = server.Http };
            http.DefaultRequestHeaders.Authorization = new AuthenticationHeaderValue("Bearer", key);
            using var enough = new CancellationTokenSource();
            // Four senders in parallel; the server is killed as soon as 40 ACKs are in.
            Task[] senders = Enumerable.Range(0, 4).Select(s => Task.Run(async () =>
            {
                for (int i = s; i < 400 && !enough.IsCancellationRequested; i += 4)
                {
                    try
                    {
                        HttpResponseMessage r = await http.PostAsync("/v1/submissions", ResultMessages.Hl7(ResultMessages.Message("K" + i, "ACC" + i)));
                        if (r.StatusCode == HttpStatusCode.Created)
                        {
                            SubmissionReport report = JsonSerializer.Deserialize(await r.Content.ReadAsStringAsync(), SidepJson.Default.SubmissionReport)!;
                            acknowledged[i] = report.SubmissionId!;
                            if (acknowledged.Count >= 40)
                            {
                                server.Kill();
                                enough.Cancel();
                            }
                        }
                    }
                    catch (HttpRequestException)
                    {
                        return; // the server is gone
                    }
                    catch (TaskCanceledException)
                    {
                        return;
                    }
                }
            })).ToArray();
            await Task.WhenAll(senders);
            server.Kill();
        }
        Assert.True(acknowledged.Count >= 40);

        using (SidepProcess restarted = await SidepProcess.ServeAsync(dir, serveArgs))
        {
            using var http = new HttpClient { BaseAddress = restarted.Http };
            http.DefaultRequestHeaders.Authorization = new AuthenticationHeaderValue("Bearer", key);
            foreach ((int i, string submission) in acknowledged)
            {
                Assert.Equal(HttpStatusCode.OK, (await http.GetAsync($"/v1/submissions/{submission}")).StatusCode);
                HttpResponseMessage again = await http.PostAsync("/v1/submissions", ResultMessages.Hl7(ResultMessages.Message("K" + i, "ACC" + i)));
                SubmissionReport report = JsonSerializer.Deserialize(await again.Content.ReadAsStringAsync(), SidepJson.Default.SubmissionReport)!;
                Assert.Equal(new ReportCounts(0, 0, 1, 0), report.Counts);
            }
        }

        await using EmbeddedLog log = EmbeddedLog.Open(Path.Combine(dir, "log"));
        long inLog = Enumerable.Range(0, log.PartitionCount).Sum(p => log.EndOffset(p));
        Assert.True(inLog >= acknowledged.Count);
        // Every result in the log is there exactly once (one record per key: nothing resent was journalled again),
        // and every ACKed one is there.
        List<JournalResults.Latest> results = JournalResults.Of(log);
        Assert.Equal(inLog, results.Count);
        Assert.All(results, r => Assert.Equal(1, r.Records));
        Assert.All(acknowledged.Keys, i => Assert.Contains(results, r => r.AccessionId == "ACC" + i));
    }
}
