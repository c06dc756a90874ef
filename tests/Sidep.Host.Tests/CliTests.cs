using System.Text.Json;
using System.Text.RegularExpressions;
using Sidep.Ingestion;
using Sidep.Tests;

namespace Sidep.Host.Tests;

public class CliTests
{
    [Fact]
    public async Task The_sidep_program_holds_no_load_generator()
    {
        (int exit, string output) = await SidepProcess.RunAsync("--help");
        Assert.Equal(0, exit);
        Assert.Contains("serve", output);
        Assert.DoesNotContain("loadgen", output);
        (int loadgenExit, string loadgenHelp) = await SidepProcess.LoadGenAsync("--help");
        Assert.Equal(0, loadgenExit);
        Assert.Contains("--results", loadgenHelp);
    }

    [Fact]
    public async Task Send_with_format_json_answers_a_refusal_in_JSON_too()
    {
        using var temp = new TempDir();
        string dir = temp.Path;
        using SidepProcess server = await SidepProcess.ServeAsync(dir);
        (int exit, string output) = await SidepProcess.RunAsync("send", "--server", server.Http.ToString(), "--api-key", "sdp_not-a-key", "--format", "json",
            Path.Combine(Fixtures.RepoRoot, "examples", "demo-oru-r01.hl7"));
        Assert.Equal(2, exit);
        using var line = System.Text.Json.JsonDocument.Parse(output.Trim());
        Assert.Equal(("demo-oru-r01.hl7", 401), (line.RootElement.GetProperty("file").GetString(), line.RootElement.GetProperty("status").GetInt32()));
        Assert.Equal(System.Text.Json.JsonValueKind.Object, line.RootElement.GetProperty("problem").ValueKind);
    }

    [Fact]
    public async Task The_demo_keeps_its_keys_across_restarts_owner_only_and_prints_commands_that_run_as_printed()
    {
        using var temp = new TempDir();
        string dir = temp.Path;
        async Task<string> StartAsync()
        {
            using SidepProcess server = await SidepProcess.ServeAsync(dir, "--demo");
            string printed = "";
            for (int i = 0; i < 100 && !(printed = server.Output).Contains("Press Ctrl+C", StringComparison.Ordinal); i++)
            {
                await Task.Delay(50);
            }
            server.Kill();
            return printed;
        }
        string first = await StartAsync(), second = await StartAsync();
        string Key(string output, string pattern) => Regex.Match(output, pattern).Groups[1].Value;
        foreach (string pattern in (string[])[@"its API key: (\S+)", @"Operator token \(identity decisions, indicators\): (\S+)", @"agents token --key (\S+)"])
        {
            Assert.NotEqual("", Key(first, pattern));
            Assert.Equal(Key(first, pattern), Key(second, pattern));
        }
        if (!OperatingSystem.IsWindows())
        {
            foreach (string secret in Directory.GetFiles(Path.Combine(dir, "secrets")))
            {
                Assert.Equal(UnixFileMode.UserRead | UnixFileMode.UserWrite, File.GetUnixFileMode(secret));
            }
        }
        // The printed commands use ./sidep (no second build), and the agent key printed mints a token.
        Assert.Contains("./sidep send --server", first);
        Assert.DoesNotContain("dotnet run", first);
        (int exit, string token) = await SidepProcess.RunAsync("agents", "token", "--key", Key(first, @"agents token --key (\S+)"), "--agent", "a.martin", "--role", "investigator", "--territory", "75");
        Assert.Equal(0, exit);
        Assert.StartsWith("eyJ", token.Trim());
    }

    [Fact]
    public async Task Validate_show_says_what_was_understood_of_each_result_and_how_it_will_count()
    {
        string file = Path.Combine(Fixtures.RepoRoot, "examples", "demo-oru-r01.hl7");
        (int exit, string output) = await SidepProcess.RunAsync("validate", "--show", file);
        Assert.Equal(0, exit);
        Assert.Contains("understood #0 (accepted result)", output);
        Assert.Contains("birth name MARTIN", output); // offline: not masked
        Assert.Contains("→ LOINC 94500-6: Pcr", output);
        Assert.Contains("read as Positive", output);
        Assert.Contains("(collection); result —; counts on 2026-01-12", output);
        Assert.Contains("counting: counts in T and P on 2026-01-12, département 69, age class 49, sex Female", output);
        Assert.Contains("tracing:  a positive: opens a case", output);

        (int jsonExit, string json) = await SidepProcess.RunAsync("validate", "--show", "--format", "json", Fixtures.Hl7("ans__CISIS_ORU_R01_v1.2_CR-bio_INS-NIR-oid-1.4.8.hl7"));
        Assert.Equal(0, jsonExit);
        UnderstoodSubmission understood = System.Text.Json.JsonSerializer.Deserialize(json.Trim(), SidepJson.Default.UnderstoodSubmission)!;
        Assert.Equal(12, understood.Understood.Count);
        Assert.All(understood.Understood, u => Assert.Equal(ItemStatus.NotAResult, u.Status));
        Assert.Contains("CI-SIS document metadata", understood.Understood[1].Indicators);
    }

    /// <summary>A served data directory with the demo lab registered (its facility SIDEP-DEMO) and the operator token
    /// "operator-token-for-tests"; removed afterwards.</summary>
    private static async Task WithDemoServerAsync(Func<SidepProcess, string, string, Task> test)
    {
        using var temp = new TempDir();
        string dir = temp.Path;
        (int added, string key) = await SidepProcess.RunAsync("labs", "add", "--data-dir", dir, "--finess", "990000001", "--name", "Demo", "--facility", "SIDEP-DEMO");
        Assert.Equal(0, added);
        using SidepProcess server = await SidepProcess.ServeAsync(dir, "--operator-token", "operator-token-for-tests");
        await test(server, key.Trim(), dir);
    }

    private static async Task InTempDirAsync(Func<string, Task> test)
    {
        using var temp = new TempDir();
        string dir = temp.Path;
        await test(dir);
    }

    [Fact]
    public async Task Validate_exits_1_when_anything_is_rejected_and_0_when_all_is_accepted()
    {
        (int bad, string badOutput) = await SidepProcess.RunAsync("validate", Fixtures.Hl7("reportstream__CA-20211001-sully.hl7"));
        Assert.Equal(1, bad);
        Assert.Contains("1 accepted", badOutput);
        Assert.Contains("OBX-11 line 9", badOutput);
        (int good, string goodOutput) = await SidepProcess.RunAsync("validate", Fixtures.Hl7("reportstream__batch_message_FHS-BHS_LF.hl7"));
        Assert.Equal(0, good);
        Assert.Contains("2 accepted", goodOutput);
    }

    [Fact]
    public async Task Sending_the_whole_corpus_with_sidep_send_to_sidep_serve_reports_every_result()
    {
        using var temp = new TempDir();
        string dir = temp.Path;
        // One lab group sending for every facility of the corpus (MSH-4 values), as a platform would.
        var parser = new Parsing.Hl7v2.Hl7v2Parser();
        string[] facilities = Fixtures.Hl7Files.SelectMany(f => parser.Parse(File.ReadAllBytes(f)).Messages.SelectMany(m => m.SenderIds)).Distinct().ToArray();
        var addArgs = new List<string> { "labs", "add", "--data-dir", dir, "--finess", "990000001", "--name", "Corpus senders" };
        foreach (string f in facilities)
        {
            addArgs.Add("--facility");
            addArgs.Add(f);
        }
        (int added, string key) = await SidepProcess.RunAsync([.. addArgs]);
        Assert.Equal(0, added);

        using SidepProcess server = await SidepProcess.ServeAsync(dir);
        (int exit, string output) = await SidepProcess.RunAsync(["send", "--server", server.Http.ToString(), "--api-key", key.Trim(), .. Fixtures.Hl7Files]);
        // Some corpus results are invalid (positioned rejections), so the exit code says so.
        Assert.Equal(1, exit);
        foreach (string file in Fixtures.Hl7Files)
        {
            Assert.Contains(Path.GetFileName(file) + ":", output);
        }
        int accepted = Regex.Matches(output, @"(\d+) accepted").Sum(m => int.Parse(m.Groups[1].Value));
        int rejected = Regex.Matches(output, @"(\d+) rejected").Sum(m => int.Parse(m.Groups[1].Value));
        int notResults = Regex.Matches(output, @"(\d+) not a result").Sum(m => int.Parse(m.Groups[1].Value));
        Assert.Equal(33, accepted);
        Assert.Equal(2, rejected);
        Assert.Equal(12, notResults); // the CI-SIS message's document and metadata, each ignored with why
        Assert.Contains("info    OBX-3 line 8 byte", output);
        Assert.Contains("error   OBX-11 line 9 byte 1823", output);
        Assert.Contains("error   MSH-4 line 1 byte 11", output);
    }

    [Fact]
    public Task Indicators_export_writes_the_SPF_tables_of_each_level() => WithDemoServerAsync(async (server, key, dir) =>
    {
        string demo = Path.Combine(Fixtures.RepoRoot, "examples", "demo-oru-r01.hl7");
        Assert.Equal(0, (await SidepProcess.RunAsync("send", "--server", server.Http.ToString(), "--api-key", key, demo)).Exit);
        string output = Path.Combine(dir, "export");
        string daily = "";
        for (int i = 0; i < 100 && !daily.Contains("69;2026-01-12;1;0;1;1;0;1;0;", StringComparison.Ordinal); i++)
        {
            (int exit, string printed) = await SidepProcess.RunAsync("indicators", "export", "--server", server.Http.ToString(), "--operator-token", "operator-token-for-tests", "--out", output);
            Assert.Equal(0, exit);
            Assert.Contains("dep-daily.csv: 1144 rows", printed); // 104 départements × 11 classes, one day
            daily = File.ReadAllText(Path.Combine(output, "dep-daily.csv"));
            await Task.Delay(100);
        }
        // Claire Martin, 40, of Lyon (commune 69383), positive on 12 January 2026.
        Assert.Contains("69;2026-01-12;1;0;1;1;0;1;49;", daily);
        Assert.Contains("84;2026-01-12;1;0;1;1;0;1;0;", File.ReadAllText(Path.Combine(output, "reg-daily.csv")));
        Assert.StartsWith("fra;jour;P_f;P_h;P;T_f;T_h;T;cl_age90;pop\nFR;2026-01-12;0;0;0;0;0;0;09;", File.ReadAllText(Path.Combine(output, "fra-daily.csv")));
        Assert.StartsWith("dep;jour;cl_age90;pop;P_7j;T_7j;tx_incid;tx_pos;tx_dep\n", File.ReadAllText(Path.Combine(output, "dep-rates.csv")));
        (int refused, _) = await SidepProcess.RunAsync("indicators", "export", "--server", server.Http.ToString(), "--operator-token", "wrong", "--out", output);
        Assert.Equal(2, refused);
    });

    [Fact]
    public Task Loadgen_registers_its_labs_sends_every_format_over_HTTP_and_MLLP_accounts_for_every_result_and_finds_the_indicators_of_its_ground_truth() => InTempDirAsync(async dir =>
    {
        string agentKey = new('k', 40);
        int mllpPort = SidepProcess.FreePort();
        using SidepProcess server = await SidepProcess.ServeAsync(dir, "--operator-token", "operator-token-for-tests", "--agent-key", agentKey, "--mllp-port", mllpPort.ToString(System.Globalization.CultureInfo.InvariantCulture));
        (int exit, string output) = await SidepProcess.LoadGenAsync("--server", server.Http.ToString(), "--operator-token", "operator-token-for-tests", "--agent-key", agentKey,
            "--mllp-port", mllpPort.ToString(System.Globalization.CultureInfo.InvariantCulture), "--results", "3000", "--labs", "40", "--batch", "100", "--concurrency", "3",
            "--mllp", "0.5", "--corrections", "0.05", "--duplicates", "0.05", "--invalid", "0.02", "--late", "0.05");
        output = output.Replace("\r", "", StringComparison.Ordinal);
        Assert.True(exit == 0, output);
        Assert.Matches(@"40 labs \(\d+ Hl7v2, \d+ Hl7v2 over MLLP, \d+ HprimSante, \d+ HprimMedecin, \d+ Fhir\)", output);
        Assert.Matches(@"registered 41 labs and \d+ transcoding tables", output);
        Assert.Contains("every result accounted for", output);
        Assert.DoesNotMatch(@"corrections 0 |duplicates 0 |rejected with a reason 0 |MLLP AA 0 ", output);
        Assert.Matches(@"HTTP per submission p50 \d+ ms, p99 \d+ ms, p99.9 \d+ ms, max \d+ ms; MLLP per message p50 \d+ ms", output);
        Assert.Contains("pipeline caught up", output);
        Assert.Matches(@"acknowledgement → visible \(\d+ probes.*\): cases API p50 \d+ ms.*; indicators p50 \d+ ms", output);
        Assert.Matches(@"indicators, national daily table \(.*\): (\d+) of \1 rows equal to the ground truth\n", output);
        Assert.Matches(@"indicators, département daily table \(.*\): ([\d,]+) of \1 rows equal to the ground truth\n", output);
    });

    [Fact]
    public Task Loadgen_draws_persons_by_departement_and_age_class_as_the_published_population_is() => InTempDirAsync(async dir =>
    {
        (int exit, string output) = await SidepProcess.LoadGenAsync("--out", dir, "--results", "40000", "--labs", "200", "--retests", "0", "--late", "0");
        Assert.True(exit == 0, output);
        // person;day;sex;dep;cl_age;positive — one row per result, each a new person here.
        string[][] truth = [.. File.ReadLines(Path.Combine(dir, "truth.csv")).Skip(1).Select(l => l.Split(';'))];
        var population = File.ReadLines(Path.Combine(Fixtures.Shared, "reference", "population_dep_age_2020.csv")).Skip(1).Select(l => l.Split(';'))
            .Where(f => f[1] != "0").Select(f => (Dep: f[0], Age: f[1], Pop: double.Parse(f[2], System.Globalization.CultureInfo.InvariantCulture))).ToList();
        double total = population.Sum(p => p.Pop);
        foreach (string dep in new[] { "75", "13", "59", "93" })
        {
            double expected = population.Where(p => p.Dep == dep).Sum(p => p.Pop) / total, got = truth.Count(t => t[3] == dep) / (double)truth.Length;
            Assert.True(Math.Abs(got - expected) < 0.25 * expected, $"département {dep}: {got:P2} of the persons, {expected:P2} of the population");
        }
        // Ages on the sample day: a few days later than the draw, so a class border moves a little; the classes hold.
        foreach ((string label, int age) in new[] { ("09", 0), ("49", 4), ("79", 7), ("90", 9) })
        {
            double expected = population.Where(p => p.Age == label).Sum(p => p.Pop) / total, got = truth.Count(t => t[4] == age.ToString(System.Globalization.CultureInfo.InvariantCulture)) / (double)truth.Length;
            Assert.True(Math.Abs(got - expected) < 0.15 * expected, $"age class {label}: {got:P2} of the results, {expected:P2} of the population");
        }
        Assert.InRange(truth.Count(t => t[5] == "1") / (double)truth.Length, 0.09, 0.11);
    });

    [Fact]
    public Task Loadgen_writes_its_workload_as_files_each_lab_in_its_format_and_every_file_validates() => InTempDirAsync(async dir =>
    {
        (int exit, string output) = await SidepProcess.LoadGenAsync("--out", dir, "--results", "2000", "--labs", "30", "--invalid", "0", "--mllp", "0.3");
        Assert.True(exit == 0, output);
        string[] labs = File.ReadAllLines(Path.Combine(dir, "labs.csv"));
        Assert.Equal(31, labs.Length);
        Assert.Equal(2001, File.ReadLines(Path.Combine(dir, "truth.csv")).Count());
        Assert.StartsWith("fra;jour;P_f;P_h;P;T_f;T_h;T;cl_age90\n", File.ReadAllText(Path.Combine(dir, "expected-fra-daily.csv")));
        foreach (string format in new[] { "Hl7v2", "HprimSante", "HprimMedecin", "Fhir" })
        {
            string finess = labs.Skip(1).Select(l => l.Split(';')).First(f => f[4] == format && f[5] == "http")[0];
            string file = Directory.GetFiles(Path.Combine(dir, finess), "1-*").Order(StringComparer.Ordinal).First();
            (int valid, string report) = await SidepProcess.RunAsync("validate", file);
            Assert.True(valid == 0, $"{format} {file}: {report}");
        }
    });

    [Fact]
    public async Task The_CLI_sends_HPRIM_lists_the_quarantine_and_maps_codes_which_replays_them()
    {
        using var temp = new TempDir();
        string dir = temp.Path;
        (_, string key) = await SidepProcess.RunAsync("labs", "add", "--data-dir", dir, "--finess", "990000001", "--name", "Demo", "--facility", "SIDEP-DEMO");
        key = key.Trim();
        using SidepProcess server = await SidepProcess.ServeAsync(dir);
        string url = server.Http.ToString();
        string demo = Path.Combine(Fixtures.RepoRoot, "examples", "demo-hprim-sante.hpr");
        (int sent, string sendOutput) = await SidepProcess.RunAsync("send", "--server", url, "--api-key", key, demo);
        Assert.Equal(0, sent);
        Assert.Contains("1 pending mapping", sendOutput);
        (_, string waiting) = await SidepProcess.RunAsync("quarantine", "--server", url, "--api-key", key);
        Assert.Contains("\"localCode\": \"SCOV\"", waiting);
        string table = Path.Combine(dir, "table.csv");
        await File.WriteAllTextAsync(table, "local_code;loinc;label\nSCOV;94500-6;PCR SARS-CoV-2\n");
        (int put, string putOutput) = await SidepProcess.RunAsync("transcoding", "put", table, "--finess", "990000001", "--server", url, "--api-key", key);
        Assert.Equal(0, put);
        Assert.Contains("\"replayed\": 1", putOutput);
        (_, string after) = await SidepProcess.RunAsync("quarantine", "--server", url, "--api-key", key);
        Assert.Equal("[]", after.Trim());
    }

    [Fact]
    public async Task Validate_prints_one_JSON_report_per_file_with_format_json()
    {
        (int exit, string output) = await SidepProcess.RunAsync("validate", "--format", "json",
            Path.Combine(Fixtures.HprimDir, "freemedforms__tst_hprim_test1_HPRIM-Medecin_LAB-block_CRLF.hpr"), Fixtures.Hl7("reportstream__CE-20200415-0001_CR.hl7"));
        Assert.Equal(1, exit); // the HPRIM Médecin file has a RES without value
        string[] lines = output.Split('\n', StringSplitOptions.RemoveEmptyEntries);
        Assert.Equal(2, lines.Length);
        SubmissionReport hprim = JsonSerializer.Deserialize(lines[0], SidepJson.Default.SubmissionReport)!;
        Assert.Equal("hprim", hprim.Format);
        Assert.Equal(new ReportCounts(0, 1, 0, 0, 1), hprim.Counts);
        SubmissionReport hl7 = JsonSerializer.Deserialize(lines[1], SidepJson.Default.SubmissionReport)!;
        Assert.Equal("hl7v2", hl7.Format);
        Assert.Equal(1, hl7.Counts.Accepted);
    }
}
