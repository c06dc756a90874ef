using System.Net;
using System.Text.Json;
using Sidep.Domain;
using Sidep.Ingestion;
using Sidep.LoadGen;
using Sidep.Pipeline;
using Sidep.Storage.Sqlite;
using Sidep.Tests;

namespace Sidep.Gateway.Tests;

/// <summary>
/// Lab health on the load generator's national workload: each lab's daily volume is its share of a generated day, sent
/// over the opening hours with Poisson noise for four weeks (less on Saturdays, little on Sundays); on the last day some
/// labs stop at 11:00 and one drops to a fifth of its volume. Judged every 15 minutes through the day, on the embedded
/// store.
/// </summary>
public sealed class LabHealthTests : IDisposable
{
    private readonly TempDir _dir = new();

    /// <summary>Share of a lab's day sent in each UTC hour (the labs of the workload open from 6 to 19 UTC).</summary>
    private static readonly double[] s_hours = Profile();

    private static double[] Profile()
    {
        double[] w = new double[24];
        double[] open = [2, 5, 9, 10, 10, 9, 8, 7, 7, 6, 5, 4, 2];
        for (int i = 0; i < open.Length; i++)
        {
            w[6 + i] = open[i] / open.Sum();
        }
        return w;
    }

    private static double DayFactor(DateOnly day) => day.DayOfWeek switch { DayOfWeek.Saturday => 0.5, DayOfWeek.Sunday => 0.1, _ => 1.0 };

    private static int Poisson(Random random, double mean)
    {
        // Knuth for small means, a normal approximation beyond (the means here are per hour, at most a few hundred).
        if (mean > 50)
        {
            double u1 = 1 - random.NextDouble(), u2 = random.NextDouble();
            return Math.Max(0, (int)Math.Round(mean + Math.Sqrt(mean) * Math.Sqrt(-2 * Math.Log(u1)) * Math.Cos(2 * Math.PI * u2)));
        }
        double limit = Math.Exp(-mean), p = 1;
        int k = 0;
        do
        {
            k++;
            p *= random.NextDouble();
        }
        while (p > limit);
        return k - 1;
    }

    [Fact]
    public void Labs_switched_off_mid_day_are_flagged_silent_within_the_documented_delay_and_no_lab_that_kept_sending_is_flagged()
    {
        Workload workload = Workload.Generate(new WorkloadOptions { Results = 60_000, Labs = 200, Seed = 11 });
        Dictionary<string, double> daily = workload.Labs.ToDictionary(l => l.Finess, _ => 0.0);
        foreach (Submission s in workload.Http)
        {
            daily[s.Lab.Finess] += s.Results;
        }
        foreach (MllpStream m in workload.Mllp)
        {
            daily[m.Lab.Finess] += m.Messages.Count;
        }
        List<Lab> labs = [.. workload.Labs.Select(l => new Lab(l.Finess, l.Name, [l.Facility], []))];
        // Switched off at 11:00: three large labs and three of the middle; one drops to a fifth from 10:00.
        List<string> bySize = [.. daily.OrderByDescending(d => d.Value).Select(d => d.Key)];
        HashSet<string> off = [bySize[0], bySize[5], bySize[10], bySize[bySize.Count / 2], bySize[bySize.Count / 2 + 1], bySize[bySize.Count / 2 + 2]];
        string dropping = bySize[2];
        var today = new DateOnly(2026, 12, 7); // a Monday
        DateTimeOffset At(DateOnly day, double hour) => new DateTimeOffset(day.ToDateTime(TimeOnly.MinValue), TimeSpan.Zero).AddHours(hour);
        DateTimeOffset switchOff = At(today, 11), dropFrom = At(today, 10);

        using StateStore store = StateStore.Open(_dir.Path);
        var random = new Random(5);
        // Four weeks of history, hour by hour.
        var rows = new List<LabHour>();
        for (DateOnly day = today.AddDays(-28); day < today; day = day.AddDays(1))
        {
            foreach ((string lab, double volume) in daily)
            {
                for (int h = 0; h < 24; h++)
                {
                    int n = s_hours[h] == 0 ? 0 : Poisson(random, volume * DayFactor(day) * s_hours[h]);
                    if (n > 0)
                    {
                        rows.Add(new LabHour(lab, LabHour.HourOf(At(day, h)), n, n, 0, 0, 0, At(day, h + random.NextDouble())));
                    }
                }
            }
        }
        store.AddActivity(rows, []);
        // The last day's arrivals, one by one, written as the day goes.
        var arrivals = new List<(DateTimeOffset At, string Lab)>();
        foreach ((string lab, double volume) in daily)
        {
            for (int h = 0; h < 24; h++)
            {
                int n = s_hours[h] == 0 ? 0 : Poisson(random, volume * s_hours[h]);
                for (int i = 0; i < n; i++)
                {
                    DateTimeOffset at = At(today, h + random.NextDouble());
                    if (off.Contains(lab) && at >= switchOff || lab == dropping && at >= dropFrom && random.NextDouble() > 0.2)
                    {
                        continue;
                    }
                    arrivals.Add((at, lab));
                }
            }
        }
        arrivals.Sort((a, b) => a.At.CompareTo(b.At));

        var options = new LabHealthOptions();
        int written = 0;
        var flaggedSilent = new Dictionary<string, DateTimeOffset>();
        bool droppingFlagged = false;
        for (DateTimeOffset now = At(today, 7); now <= At(today, 19); now = now.AddMinutes(15))
        {
            List<LabHour> fresh = [.. arrivals.Skip(written).TakeWhile(a => a.At < now)
                .Select(a => new LabHour(a.Lab, LabHour.HourOf(a.At), 1, 1, 0, 0, 0, a.At))];
            written += fresh.Count;
            store.AddActivity(fresh, []);

            List<LabHealthRow> health = LabHealth.Evaluate(store, labs, now, options);
            Assert.Equal(labs.Count, health.Count);
            foreach (LabHealthRow row in health.Where(r => r.State is LabState.Silent or LabState.Dropping))
            {
                bool expected = off.Contains(row.Lab) && now >= switchOff || row.Lab == dropping && now >= dropFrom;
                Assert.True(expected, $"{row.Lab} ({daily[row.Lab]:0} a day) flagged {row.State} at {now:HH:mm}: {row.Reason}");
                if (row.State == LabState.Silent)
                {
                    flaggedSilent.TryAdd(row.Lab, now);
                }
                droppingFlagged |= row.Lab == dropping && row.State == LabState.Dropping;
            }
            // The documented delay: a lab is flagged silent once at least 2 hours have passed and its history expects at
            // least 12 results over the silence (15 minutes of slack: the judgement runs every 15 minutes here).
            foreach (string lab in off)
            {
                double meanSince = MeanVolume(daily[lab], switchOff, now);
                if (now - switchOff >= options.MinSilence + TimeSpan.FromMinutes(15) && meanSince >= options.SilentExpected * 1.3)
                {
                    Assert.True(flaggedSilent.ContainsKey(lab), $"{lab} ({daily[lab]:0} a day) silent since 11:00, not flagged at {now:HH:mm} ({meanSince:0.#} expected)");
                }
            }
        }
        Assert.True(droppingFlagged, "the lab sending a fifth of its volume was never flagged as dropping");
        // Every lab switched off is flagged by the end of the afternoon (the smallest send a few dozen results a day).
        Assert.Equal(off.Order(), flaggedSilent.Keys.Where(off.Contains).Order());
    }

    /// <summary>What a lab sends on average between two moments of a weekday, by the profile.</summary>
    private static double MeanVolume(double daily, DateTimeOffset from, DateTimeOffset to)
    {
        double sum = 0;
        for (DateTimeOffset t = from; t < to; t = t.AddMinutes(1))
        {
            sum += daily * s_hours[t.Hour] / 60;
        }
        return sum;
    }

    [Fact]
    public void A_lab_without_a_week_of_history_is_learning_and_never_flagged()
    {
        using StateStore store = StateStore.Open(_dir.Path);
        var now = new DateTimeOffset(2026, 12, 7, 15, 0, 0, TimeSpan.Zero);
        store.AddActivity([new LabHour("990000001", LabHour.HourOf(now.AddDays(-3)), 500, 500, 0, 0, 0, now.AddDays(-3))], []);
        List<LabHealthRow> health = LabHealth.Evaluate(store, [new Lab("990000001", "Lab", [], []), new Lab("990000002", "Never sent", [], [])], now, new LabHealthOptions());
        Assert.All(health, r => Assert.Equal(LabState.Learning, r.State));
        Assert.Equal("nothing received yet", health.Single(r => r.Lab == "990000002").Reason);
    }

    [Fact]
    public async Task The_operator_reads_each_labs_health_and_the_gateway_counts_what_it_received_rejected_and_quarantined()
    {
        const string token = "operator-token-0123456789";
        await using SidepTestServer server = await SidepTestServer.StartAsync(o => o with { OperatorToken = token });
        string key = server.Labs.AddLab("990000001", "Demo", ["SIDEP-DEMO"], []);
        using HttpClient lab = server.Client(key);
        string batch = ResultMessages.Message("M1", "A1") + ResultMessages.Message("M2", "A2")
            + ResultMessages.Message("M3", "A3").Replace("94500-6^SARS-CoV-2^LN||260415000", "SCOV^SARS-CoV-2 PCR^L||260415000")
            + ResultMessages.Message("M4", "A4", status: "Z");
        using (HttpResponseMessage sent = await lab.PostAsync("/v1/submissions", ResultMessages.Hl7(batch)))
        {
            string report = await sent.Content.ReadAsStringAsync();
            Assert.True(sent.StatusCode is HttpStatusCode.Created or HttpStatusCode.UnprocessableEntity, report);
            Assert.Contains("\"quarantined\":1", report);
            Assert.Contains("\"rejected\":1", report);
        }

        using HttpClient anonymous = server.Client(null);
        Assert.Equal(HttpStatusCode.Unauthorized, (await anonymous.GetAsync("/v1/labs/health")).StatusCode);
        using HttpClient op = server.Client(null);
        op.DefaultRequestHeaders.Add("X-Operator-Token", token);
        using JsonDocument health = JsonDocument.Parse(await op.GetStringAsync("/v1/labs/health"));
        JsonElement row = health.RootElement.GetProperty("labs").EnumerateArray().Single(l => l.GetProperty("lab").GetString() == "990000001");
        Assert.Equal("learning", row.GetProperty("state").GetString());
        Assert.Equal(2, row.GetProperty("storedToday").GetInt64());
        Assert.Equal(4, row.GetProperty("receivedLast24h").GetInt64());
        Assert.Equal(0.25, row.GetProperty("quarantinedShare24h").GetDouble());
        Assert.Equal(0.25, row.GetProperty("rejectedShare24h").GetDouble());
        Assert.Equal(1, health.RootElement.GetProperty("counts").GetProperty("learning").GetInt32());
        // The operators' view of the same submission: the rejected item under its reason, the quarantined one by code.
        using JsonDocument operations = JsonDocument.Parse(await op.GetStringAsync("/v1/pipeline/operations"));
        JsonElement rejection = Assert.Single(operations.RootElement.GetProperty("rejections").EnumerateArray());
        Assert.Equal(("990000001", 1), (rejection.GetProperty("lab").GetString(), rejection.GetProperty("count").GetInt32()));
        Assert.False(string.IsNullOrEmpty(rejection.GetProperty("reason").GetString()));
        Assert.Equal("SCOV", Assert.Single(operations.RootElement.GetProperty("quarantine").EnumerateArray()).GetProperty("localCode").GetString());
    }

    public void Dispose() => _dir.Dispose();
}
