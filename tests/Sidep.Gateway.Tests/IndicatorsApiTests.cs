using System.Globalization;
using System.Net;
using System.Net.Http.Headers;
using System.Text;
using System.Text.Json;
using Sidep.Tests;

namespace Sidep.Gateway.Tests;

public class IndicatorsApiTests
{
    private const string Token = "operator-token-for-tests";

    private static HttpClient OperatorClient(SidepTestServer server)
    {
        var op = new HttpClient { BaseAddress = server.Http };
        op.DefaultRequestHeaders.Add("X-Operator-Token", Token);
        return op;
    }

    /// <summary>Polls until the indicators cover <paramref name="results"/> results (T over the day range, all ages).</summary>
    private static async Task<string> WaitForAsync(HttpClient op, string url, Func<string, bool> done)
    {
        string body = "";
        for (int i = 0; i < 600; i++)
        {
            body = await op.GetStringAsync(url);
            if (done(body))
            {
                return body;
            }
            await Task.Delay(100);
        }
        return body;
    }

    [Fact]
    public async Task The_published_Ain_slice_comes_out_of_the_whole_pipeline_byte_for_byte()
    {
        // One PCR test per person, so every counting rule agrees with the 2020 method the file was made with. Rows for
        // the ten age classes are published for 13–19 May only; later days only as totals, so there the persons get
        // ages spread over the classes.
        string path = Path.Combine(Fixtures.Shared, "reference", "sp-pos-quot-dep_01_2020-05-13_2020-06-11.csv");
        string[] published = File.ReadAllLines(path);
        var rows = published.Skip(1).Select(l => l.Split(';')).ToList();
        var detailed = rows.Where(r => r[4] != "0").Select(r => r[1]).ToHashSet();
        var messages = new List<string>();
        int n = 0;
        foreach (string[] r in rows)
        {
            var day = DateOnly.ParseExact(r[1], "yyyy-MM-dd", CultureInfo.InvariantCulture);
            int p = int.Parse(r[2], CultureInfo.InvariantCulture), t = int.Parse(r[3], CultureInfo.InvariantCulture);
            if (r[4] == "0" && detailed.Contains(r[1]))
            {
                continue; // the sum of the class rows
            }
            for (int i = 0; i < t; i++, n++)
            {
                int age = r[4] switch { "0" => 5 + n * 7 % 90, "90" => 90 + n % 10, _ => int.Parse(r[4], CultureInfo.InvariantCulture) - 9 + n % 10 };
                messages.Add(ResultMessages.Oru(n, day, age, n % 2 == 0 ? 'F' : 'M', positive: i < p));
            }
        }
        Assert.Equal(rows.Where(r => r[4] == "0").Sum(r => int.Parse(r[3], CultureInfo.InvariantCulture)), messages.Count);

        await using SidepTestServer server = await SidepTestServer.StartAsync(o => o with { OperatorToken = Token });
        using HttpClient lab = server.Client(server.Labs.AddLab("990000001", "Demo", ["LAB"], []));
        // Shuffled: results arrive in any order, across days.
        await ResultMessages.SendAsync(lab, messages.OrderBy(m => m.GetHashCode(StringComparison.Ordinal)));

        using HttpClient op = OperatorClient(server);
        string csv = await WaitForAsync(op, "/v1/indicators/dep/daily.csv?dep=01&layout=2020&from=2020-05-13&to=2020-06-11",
            body => body.Split('\n').Where(l => l.EndsWith(";0;656955", StringComparison.Ordinal)).Sum(l => int.Parse(l.Split(';')[3], CultureInfo.InvariantCulture)) == messages.Count);
        var exported = csv.Split('\n', StringSplitOptions.RemoveEmptyEntries).ToDictionary(l => string.Join(';', l.Split(';')[1], l.Split(';')[4]));
        string slice = published[0] + "\n" + string.Concat(rows.Select(r => exported[string.Join(';', r[1], r[4])] + "\n"));
        Assert.Equal(File.ReadAllText(path), slice);
        Assert.StartsWith(File.ReadAllText(path)[..(File.ReadAllText(path).IndexOf("01;2020-05-20", StringComparison.Ordinal))], csv);

        // The same counts with the sex split and through the région and national levels.
        string current = await op.GetStringAsync("/v1/indicators/dep/daily.csv?dep=01&from=2020-05-13&to=2020-05-13");
        Assert.Equal("dep;jour;P_f;P_h;P;T_f;T_h;T;cl_age90;pop", current.Split('\n')[0]);
        string[] total = current.Split('\n')[11].Split(';');
        Assert.Equal(("9", "340"), (total[4], total[7]));
        Assert.Equal(int.Parse(total[7], CultureInfo.InvariantCulture), int.Parse(total[5], CultureInfo.InvariantCulture) + int.Parse(total[6], CultureInfo.InvariantCulture));
        string fra = await op.GetStringAsync("/v1/indicators/fra/daily.csv?from=2020-05-13&to=2020-05-13");
        Assert.StartsWith("FR;2020-05-13;", fra.Split('\n')[11]);
        Assert.Equal(("9", "340"), (fra.Split('\n')[11].Split(';')[4], fra.Split('\n')[11].Split(';')[7]));
    }

    [Fact]
    public async Task A_correction_arriving_three_days_late_changes_exactly_the_right_cells_visible_as_a_revision()
    {
        await using SidepTestServer server = await SidepTestServer.StartAsync(o => o with { OperatorToken = Token });
        using HttpClient lab = server.Client(server.Labs.AddLab("990000001", "Demo", ["LAB"], []));
        using HttpClient op = OperatorClient(server);
        var monday = new DateOnly(2021, 3, 1);
        // Day 1: a positive woman of 34 and a negative man of 50; day 3: the woman tested again (hidden by her positive).
        await ResultMessages.SendAsync(lab, [ResultMessages.Oru(1, monday, 34, 'F', positive: true), ResultMessages.Oru(2, monday, 50, 'M', positive: false), ResultMessages.Oru(1, monday.AddDays(2), 34, 'F', positive: false, accession: "B1", birthDate: monday.AddYears(-34).AddDays(-2))]);
        const string url = "/v1/indicators/dep/daily.csv?dep=01&from=2021-03-01&to=2021-03-04";
        string before = await WaitForAsync(op, url, body => body.Contains("01;2021-03-01;1;0;1;1;1;2;0;656955", StringComparison.Ordinal));
        Assert.Contains("01;2021-03-03;0;0;0;0;0;0;0;656955", before, StringComparison.Ordinal);
        await Task.Delay(20);
        DateTimeOffset beforeCorrection = DateTimeOffset.UtcNow;
        await Task.Delay(20);

        // Three days later the lab corrects the woman's first result: negative after all.
        await ResultMessages.SendAsync(lab, [ResultMessages.Oru(1, monday, 34, 'F', positive: false, status: "C")]);
        string after = await WaitForAsync(op, url, body => body.Contains("01;2021-03-01;0;0;0;1;1;2;0;656955", StringComparison.Ordinal));
        Assert.Contains("01;2021-03-01;0;0;0;1;1;2;0;656955", after, StringComparison.Ordinal);
        Assert.Contains("01;2021-03-01;0;0;0;1;0;1;39;85588", after, StringComparison.Ordinal);
        Assert.Contains("01;2021-03-03;0;0;0;1;0;1;39;85588", after, StringComparison.Ordinal); // no longer hidden
        Assert.Contains("01;2021-03-03;0;0;0;1;0;1;0;656955", after, StringComparison.Ordinal);

        // Exactly these cells moved, as one revision after the moment before the correction.
        string changes = await op.GetStringAsync($"/v1/indicators/dep/changes.csv?dep=01&from=2021-03-01&to=2021-03-04&since={Uri.EscapeDataString(beforeCorrection.ToString("O"))}");
        Assert.Equal(
            """
            dep;jour;cl_age90;colonne;avant;apres
            01;2021-03-01;39;P_f;1;0
            01;2021-03-01;39;P;1;0
            01;2021-03-01;0;P_f;1;0
            01;2021-03-01;0;P;1;0
            01;2021-03-03;39;T_f;0;1
            01;2021-03-03;39;T;0;1
            01;2021-03-03;0;T_f;0;1
            01;2021-03-03;0;T;0;1

            """.ReplaceLineEndings("\n"), changes);
        using JsonDocument revisions = JsonDocument.Parse(await op.GetStringAsync($"/v1/indicators/revisions?since={Uri.EscapeDataString(beforeCorrection.ToString("O"))}"));
        Assert.Equal(1, revisions.RootElement.GetArrayLength());
        Assert.Equal(2, revisions.RootElement[0].GetProperty("cells").GetInt32()); // (1 March, Ain, women 30–39) and (3 March, same)

        // As of the moment before, the table is what it was.
        string asOf = await op.GetStringAsync($"{url}&asof={Uri.EscapeDataString(beforeCorrection.ToString("O"))}");
        Assert.Equal(before, asOf);
    }

    [Fact]
    public async Task Indicators_need_the_operator_role_and_say_what_is_wrong_with_a_request()
    {
        await using SidepTestServer server = await SidepTestServer.StartAsync(o => o with { OperatorToken = Token });
        using var anonymous = new HttpClient { BaseAddress = server.Http };
        Assert.Equal(HttpStatusCode.Unauthorized, (await anonymous.GetAsync("/v1/indicators/dep/daily.csv")).StatusCode);
        using HttpClient op = OperatorClient(server);
        foreach ((string query, string expected) in new[]
        {
            ("/v1/indicators/dpt/daily.csv", "unknown level 'dpt'"),
            ("/v1/indicators/dep/weekly.csv", "unknown table 'weekly.csv'"),
            ("/v1/indicators/dep/daily.csv?from=13/05/2020", "from '13/05/2020' is not a date YYYY-MM-DD"),
            ("/v1/indicators/dep/daily.csv?from=2020-06-01&to=2020-05-01", "is not a range"),
            ("/v1/indicators/dep/daily.csv?dep=100", "dep '100' is not a dep code"),
            ("/v1/indicators/dep/daily.csv?asof=yesterday", "asof 'yesterday' is not an ISO 8601 date-time"),
            ("/v1/indicators/dep/daily.csv?layout=2019", "layout '2019' is unknown"),
            ("/v1/indicators/dep/changes.csv", "changes need since"),
        })
        {
            HttpResponseMessage response = await op.GetAsync(query);
            Assert.Equal(HttpStatusCode.BadRequest, response.StatusCode);
            Assert.Contains(expected, await response.Content.ReadAsStringAsync(), StringComparison.Ordinal);
        }
        // Nothing counted yet: a header and, with bounds, rows of zeros.
        Assert.Equal("fra;jour;P_f;P_h;P;T_f;T_h;T;cl_age90;pop\n", await op.GetStringAsync("/v1/indicators/fra/daily.csv"));
        string zeros = await op.GetStringAsync("/v1/indicators/reg/rates.csv?reg=84&from=2021-01-01&to=2021-01-01");
        Assert.StartsWith("reg;jour;cl_age90;pop;P_7j;T_7j;tx_incid;tx_pos;tx_dep\n84;2021-01-01;09;", zeros, StringComparison.Ordinal);
        Assert.Contains(";0;0;0;;0\n", zeros, StringComparison.Ordinal); // positivity undefined without tests
    }
    [Fact]
    public async Task An_epidemiologist_agent_reads_the_indicators_and_their_freshness_and_other_roles_are_refused()
    {
        const string key = "agent-signing-key-of-32-bytes-at-least!";
        var clock = new Microsoft.Extensions.Time.Testing.FakeTimeProvider(new DateTimeOffset(2026, 1, 14, 9, 0, 0, TimeSpan.Zero));
        await using SidepTestServer server = await SidepTestServer.StartAsync(o => o with { OperatorToken = Token, AgentSigningKey = key, Clock = clock });
        using HttpClient lab = server.Client(server.Labs.AddLab("990000001", "Demo", ["SIDEP-DEMO"], []));
        // Sampled on 12 January (the messages' OBR-7): two received on the 14th (two days later), one on the 15th.
        Assert.Equal(HttpStatusCode.Created, (await lab.PostAsync("/v1/submissions", ResultMessages.Hl7(ResultMessages.Message("M1", "A1") + ResultMessages.Message("M2", "A2")))).StatusCode);
        clock.Advance(TimeSpan.FromDays(1));
        Assert.Equal(HttpStatusCode.Created, (await lab.PostAsync("/v1/submissions", ResultMessages.Hl7(ResultMessages.Message("M3", "A3")))).StatusCode);

        HttpClient Agent(string role)
        {
            HttpClient client = server.Client(null);
            client.DefaultRequestHeaders.Authorization = new AuthenticationHeaderValue("Bearer", AgentTokens.Mint(key, "a." + role, role, ["75"], TimeSpan.FromHours(1)));
            return client;
        }
        using HttpClient epidemiologist = Agent(AgentRoles.Epidemiologist), investigator = Agent(AgentRoles.Investigator);
        using JsonDocument freshness = JsonDocument.Parse(await epidemiologist.GetStringAsync("/v1/indicators/freshness?from=2026-01-11&to=2026-01-15"));
        JsonElement day = freshness.RootElement.GetProperty("days").EnumerateArray().Single(d => d.GetProperty("day").GetString() == "2026-01-12");
        Assert.Equal((0, 0, 2, 1, 3), (day.GetProperty("sameDay").GetInt64(), day.GetProperty("oneDay").GetInt64(), day.GetProperty("twoDays").GetInt64(),
            day.GetProperty("threeOrMore").GetInt64(), day.GetProperty("total").GetInt64()));
        Assert.Equal(5, freshness.RootElement.GetProperty("days").GetArrayLength());
        Assert.Equal(HttpStatusCode.OK, (await epidemiologist.GetAsync("/v1/indicators/fra/daily.csv")).StatusCode);

        Assert.Equal(HttpStatusCode.Forbidden, (await investigator.GetAsync("/v1/indicators/fra/daily.csv")).StatusCode);
        Assert.Equal(HttpStatusCode.Forbidden, (await investigator.GetAsync("/v1/indicators/freshness")).StatusCode);
        Assert.Equal(HttpStatusCode.Unauthorized, (await server.Client(null).GetAsync("/v1/indicators/freshness")).StatusCode);
        // The epidemiologist reads aggregates only: not the lab register, not the labs' health.
        Assert.Equal(HttpStatusCode.Unauthorized, (await epidemiologist.GetAsync("/v1/labs/health")).StatusCode);
    }
    [Theory]
    [InlineData("sidep")]
    [InlineData("spf2021")]
    public async Task The_indicators_count_persons_by_the_matcher_or_by_SPFs_2021_key_and_the_two_differ_where_they_should(string personKey)
    {
        await using SidepTestServer server = await SidepTestServer.StartAsync(o => o with { OperatorToken = Token, PersonKey = personKey });
        using HttpClient lab = server.Client(server.Labs.AddLab("990000001", "Demo", ["SIDEP-DEMO"], []));
        string Result(string accession, string pid) => ResultMessages.Message($"M{accession}", accession).Replace("PID|1||42^^^LAB^PI||DURAND^PAUL||19700101|M", pid);
        // Two men named Jean MARTIN, both 45 on 12 January 2026 but born two months apart (two persons; one SPF key),
        // and one Paul DURAND whose second lab mistyped his name (one person, corroborated by his home; two SPF keys).
        string batch = Result("A1", "PID|1||51^^^LAB^PI||MARTIN^JEAN||19800301|M|||1 rue A^^PARIS^^75011^FRA")
            + Result("A2", "PID|1||52^^^LAB^PI||MARTIN^JEAN||19800501|M|||9 rue B^^LYON^^69003^FRA")
            + Result("A3", "PID|1||53^^^LAB^PI||DURAND^PAUL||19700101|M|||3 rue C^^NANTES^^44000^FRA")
            + Result("A4", "PID|1||54^^^LAB^PI||DURANT^PAUL||19700101|M|||3 RUE C^^NANTES^^44000^FRA");
        Assert.Equal(HttpStatusCode.Created, (await lab.PostAsync("/v1/submissions", ResultMessages.Hl7(batch))).StatusCode);
        using HttpClient op = OperatorClient(server);
        // T for France, all ages, on the day: Sidep's persons 3 (two Jean MARTIN, one Paul DURAND); SPF's key 3 as well,
        // but not the same three (one Jean MARTIN, two Paul DURAND/DURANT). The men's column splits them the same way.
        string csv = await WaitForAsync(op, "/v1/indicators/fra/daily.csv?from=2026-01-12&to=2026-01-12",
            body => body.Split('\n').Any(l => l.StartsWith("FR;2026-01-12;", StringComparison.Ordinal) && l.Split(';')[8] == "0" && l.Split(';')[7] == "3"));
        string[] all = csv.Split('\n').Single(l => l.StartsWith("FR;2026-01-12;", StringComparison.Ordinal) && l.Split(';')[8] == "0").Split(';');
        Assert.Equal("3", all[7]);
        // Jean MARTIN is 45 (class 49), Paul DURAND 56 (class 59): where the two keys differ.
        string[] forties = csv.Split('\n').Single(l => l.StartsWith("FR;2026-01-12;", StringComparison.Ordinal) && l.Split(';')[8] == "49").Split(';');
        string[] fifties = csv.Split('\n').Single(l => l.StartsWith("FR;2026-01-12;", StringComparison.Ordinal) && l.Split(';')[8] == "59").Split(';');
        Assert.Equal(personKey == "sidep" ? ("2", "1") : ("1", "2"), (forties[7], fifties[7]));
    }
}
