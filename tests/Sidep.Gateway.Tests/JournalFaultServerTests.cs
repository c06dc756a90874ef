using System.Net;
using System.Text.Json;
using Microsoft.Extensions.DependencyInjection;
using Sidep.Ingestion;
using Sidep.Tests;

using Sidep.Host;

namespace Sidep.Gateway.Tests;

/// <summary>The whole embedded server over a journal whose writes fail on demand: labs are told "not stored" for what
/// was not, everything acknowledged is there before and after a restart, and no stage's position ever passes the end
/// of the journal it reads.</summary>
public class JournalFaultServerTests
{
    public static TheoryData<FaultPoint, FaultKind, string> Faults() => new()
    {
        { FaultPoint.Write, FaultKind.NoSpace, ".seg" },
        { FaultPoint.Write, FaultKind.ShortWrite, ".seg" },
        { FaultPoint.Flush, FaultKind.IoError, ".seg" },
        { FaultPoint.Flush, FaultKind.IoError, "commit" },
        { FaultPoint.Open, FaultKind.NoSpace, ".seg" },
    };

    [Theory]
    [MemberData(nameof(Faults))]
    public async Task Failed_journal_writes_are_answered_not_stored_and_nothing_acknowledged_is_lost_or_passed(FaultPoint point, FaultKind kind, string only)
    {
        string dir = Directory.CreateTempSubdirectory("sidep-faults-").FullName;
        try
        {
            var fs = new FaultyFileSystem { Only = only };
            var acknowledged = new Dictionary<string, string>(StringComparer.Ordinal);
            var refused = new List<string>();
            string key;
            await using (SidepTestServer server = await SidepTestServer.StartAsync(o => o with
                { OperatorToken = "operator-token-for-tests", JournalSegmentBytes = 4 * 1024, JournalFileSystem = fs }, dataDir: dir))
            {
                key = server.Labs.AddLab("990000001", "Demo", ["SIDEP-DEMO"], []);
                using HttpClient http = server.Client(key);
                using HttpClient op = Operator(server);
                for (int i = 0; i < 60; i++)
                {
                    if (i % 12 == 3)
                    {
                        fs.Arm(point, kind, nth: 1, sticky: true);
                    }
                    if (i % 12 == 6)
                    {
                        fs.Clear();
                    }
                    string accession = $"F{i:D3}";
                    HttpResponseMessage r = await http.PostAsync("/v1/submissions", ResultMessages.Hl7(ResultMessages.Message("C" + i, accession)));
                    if (r.StatusCode == HttpStatusCode.Created)
                    {
                        acknowledged[accession] = JsonSerializer.Deserialize(await r.Content.ReadAsStringAsync(), SidepJson.Default.SubmissionReport)!.SubmissionId!;
                    }
                    else
                    {
                        Assert.Equal(HttpStatusCode.ServiceUnavailable, r.StatusCode);
                        Assert.Contains("not stored", await r.Content.ReadAsStringAsync());
                        refused.Add(accession);
                    }
                    await AssertNoStagePassesItsInputAsync(op);
                }
                fs.Clear();
                Assert.True(fs.Strikes > 0);
                Assert.NotEmpty(refused);
                await server.WaitCaughtUpAsync();
                Assert.Null(server.Services.GetRequiredService<StageFailures>().First);
                Assert.Equal(acknowledged.Keys.Order(StringComparer.Ordinal), JournalResults.Of(server.Journal).Select(r => r.AccessionId).Order(StringComparer.Ordinal));
            }

            await using SidepTestServer restarted = await SidepTestServer.StartAsync(o => o with { OperatorToken = "operator-token-for-tests", JournalSegmentBytes = 4 * 1024 }, dataDir: dir);
            using HttpClient again = restarted.Client(key);
            foreach (string submission in acknowledged.Values)
            {
                Assert.Equal(HttpStatusCode.OK, (await again.GetAsync($"/v1/submissions/{submission}")).StatusCode);
            }
            using HttpClient op2 = Operator(restarted);
            await AssertNoStagePassesItsInputAsync(op2);
            // Refused results sent again are new; acknowledged ones sent again are duplicates.
            HttpResponseMessage resent = await again.PostAsync("/v1/submissions", ResultMessages.Hl7(ResultMessages.Message("R", refused[0])));
            Assert.Equal(new ReportCounts(1, 0, 0, 0), JsonSerializer.Deserialize(await resent.Content.ReadAsStringAsync(), SidepJson.Default.SubmissionReport)!.Counts);
            HttpResponseMessage duplicate = await again.PostAsync("/v1/submissions", ResultMessages.Hl7(ResultMessages.Message("D", acknowledged.Keys.First())));
            Assert.Equal(new ReportCounts(0, 0, 1, 0), JsonSerializer.Deserialize(await duplicate.Content.ReadAsStringAsync(), SidepJson.Default.SubmissionReport)!.Counts);
            await restarted.WaitCaughtUpAsync();
            Assert.Equal(acknowledged.Count + 1, JournalResults.Of(restarted.Journal).Count);
        }
        finally
        {
            Directory.Delete(dir, recursive: true);
        }
    }

    private static HttpClient Operator(SidepTestServer server)
    {
        HttpClient op = server.Client(null);
        op.DefaultRequestHeaders.Add("X-Operator-Token", "operator-token-for-tests");
        return op;
    }

    private static async Task AssertNoStagePassesItsInputAsync(HttpClient op)
    {
        JsonElement pipeline = JsonDocument.Parse(await op.GetStringAsync("/v1/pipeline")).RootElement;
        foreach (JsonElement stage in pipeline.GetProperty("stages").EnumerateArray())
        {
            Assert.True(stage.GetProperty("position").GetInt64() <= stage.GetProperty("end").GetInt64(), pipeline.ToString());
        }
    }
}
