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
    public sealed record Options(int Results, int Batch, int Concurrency, double WithoutIns, double Positivity, int Seed, string Facility, string Finess);

    public static IEnumerable<string> Batches(Options o)
    {
        var random = new Random(o.Seed);
        string[] departements = [.. Sidep.Indicators.Geography.France.Departements.Where(d => d.Length == 2 && d != "2A" && d != "2B")];
        var day = DateOnly.FromDateTime(DateTime.UtcNow);
        var batch = new StringBuilder();
        for (int i = 0; i < o.Results; i++)
        {
            PatientIdentity p = SyntheticIdentities.RandomPerson(random);
            bool withIns = random.NextDouble() >= o.WithoutIns;
            string dep = departements[random.Next(departements.Length)];
            string sample = day.AddDays(-random.Next(7)).ToString("yyyyMMdd", CultureInfo.InvariantCulture);
            string result = random.NextDouble() < o.Positivity ? "260373001^Détecté^SCT" : "260415000^Non détecté^SCT";
            string ins = withIns ? $"{p.Ins!.Matricule}^^^ASIP-SANTE-INS-NIR&1.2.250.1.213.1.4.8&ISO^INS" : $"{i}^^^{o.Facility}^PI";
            PartialDate b = p.BirthDate!.Value;
            batch.Append(CultureInfo.InvariantCulture, $"MSH|^~\\&|LOADGEN|{o.Facility}^{o.Finess}^FINESS|SIDEP|ANS|{sample}120000+0100||ORU^R01^ORU_R01|LG{o.Seed}-{i}|P|2.5|||||FRA|UNICODE UTF-8\r")
                .Append(CultureInfo.InvariantCulture, $"PID|1||{ins}||{p.BirthName}^{p.GivenNames[0]}^{p.GivenNames[1]}||{b.Year:D4}{b.Month:D2}{b.Day:D2}|{(p.Sex == Sex.Female ? 'F' : 'M')}|||^^VILLE^^{dep}000^FRA^H\r")
                .Append(CultureInfo.InvariantCulture, $"OBR|1||LG{o.Seed}-{i}|94500-6^SARS-CoV-2 RNA^LN|||{sample}080000+0100\r")
                .Append(CultureInfo.InvariantCulture, $"OBX|1|CWE|94500-6^SARS-CoV-2 RNA^LN||{result}||||||F|||{sample}080000+0100\r");
            if ((i + 1) % o.Batch == 0 || i == o.Results - 1)
            {
                yield return batch.ToString();
                batch.Clear();
            }
        }
    }

    public static async Task<int> RunAsync(Options o, Uri server, string apiKey, string? operatorToken, TextWriter output, CancellationToken ct)
    {
        using var http = new HttpClient { BaseAddress = server, Timeout = TimeSpan.FromMinutes(5) };
        http.DefaultRequestHeaders.Authorization = new AuthenticationHeaderValue("Bearer", apiKey);
        List<string> batches = [.. Batches(o)];
        var latencies = new List<double>(batches.Count);
        long accepted = 0, rejected = 0, duplicates = 0, failures = 0;
        int next = -1;
        var clock = Stopwatch.StartNew();
        async Task Sender()
        {
            int i;
            while ((i = Interlocked.Increment(ref next)) < batches.Count)
            {
                var body = new ByteArrayContent(Encoding.UTF8.GetBytes(batches[i])) { Headers = { ContentType = new MediaTypeHeaderValue("application/hl7-v2") } };
                var started = Stopwatch.GetTimestamp();
                using HttpResponseMessage response = await http.PostAsync("/v1/submissions", body, ct);
                double ms = Stopwatch.GetElapsedTime(started).TotalMilliseconds;
                string text = await response.Content.ReadAsStringAsync(ct);
                lock (latencies)
                {
                    latencies.Add(ms);
                }
                if (!response.IsSuccessStatusCode && (int)response.StatusCode != 422)
                {
                    Interlocked.Increment(ref failures);
                    continue;
                }
                JsonElement counts = JsonDocument.Parse(text).RootElement.GetProperty("counts");
                Interlocked.Add(ref accepted, counts.GetProperty("accepted").GetInt32() + counts.GetProperty("correction").GetInt32());
                Interlocked.Add(ref rejected, counts.GetProperty("rejected").GetInt32());
                Interlocked.Add(ref duplicates, counts.GetProperty("duplicate").GetInt32());
            }
        }
        await Task.WhenAll(Enumerable.Range(0, o.Concurrency).Select(_ => Sender()));
        double submitted = clock.Elapsed.TotalSeconds;
        latencies.Sort();
        double P(double q) => latencies.Count == 0 ? 0 : latencies[Math.Min(latencies.Count - 1, (int)(q * latencies.Count))];
        output.WriteLine($"submitted {o.Results:N0} results in {batches.Count:N0} batches of {o.Batch} from {o.Concurrency} senders in {submitted:F1} s: " +
            $"{o.Results / submitted:N0} results/s acknowledged durable");
        output.WriteLine($"  accepted {accepted:N0}, rejected {rejected:N0}, duplicates {duplicates:N0}, failed requests {failures:N0}");
        output.WriteLine($"  acknowledgement latency per batch: p50 {P(0.5):F0} ms, p99 {P(0.99):F0} ms, p99.9 {P(0.999):F0} ms");
        if (operatorToken is null)
        {
            return failures == 0 ? 0 : 1;
        }
        http.DefaultRequestHeaders.Add("X-Operator-Token", operatorToken);
        while (!ct.IsCancellationRequested)
        {
            using JsonDocument pipeline = JsonDocument.Parse(await http.GetStringAsync("/v1/pipeline", ct));
            if (pipeline.RootElement.GetProperty("caughtUp").GetBoolean())
            {
                break;
            }
            await Task.Delay(200, ct);
        }
        double total = clock.Elapsed.TotalSeconds;
        output.WriteLine($"pipeline caught up (store, identity, indicators, cases, research) {total:F1} s after the first submission: {o.Results / total:N0} results/s end to end");
        return failures == 0 ? 0 : 1;
    }
}
