using System.Globalization;
using System.Net;
using System.Net.Http.Headers;
using System.Text;
using System.Text.Json;
using Sidep.Tests;

namespace Sidep.Gateway.Tests;

public class IndicatorsApiTests
{
    private const string Token = "op-secret";

    /// <summary>A person of the Ain (commune 01053, Bourg-en-Bresse) with a valid NIR, tested by RT-PCR on <paramref name="day"/>.</summary>
    private static string Oru(int n, DateOnly day, int age, char sex, bool positive, string status = "F", string? accession = null)
    {
        string nir13 = $"{(sex == 'F' ? 2 : 1)}{80 + n % 20:D2}{1 + n % 12:D2}01{100 + n / 1000:D3}{n % 1000:D3}";
        string ins = nir13 + (97 - long.Parse(nir13, CultureInfo.InvariantCulture) % 97).ToString("D2", CultureInfo.InvariantCulture);
        DateOnly birth = day.AddYears(-age).AddDays(-(1 + n % 300));
        string name = "PERS" + string.Concat(n.ToString(CultureInfo.InvariantCulture).Select(c => (char)('A' + c - '0')));
        string acc = accession ?? $"A{n}";
        string result = positive ? "260373001^Détecté^SCT" : "260415000^Non détecté^SCT";
        return $"MSH|^~\\&|APP|LAB^990000001|SIDEP|ANS|{day:yyyyMMdd}180000+0200||ORU^R01^ORU_R01|M{acc}{status}|P|2.5|||||FRA|UNICODE UTF-8\r" +
            $"PID|1||{ins}^^^ASIP-SANTE-INS-NIR&1.2.250.1.213.1.4.8&ISO^INS||{name}^CLAUDE||{birth:yyyyMMdd}|{sex}|||1 rue de la Gare^^BOURG-EN-BRESSE^^01000^FRA^H^^01053\r" +
            $"OBR|1||{acc}|94500-6^SARS-CoV-2 RNA^LN|||{day:yyyyMMdd}093000+0200\r" +
            $"OBX|1|CWE|94500-6^SARS-CoV-2 RNA^LN||{result}||||||{status}|||{day:yyyyMMdd}093000+0200\r";
    }

    private static async Task SendAsync(HttpClient lab, IEnumerable<string> messages)
    {
        foreach (string[] chunk in messages.Chunk(500))
        {
            var body = new ByteArrayContent(Encoding.UTF8.GetBytes(string.Concat(chunk))) { Headers = { ContentType = new("application/hl7-v2") } };
            HttpResponseMessage response = await lab.PostAsync("/v1/submissions", body);
            Assert.True(response.StatusCode == HttpStatusCode.Created, await response.Content.ReadAsStringAsync());
        }
    }

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
                messages.Add(Oru(n, day, age, n % 2 == 0 ? 'F' : 'M', positive: i < p));
            }
        }
        Assert.Equal(rows.Where(r => r[4] == "0").Sum(r => int.Parse(r[3], CultureInfo.InvariantCulture)), messages.Count);

        await using SidepTestServer server = await SidepTestServer.StartAsync(o => o with { OperatorToken = Token });
        using HttpClient lab = server.Client(server.Store.AddLab("990000001", "Demo", ["LAB"], []));
        // Shuffled: results arrive in any order, across days.
        await SendAsync(lab, messages.OrderBy(m => m.GetHashCode(StringComparison.Ordinal)));

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
}
