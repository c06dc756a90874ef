using System.Net;
using System.Net.Http.Headers;
using System.Net.Http.Json;
using System.Text.Json;
using Sidep.Ingestion;

namespace Sidep.Gateway.Tests;

public class ResearchTests
{
    private const string AgentKey = "a-test-signing-key-of-at-least-32-bytes!";
    private const string K1 = "k1=research-secret-number-one-32-bytes-long";
    private const string K2 = "k2=research-secret-number-two-32-bytes-long";
    private static readonly DateOnly Day = new(2026, 3, 2);

    private static async Task<List<ResearchRow>> WaitForRowsAsync(SidepTestServer server, Func<List<ResearchRow>, bool> done)
    {
        string dir = Path.Combine(server.DataDir, "research");
        List<ResearchRow> rows = [];
        for (int i = 0; i < 100; i++)
        {
            rows = [];
            try
            {
                if (ResearchSink.ReadManifest(dir) is ResearchManifest manifest)
                {
                    foreach (ResearchPartition p in manifest.Partitions.Values)
                    {
                        await using FileStream file = File.OpenRead(Path.Combine(dir, p.File));
                        rows.AddRange((await Parquet.Serialization.ParquetSerializer.DeserializeAsync<ResearchRow>(file)).Data);
                    }
                }
            }
            catch (IOException)
            {
                // Read while the stage was writing: several files are not one snapshot. Read again.
                rows = [];
            }
            if (done(rows))
            {
                break;
            }
            await Task.Delay(100);
        }
        return rows;
    }

    [Fact]
    public async Task Research_rows_carry_a_stable_keyed_pseudonym_and_nothing_identifying_and_an_opposition_removes_them()
    {
        await using SidepTestServer server = await SidepTestServer.StartAsync(o => o with { OperatorToken = "operator-token-for-tests", ResearchKeys = K1 });
        using HttpClient lab = server.Client(server.Labs.AddLab("990000001", "Demo", ["LAB"], []));
        await ResultMessages.SendAsync(lab,
        [
            ResultMessages.Oru(1, Day, 34, 'F', positive: true, phone: "0601020304", birthDate: new DateOnly(1991, 7, 14)),
            ResultMessages.Oru(1, Day.AddDays(3), 34, 'F', positive: false, accession: "B1", phone: "0601020304", birthDate: new DateOnly(1991, 7, 14)),
            ResultMessages.Oru(2, Day, 50, 'M', positive: false),
        ]);
        List<ResearchRow> rows = await WaitForRowsAsync(server, r => r.Count == 3);
        Assert.Equal(3, rows.Count);
        ResearchRow[] hers = [.. rows.Where(r => r.Sex == "Female")];
        Assert.Equal(2, hers.Length);
        Assert.Equal(hers[0].Pseudonym, hers[1].Pseudonym); // one person, one pseudonym
        Assert.StartsWith("k1.", hers[0].Pseudonym);
        Assert.NotEqual(hers[0].Pseudonym, rows.Single(r => r.Sex == "Male").Pseudonym);
        Assert.Equal(34, hers.Single(r => r.SampleDate == "2026-03-02").AgeYears);
        Assert.Equal(("01", "01053", null), (hers[0].Departement, hers[0].Commune, hers[0].LabDepartement)); // FINESS 99…: no département
        Assert.Equal("Positive", hers.Single(r => r.SampleDate == "2026-03-02").Result);

        // Nothing identifying in the files: no name, NIR, birth date, address line, phone; and only the allowed columns.
        string dir = Path.Combine(server.DataDir, "research");
        foreach (string file in Directory.GetFiles(dir, "*.parquet", SearchOption.AllDirectories))
        {
            string bytes = System.Text.Encoding.Latin1.GetString(await File.ReadAllBytesAsync(file));
            foreach (string secret in new[] { "PERSB", "CLAUDE", ResultMessages.InsOf(1, 'F'), "1991-07-14", "19910714", "rue de la Gare", "0601020304" })
            {
                Assert.DoesNotContain(secret, bytes, StringComparison.OrdinalIgnoreCase);
            }
            await using FileStream stream = File.OpenRead(file);
            await using Parquet.ParquetReader reader = await Parquet.ParquetReader.CreateAsync(stream);
            Assert.Equal(["Pseudonym", "AgeYears", "Sex", "Departement", "Commune", "SampleDate", "SampleDateBasis", "ResultDate", "Loinc", "Method", "Result", "LabDepartement",
                "Symptomatic", "DaysFromOnset", "Housing", "HealthCareWorker"], reader.Schema.GetDataFields().Select(f => f.Name));
        }
        ResearchManifest manifest = ResearchSink.ReadManifest(dir)!;
        Assert.Equal(2, manifest.Partitions["2026-03-02"].Rows);
        Assert.Equal(64, manifest.Partitions["2026-03-02"].Sha256.Length);
        Assert.Empty(Directory.GetFiles(dir, "*.tmp", SearchOption.AllDirectories));

        // She opposes research use: her rows disappear from the partitions, and her later results never enter them.
        using var op = new HttpClient { BaseAddress = server.Http };
        op.DefaultRequestHeaders.Add("X-Operator-Token", "operator-token-for-tests");
        Assert.Equal(HttpStatusCode.Created, (await op.PostAsJsonAsync("/v1/oppositions", new { ins = ResultMessages.InsOf(1, 'F') })).StatusCode);
        rows = await WaitForRowsAsync(server, r => r.Count == 1);
        Assert.Equal("Male", Assert.Single(rows).Sex);
        await ResultMessages.SendAsync(lab, [ResultMessages.Oru(1, Day.AddDays(5), 34, 'F', positive: false, accession: "C1", birthDate: new DateOnly(1991, 7, 14)),
            ResultMessages.Oru(3, Day.AddDays(5), 20, 'M', positive: false)]);
        rows = await WaitForRowsAsync(server, r => r.Count == 2);
        Assert.DoesNotContain(rows, r => r.Sex == "Female");
    }

    [Fact]
    public async Task After_a_key_rotation_pseudonyms_carry_the_new_key_and_the_research_operator_alone_gets_the_link_table()
    {
        await using SidepTestServer server = await SidepTestServer.StartAsync(o => o with { AgentSigningKey = AgentKey, ResearchKeys = $"{K1};{K2}" });
        using HttpClient lab = server.Client(server.Labs.AddLab("990000001", "Demo", ["LAB"], []));
        await ResultMessages.SendAsync(lab, [ResultMessages.Oru(1, Day, 34, 'F', positive: true)]);
        ResearchRow row = Assert.Single(await WaitForRowsAsync(server, r => r.Count == 1));
        Assert.StartsWith("k2.", row.Pseudonym);
        var old = new Pseudonyms([("k1", K1[3..])]);

        using var research = new HttpClient { BaseAddress = server.Http };
        research.DefaultRequestHeaders.Authorization = new AuthenticationHeaderValue("Bearer", AgentTokens.Mint(AgentKey, "ro", AgentRoles.ResearchOperator, [], TimeSpan.FromHours(1)));
        JsonElement links = JsonDocument.Parse(await research.GetStringAsync("/v1/research/pseudonym-links?from=k1&to=k2")).RootElement;
        JsonElement link = Assert.Single(links.EnumerateArray());
        Assert.Equal(row.Pseudonym, link.GetProperty("new").GetString());
        Assert.StartsWith("k1.", link.GetProperty("old").GetString());
        Assert.NotEqual(link.GetProperty("old").GetString(), old.Of(2)); // it is person 1's, not any other's
        using var investigator = new HttpClient { BaseAddress = server.Http };
        investigator.DefaultRequestHeaders.Authorization = new AuthenticationHeaderValue("Bearer", AgentTokens.Mint(AgentKey, "i", AgentRoles.Investigator, ["01"], TimeSpan.FromHours(1)));
        Assert.Equal(HttpStatusCode.Forbidden, (await investigator.GetAsync("/v1/research/pseudonym-links?from=k1&to=k2")).StatusCode);
    }

    [Fact]
    public async Task An_extract_reports_its_smallest_group_and_generalises_then_suppresses_below_k()
    {
        await using SidepTestServer server = await SidepTestServer.StartAsync(o => o with { ResearchKeys = K1 });
        using HttpClient lab = server.Client(server.Labs.AddLab("990000001", "Demo", ["LAB"], []));
        // Six women of 30–39 tested in the same week in the Ain, and one man of 70.
        var messages = Enumerable.Range(1, 6).Select(n => ResultMessages.Oru(n * 2, Day.AddDays(n % 3), 30 + n, 'F', positive: n % 2 == 0)).ToList();
        messages.Add(ResultMessages.Oru(99, Day, 70, 'M', positive: false));
        await ResultMessages.SendAsync(lab, messages);
        await WaitForRowsAsync(server, r => r.Count == 7);
        string output = Path.Combine(server.DataDir, "extract");

        ResearchExtractManifest open = await ResearchExtract.CreateAsync(Path.Combine(server.DataDir, "research"), output, Day, Day.AddDays(6), k: 1);
        Assert.Equal((7, false, 0, 1), (open.Rows, open.Generalised, open.SuppressedRows, open.SmallestGroup));

        ResearchExtractManifest safe = await ResearchExtract.CreateAsync(Path.Combine(server.DataDir, "research"), output, Day, Day.AddDays(6), k: 5);
        Assert.True(safe.SmallestGroupAsRecorded < 5);
        Assert.True(safe.Generalised);
        Assert.Equal(1, safe.SuppressedRows); // the man of 70 is alone in his group even by région and ten years
        Assert.Equal(6, safe.Rows);
        Assert.Equal(6, safe.SmallestGroup); // the six women: 30–39, Auvergne-Rhône-Alpes, one week
        Assert.Contains("région", safe.QuasiIdentifiers);
        await using FileStream file = File.OpenRead(Path.Combine(output, safe.File));
        IList<ExtractRow> rows = (await Parquet.Serialization.ParquetSerializer.DeserializeAsync<ExtractRow>(file)).Data;
        Assert.All(rows, r => Assert.Equal(("30-39", null, "84", null), (r.AgeClass, r.Departement, r.Region, r.Commune)));
    }
}
