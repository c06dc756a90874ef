using System.Diagnostics;
using System.Globalization;
using System.Net.Http.Headers;
using System.Text;
using System.Text.Json;
using Sidep.Domain;
using Sidep.Identity.Quality;

namespace Sidep.Host;

/// <summary>
/// A synthetic national workload over HTTP (a first version of issue 9's load generator): HL7 v2 ORU^R01 batches of
/// French persons (names, birth dates, a share without INS, residence in a département), a positivity rate, posted by
/// concurrent senders; reports throughput and acknowledgement latency, then — with the operator token — how long the
/// whole pipeline took to catch up.
/// </summary>
public static class LoadGen
{
    public sealed record Options(int Results, int Batch, int Concurrency, double WithoutIns, double Positivity, int Seed, string Facility, string Finess)
    {
        /// <summary>Share of results resent unchanged later (reported duplicates, no effect).</summary>
        public double Duplicates { get; init; } = 0.01;
        /// <summary>Share of results corrected later (positive ↔ negative, status C).</summary>
        public double Corrections { get; init; } = 0.01;
        /// <summary>Share of invalid messages (no result status: rejected with a reason), on top of the results.</summary>
        public double Invalid { get; init; } = 0.005;
        /// <summary>Share of results that are a person's second test, on another day or the same one.</summary>
        public double Retests { get; init; } = 0.1;
    }

    /// <summary>What one generated result finally is, for the ground truth: its person, sample day, sex, outcome.</summary>
    public record struct Truth(int Person, DateOnly Day, bool Female, bool Positive);

    /// <summary>The generated workload: the batches sent first, those sent once they are acknowledged (corrections
    /// and duplicates of earlier results), what the answers must add up to, and the truth of every result.</summary>
    public sealed record Workload(List<string> Batches, List<string> LateBatches, int Accepted, int Corrections, int Duplicates, int Rejected,
        List<Truth> Truths);

    public static Workload Generate(Options o)
    {
        var random = new Random(o.Seed);
        string[] departements = [.. Sidep.Indicators.Geography.France.Departements.Where(d => d.Length == 2 && d != "2A" && d != "2B")];
        var today = DateOnly.FromDateTime(DateTime.UtcNow);
        // Persons sharing a block (birth date + sex) never share a first given name.
        var firstNames = new HashSet<(PartialDate, Sex, string)>();
        // Nor so alike that identity vigilance would take them for one: with a few hundred names, namesakes born the
        // same day with near-identical given names are far more frequent than in life (1 person in ≈6,000 at 2M), and
        // the matcher rightly links them. Such a person is drawn again, so that the truth is countable.
        var separable = new Sidep.Identity.Matcher();
        var persons = new List<(PatientIdentity Person, bool WithIns, string Dep)>();
        var messages = new List<string>(o.Results);
        var late = new List<string>();
        var truths = new List<Truth>(o.Results);
        int invalid = 0, corrections = 0;
        string Message(int i, int person, DateOnly day, bool positive, string status, int control)
        {
            (PatientIdentity p, bool withIns, string dep) = persons[person];
            string sample = day.ToString("yyyyMMdd", CultureInfo.InvariantCulture);
            string result = positive ? "260373001^Détecté^SCT" : "260415000^Non détecté^SCT";
            string ins = withIns ? $"{p.Ins!.Matricule}^^^ASIP-SANTE-INS-NIR&1.2.250.1.213.1.4.8&ISO^INS" : $"P{person}^^^{o.Facility}^PI";
            PartialDate b = p.BirthDate!.Value;
            return $"MSH|^~\\&|LOADGEN|{o.Facility}^{o.Finess}^FINESS|SIDEP|ANS|{sample}120000+0100||ORU^R01^ORU_R01|LG{o.Seed}-{control}|P|2.5|||||FRA|UNICODE UTF-8\r" +
                $"PID|1||{ins}||{p.BirthName}^{p.GivenNames[0]}^{p.GivenNames[1]}||{b.Year:D4}{b.Month:D2}{b.Day:D2}|{(p.Sex == Sex.Female ? 'F' : 'M')}|||^^VILLE^^{dep}000^FRA^H\r" +
                $"OBR|1||LG{o.Seed}-{i}|94500-6^SARS-CoV-2 RNA^LN|||{sample}080000+0100\r" +
                $"OBX|1|CWE|94500-6^SARS-CoV-2 RNA^LN||{result}||||||{status}|||{sample}080000+0100\r";
        }
        int control = o.Results;
        for (int i = 0; i < o.Results; i++)
        {
            int person;
            if (persons.Count > 0 && random.NextDouble() < o.Retests)
            {
                person = random.Next(persons.Count);
            }
            else
            {
                PatientIdentity p = SyntheticIdentities.RandomPerson(random);
                for (int tries = 0; tries < 100 && (!firstNames.Add((p.BirthDate!.Value, p.Sex, p.GivenNames[0])) || separable.Find(p with { Ins = null }) is not null); tries++)
                {
                    p = SyntheticIdentities.RandomPerson(random);
                }
                separable.Match(p with { Ins = null });
                persons.Add((p, random.NextDouble() >= o.WithoutIns, departements[random.Next(departements.Length)]));
                person = persons.Count - 1;
            }
            PatientIdentity who = persons[person].Person;
            DateOnly day = today.AddDays(-random.Next(7));
            bool positive = random.NextDouble() < o.Positivity;
            string message = Message(i, person, day, positive, "F", i);
            messages.Add(message);
            truths.Add(new Truth(person, day, who.Sex == Sex.Female, positive));
            double late1 = random.NextDouble();
            if (late1 < o.Corrections)
            {
                // Corrected later: the other outcome, status C, a new control id.
                late.Add(Message(i, person, day, !positive, "C", control++));
                truths[^1] = truths[^1] with { Positive = !positive };
                corrections++;
            }
            else if (late1 < o.Corrections + o.Duplicates)
            {
                late.Add(message); // sent again, unchanged
            }
            if (random.NextDouble() < o.Invalid)
            {
                // No result status (OBX-11): rejected with its reason, the rest of the batch accepted.
                messages.Add(Message(o.Results * 2 + invalid, person, day, positive, "", control++));
                invalid++;
            }
        }
        return new Workload(Chunk(messages, o.Batch), Chunk(late, o.Batch), o.Results, corrections, late.Count - corrections, invalid, truths);
    }

    private static List<string> Chunk(List<string> messages, int size) =>
        [.. messages.Chunk(size).Select(chunk => string.Concat(chunk))];

    /// <summary>SPF's daily national counts (all ages) from the truth, the plain way: for each person, each day they
    /// were tested counts in T unless a positive test fell in the 60 days before, and in P if one of that day's tests
    /// is positive too.</summary>
    public static SortedDictionary<DateOnly, (int Pf, int Ph, int Tf, int Th)> Expected(IEnumerable<Truth> truths)
    {
        var expected = new SortedDictionary<DateOnly, (int Pf, int Ph, int Tf, int Th)>();
        foreach (IGrouping<int, Truth> person in truths.GroupBy(t => t.Person))
        {
            var positiveDays = person.Where(t => t.Positive).Select(t => t.Day).ToHashSet();
            foreach (IGrouping<DateOnly, Truth> day in person.GroupBy(t => t.Day))
            {
                if (positiveDays.Any(d => d < day.Key && d.DayNumber >= day.Key.DayNumber - 60))
                {
                    continue;
                }
                bool female = day.First().Female, positive = positiveDays.Contains(day.Key);
                expected.TryGetValue(day.Key, out var c);
                expected[day.Key] = female
                    ? (c.Pf + (positive ? 1 : 0), c.Ph, c.Tf + 1, c.Th)
                    : (c.Pf, c.Ph + (positive ? 1 : 0), c.Tf, c.Th + 1);
            }
        }
        return expected;
    }

    public static async Task<int> RunAsync(Options o, Uri server, string apiKey, string? operatorToken, TextWriter output, CancellationToken ct)
    {
        using var http = new HttpClient { BaseAddress = server, Timeout = TimeSpan.FromMinutes(5) };
        http.DefaultRequestHeaders.Authorization = new AuthenticationHeaderValue("Bearer", apiKey);
        var generating = Stopwatch.StartNew();
        Workload work = Generate(o);
        output.WriteLine($"generated {work.Accepted:N0} results ({work.Truths.Select(t => t.Person).Distinct().Count():N0} persons), " +
            $"{work.Corrections:N0} later corrections, {work.Duplicates:N0} later duplicates, {work.Rejected:N0} invalid messages in {generating.Elapsed.TotalSeconds:F1} s");
        var latencies = new List<double>(work.Batches.Count + work.LateBatches.Count);
        long accepted = 0, corrections = 0, rejected = 0, duplicates = 0, pending = 0, failures = 0, busy = 0;
        var clock = Stopwatch.StartNew();
        async Task Send(List<string> batches)
        {
            int next = -1;
            async Task Sender()
            {
                int i;
                while ((i = Interlocked.Increment(ref next)) < batches.Count)
                {
                    while (true)
                    {
                        var body = new ByteArrayContent(Encoding.UTF8.GetBytes(batches[i])) { Headers = { ContentType = new MediaTypeHeaderValue("application/hl7-v2") } };
                        var started = Stopwatch.GetTimestamp();
                        using HttpResponseMessage response = await http.PostAsync("/v1/submissions", body, ct);
                        double ms = Stopwatch.GetElapsedTime(started).TotalMilliseconds;
                        string text = await response.Content.ReadAsStringAsync(ct);
                        if ((int)response.StatusCode is 503 or 429)
                        {
                            // Backpressure: the stages are behind. Wait as told, then send the same batch again.
                            Interlocked.Increment(ref busy);
                            TimeSpan wait = response.Headers.RetryAfter?.Delta ?? TimeSpan.FromSeconds(1);
                            await Task.Delay(wait, ct);
                            continue;
                        }
                        lock (latencies)
                        {
                            latencies.Add(ms);
                        }
                        if (!response.IsSuccessStatusCode && (int)response.StatusCode != 422)
                        {
                            Interlocked.Increment(ref failures);
                            break;
                        }
                        JsonElement counts = JsonDocument.Parse(text).RootElement.GetProperty("counts");
                        Interlocked.Add(ref accepted, counts.GetProperty("accepted").GetInt32());
                        Interlocked.Add(ref corrections, counts.GetProperty("correction").GetInt32());
                        Interlocked.Add(ref rejected, counts.GetProperty("rejected").GetInt32());
                        Interlocked.Add(ref duplicates, counts.GetProperty("duplicate").GetInt32());
                        if (counts.TryGetProperty("quarantined", out JsonElement p))
                        {
                            Interlocked.Add(ref pending, p.GetInt32());
                        }
                        break;
                    }
                }
            }
            await Task.WhenAll(Enumerable.Range(0, o.Concurrency).Select(_ => Sender()));
        }
        using var progress = new Timer(_ => output.WriteLine($"  … {Interlocked.Read(ref accepted) + Interlocked.Read(ref rejected):N0} acknowledged, {clock.Elapsed.TotalSeconds:F0} s"),
            null, TimeSpan.FromSeconds(10), TimeSpan.FromSeconds(10));
        await Send(work.Batches);
        // Corrections and duplicates come once their originals are acknowledged, as late results do.
        await Send(work.LateBatches);
        await progress.DisposeAsync();
        double submitted = clock.Elapsed.TotalSeconds;
        latencies.Sort();
        double P(double q) => latencies.Count == 0 ? 0 : latencies[Math.Min(latencies.Count - 1, (int)(q * latencies.Count))];
        int total = work.Accepted + work.Corrections + work.Duplicates + work.Rejected;
        output.WriteLine($"submitted {total:N0} results in {work.Batches.Count + work.LateBatches.Count:N0} batches of up to {o.Batch} from {o.Concurrency} senders in {submitted:F1} s: " +
            $"{total / submitted:N0} results/s acknowledged durable");
        output.WriteLine($"  acknowledgement latency per batch: p50 {P(0.5):F0} ms, p99 {P(0.99):F0} ms, p99.9 {P(0.999):F0} ms; {busy:N0} answers 503/429 (backpressure), retried");
        bool accounted = accepted == work.Accepted && corrections == work.Corrections && duplicates == work.Duplicates && rejected == work.Rejected && pending == 0 && failures == 0;
        output.WriteLine($"  accounted for: accepted {accepted:N0} (expected {work.Accepted:N0}), corrections {corrections:N0} ({work.Corrections:N0}), " +
            $"duplicates {duplicates:N0} ({work.Duplicates:N0}), rejected with a reason {rejected:N0} ({work.Rejected:N0}), pending mapping {pending:N0}, failed requests {failures:N0}: " +
            (accounted ? "every result accounted for" : "MISMATCH"));
        if (operatorToken is null)
        {
            return accounted ? 0 : 1;
        }
        http.DefaultRequestHeaders.Add("X-Operator-Token", operatorToken);
        while (!ct.IsCancellationRequested)
        {
            using JsonDocument pipeline = JsonDocument.Parse(await http.GetStringAsync("/v1/pipeline", ct));
            if (pipeline.RootElement.GetProperty("caughtUp").GetBoolean())
            {
                break;
            }
            await Task.Delay(100, ct);
        }
        double caughtUp = clock.Elapsed.TotalSeconds;
        output.WriteLine($"pipeline caught up (store, identity, indicators, cases, research) {caughtUp:F1} s after the first submission: {total / caughtUp:N0} results/s end to end");
        bool equal = await CheckIndicatorsAsync(http, work, output, ct);
        return accounted && equal ? 0 : 1;
    }

    /// <summary>The national daily table the server publishes against the one the truth gives.</summary>
    private static async Task<bool> CheckIndicatorsAsync(HttpClient http, Workload work, TextWriter output, CancellationToken ct)
    {
        SortedDictionary<DateOnly, (int Pf, int Ph, int Tf, int Th)> expected = Expected(work.Truths);
        DateOnly from = expected.Keys.First(), to = expected.Keys.Last();
        string csv = await http.GetStringAsync($"/v1/indicators/fra/daily.csv?from={from:yyyy-MM-dd}&to={to:yyyy-MM-dd}", ct);
        int rows = 0, equal = 0;
        foreach (string line in csv.Split('\n', StringSplitOptions.RemoveEmptyEntries).Skip(1))
        {
            // fra;jour;P_f;P_h;P;T_f;T_h;T;cl_age90;pop
            string[] f = line.Split(';');
            if (f[8] != "0")
            {
                continue;
            }
            rows++;
            var day = DateOnly.ParseExact(f[1], "yyyy-MM-dd", CultureInfo.InvariantCulture);
            expected.TryGetValue(day, out var e);
            int[] got = [.. new[] { f[2], f[3], f[4], f[5], f[6], f[7] }.Select(x => int.Parse(x, CultureInfo.InvariantCulture))];
            if (got.SequenceEqual([e.Pf, e.Ph, e.Pf + e.Ph, e.Tf, e.Th, e.Tf + e.Th]))
            {
                equal++;
            }
            else
            {
                output.WriteLine($"  {day:yyyy-MM-dd}: published P_f {got[0]} P_h {got[1]} T_f {got[3]} T_h {got[4]}; truth P_f {e.Pf} P_h {e.Ph} T_f {e.Tf} T_h {e.Th}");
            }
        }
        bool ok = rows == expected.Count && equal == rows;
        output.WriteLine($"indicators: {equal} of {expected.Count} national daily rows (P_f, P_h, P, T_f, T_h, T) equal to the ground truth" + (ok ? "" : " — MISMATCH"));
        return ok;
    }
}
