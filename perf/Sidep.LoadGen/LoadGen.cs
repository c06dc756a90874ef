using System.Diagnostics;
using System.Globalization;
using System.Net;
using System.Net.Http.Headers;
using System.Net.Http.Json;
using System.Text;
using System.Text.Json;
using Sidep.Domain;
using Sidep.Gateway;
using Sidep.Identity.Quality;

namespace Sidep.LoadGen;

/// <summary>How <c>sidep loadgen</c> drives a running Sidep.</summary>
public sealed record DriveOptions(Uri Server, string OperatorToken)
{
    /// <summary>More gateways of the same deployment (the distributed mode behind a load balancer), with their MLLP
    /// ports: each lab sends to one gateway (labs spread over all of them), its later duplicates through the next, and a
    /// sender whose gateway does not answer goes on through the next, as a load balancer would send it.</summary>
    public IReadOnlyList<(Uri Http, int MllpPort)> OtherGateways { get; init; } = [];
    /// <summary>Concurrent HTTP senders.</summary>
    public int Concurrency { get; init; } = 4;
    /// <summary>Concurrent MLLP connections (one lab each at a time).</summary>
    public int MllpConnections { get; init; } = 8;
    /// <summary>The server's MLLP port (the host is the HTTP server's).</summary>
    public int MllpPort { get; init; } = 2575;
    /// <summary>The agents' token signing key of the server: with it, probes measure how long a positive takes from its
    /// acknowledgement to the cases API and to the indicators, while the load runs.</summary>
    public string? AgentKey { get; init; }
    public TimeSpan ProbeInterval { get; init; } = TimeSpan.FromSeconds(2);
    public TimeSpan ProgressInterval { get; init; } = TimeSpan.FromSeconds(10);
    /// <summary>When set: only MLLP, every lab on its own connection, messages sent on a fixed schedule at this total rate
    /// a second (the single-message latency measurement).</summary>
    public double? MllpRate { get; init; }
}

/// <summary>
/// <c>sidep loadgen</c> (issue 9): registers the workload's labs (and their transcoding tables) with the operator token,
/// sends the workload — HTTP batches from concurrent senders, MLLP messages from the MLLP labs' own connections, then
/// the late corrections and duplicates — and reports throughput, acknowledgement latency, end-to-end latency (probes),
/// the pipeline's catch-up, whether every result is accounted for, and whether the published daily tables (national
/// and départements, by age class and sex) equal the ones the generator's truth implies.
/// </summary>
public static class LoadGenerator
{
    /// <summary>The lab the probes come from: HL7 v2 over HTTP, LOINC, in Paris.</summary>
    private static readonly SyntheticLab ProbeLab = new(-1, "999999999", "SONDE DE BOUT EN BOUT", "PROBE", "75", LabFormat.Hl7v2, Mllp: false, LocalCode: null,
        "94500-6", "SARS-CoV-2 RNA", MllpSource: "");

    private sealed class Tally
    {
        public long Accepted, Corrections, Duplicates, Rejected, Pending, Failures, Busy, MllpAccepted, MllpRejected, MllpRefused, MllpRetried;

        /// <summary>Submissions sent again through another gateway after theirs did not answer, and the results of those
        /// found already stored (their first answer was lost with the gateway): acknowledged, as new or corrections.</summary>
        public long FailedOver, Recovered;
        public readonly List<double> HttpLatencies = [];
        public readonly List<double> MllpLatencies = [];

        public long Acknowledged => Interlocked.Read(ref Accepted) + Interlocked.Read(ref Corrections) + Interlocked.Read(ref Duplicates) +
            Interlocked.Read(ref Rejected) + Interlocked.Read(ref Pending) + Interlocked.Read(ref MllpAccepted) + Interlocked.Read(ref MllpRejected);
    }

    public static async Task<int> RunAsync(WorkloadOptions o, DriveOptions drive, TextWriter output, CancellationToken ct)
    {
        Workload work = Generated(o, output);
        List<(Uri Http, int MllpPort)> gateways = [(drive.Server, drive.MllpPort), .. drive.OtherGateways];
        List<HttpClient> clients = [.. gateways.Select(g =>
        {
            var client = new HttpClient(new SocketsHttpHandler { MaxConnectionsPerServer = drive.Concurrency + 4 }) { BaseAddress = g.Http, Timeout = TimeSpan.FromMinutes(5) };
            client.DefaultRequestHeaders.Accept.Add(new MediaTypeWithQualityHeaderValue("application/json"));
            return client;
        })];
        using HttpClient http = clients[0];
        // The operator's requests (labs, pipeline, indicators) on a client of their own.
        using var operatorHttp = new HttpClient { BaseAddress = drive.Server, Timeout = TimeSpan.FromMinutes(5) };
        operatorHttp.DefaultRequestHeaders.Add("X-Operator-Token", drive.OperatorToken);
        var registering = Stopwatch.StartNew();
        Dictionary<string, string> keys = await RegisterAsync(operatorHttp, http, work, ct);
        output.WriteLine($"registered {keys.Count:N0} labs and {work.Labs.Count(l => l.LocalCode is not null):N0} transcoding tables in {registering.Elapsed.TotalSeconds:F1} s" +
            (gateways.Count > 1 ? $" through the first of {gateways.Count} gateways" : ""));
        if (gateways.Count > 1)
        {
            // The other gateways take the transcoding tables from the shared register every 2 s: a result sent before
            // would be held in quarantine (and replayed moments later), which the accounting below would count as pending.
            await Task.Delay(TimeSpan.FromSeconds(3), ct);
        }

        var tally = new Tally();
        var clock = Stopwatch.StartNew();
        long lastCount = 0;
        double lastTime = 0;
        int total = work.Expected.Total;
        using var progress = new Timer(_ =>
        {
            long now = tally.Acknowledged;
            double t = clock.Elapsed.TotalSeconds;
            output.WriteLine($"  {t,5:F0} s: {now:N0} of {total:N0} results acknowledged ({(now - lastCount) / Math.Max(0.001, t - lastTime):N0}/s lately), " +
                $"{Interlocked.Read(ref tally.Busy) + Interlocked.Read(ref tally.MllpRetried):N0} waits for backpressure");
            (lastCount, lastTime) = (now, t);
        }, null, drive.ProgressInterval, drive.ProgressInterval);

        using var probing = new CancellationTokenSource();
        Task<Probes> probes = drive.AgentKey is { Length: > 0 } agentKey
            ? ProbeAsync(http, operatorHttp, keys[ProbeLab.Finess], agentKey, drive, work.Today, probing.Token, ct)
            : Task.FromResult(new Probes([], [], []));
        var mllpServers = new List<IPEndPoint>();
        foreach ((Uri gatewayHttp, int mllpPort) in gateways)
        {
            mllpServers.Add(new IPEndPoint((await Dns.GetHostAddressesAsync(gatewayHttp.Host, ct)).First(a => a.AddressFamily == System.Net.Sockets.AddressFamily.InterNetwork), mllpPort));
        }
        List<double>? fromSchedule = null;
        if (drive.MllpRate is double rate)
        {
            fromSchedule = await PacedMllpAsync(mllpServers[0], work.Mllp, rate, tally, ct);
        }
        else
        {
            await SendAsync(clients, mllpServers, keys, work.Http, work.Mllp, tally, drive, shift: 0, ct);
            // Corrections and duplicates come once their originals are acknowledged, as late results do (with several
            // gateways, through the next one: a lab resending after a lost acknowledgement may reach any).
            await SendAsync(clients, mllpServers, keys, work.LateHttp, work.LateMllp, tally, drive, shift: 1, ct);
        }
        foreach (HttpClient other in clients.Skip(1))
        {
            other.Dispose();
        }
        double submitted = clock.Elapsed.TotalSeconds;
        await progress.DisposeAsync();
        int batches = work.Http.Count + work.LateHttp.Count;
        int messages = work.Mllp.Sum(m => m.Messages.Count) + work.LateMllp.Sum(m => m.Messages.Count);
        output.WriteLine($"submitted {total:N0} results ({batches:N0} HTTP submissions from {drive.Concurrency} senders, {messages:N0} MLLP messages on up to {drive.MllpConnections} connections) " +
            $"in {submitted:F1} s: {total / submitted:N0} results/s acknowledged durable");
        output.WriteLine($"  acknowledgement latency: HTTP per submission {Percentiles(tally.HttpLatencies)}; MLLP per message {Percentiles(tally.MllpLatencies)}; " +
            $"{tally.Busy:N0} HTTP answers 503/429 and {tally.MllpRetried:N0} MLLP refusals (backpressure), waited for and sent again");
        if (fromSchedule is not null)
        {
            output.WriteLine($"  MLLP at a fixed rate: {messages:N0} messages at {drive.MllpRate:N0}/s asked ({messages / submitted:N0}/s achieved) on {work.Mllp.Count} connections, one lab each; " +
                $"ACK latency from the scheduled send (waits for the previous ACK included) {Percentiles(fromSchedule)}");
        }
        ExpectedAnswers e = work.Expected;
        // A result found stored when its submission was sent again after its gateway failed was acknowledged as new or as
        // a correction the first time: the two add up together.
        bool accounted = (tally.Recovered == 0 ? tally.Accepted == e.Accepted && tally.Corrections == e.Corrections
                : tally.Accepted + tally.Corrections + tally.Recovered == e.Accepted + e.Corrections)
            && tally.Duplicates == e.Duplicates && tally.Rejected == e.Rejected
            && tally.MllpAccepted == e.MllpAccepted && tally.MllpRejected == e.MllpRejected && tally.Pending == 0 && tally.Failures == 0 && tally.MllpRefused == 0;
        if (tally.FailedOver > 0)
        {
            output.WriteLine($"  {tally.FailedOver:N0} HTTP submissions sent again through another gateway after theirs did not answer; {tally.Recovered:N0} of their results found stored already (their answer was lost)");
        }
        output.WriteLine($"  accounted for: HTTP accepted {tally.Accepted:N0} (expected {e.Accepted:N0}), corrections {tally.Corrections:N0} ({e.Corrections:N0}), " +
            $"duplicates {tally.Duplicates:N0} ({e.Duplicates:N0}), rejected with a reason {tally.Rejected:N0} ({e.Rejected:N0}), pending mapping {tally.Pending:N0}, " +
            $"failed requests {tally.Failures:N0}; MLLP AA {tally.MllpAccepted:N0} ({e.MllpAccepted:N0}), AE with a reason {tally.MllpRejected:N0} ({e.MllpRejected:N0}), " +
            $"refused {tally.MllpRefused:N0}: " + (accounted ? "every result accounted for" : "MISMATCH"));

        // The probes stop with the load (the last one stored is in the truth), then the pipeline must catch up with all.
        await probing.CancelAsync();
        while (!ct.IsCancellationRequested)
        {
            using JsonDocument pipeline = JsonDocument.Parse(await operatorHttp.GetStringAsync("/v1/pipeline", ct));
            if (pipeline.RootElement.GetProperty("caughtUp").GetBoolean())
            {
                break;
            }
            await Task.Delay(100, ct);
        }
        double caughtUp = clock.Elapsed.TotalSeconds;
        Probes probed = await probes;
        output.WriteLine($"pipeline caught up (identity, indicators, cases, research) {caughtUp:F1} s after the first submission: {total / caughtUp:N0} results/s end to end");
        if (probed.Cases.Count > 0)
        {
            output.WriteLine($"  end to end, acknowledgement → visible ({probed.Cases.Count} probes, one positive every {drive.ProbeInterval.TotalSeconds:F0} s during the load): " +
                $"cases API {Percentiles(probed.Cases)}; indicators {Percentiles(probed.Indicators)}");
        }
        bool equal = await CheckIndicatorsAsync(operatorHttp, work.Truths.Concat(probed.Truths), output, ct);
        return accounted && equal ? 0 : 1;
    }

    /// <summary>Writes the workload as files instead of sending it.</summary>
    public static int Write(WorkloadOptions o, string directory, TextWriter output)
    {
        Workload work = Generated(o, output);
        work.WriteTo(directory);
        output.WriteLine($"written to {directory}: labs.csv, one directory of submissions per lab (1-*: first, 2-late-*: corrections and duplicates), truth.csv, expected-fra-daily.csv");
        return 0;
    }

    private static Workload Generated(WorkloadOptions o, TextWriter output)
    {
        var generating = Stopwatch.StartNew();
        Workload work = Workload.Generate(o);
        ExpectedAnswers e = work.Expected;
        string formats = string.Join(", ", work.Labs.GroupBy(l => (l.Format, l.Mllp)).OrderBy(g => g.Key.Format).ThenBy(g => g.Key.Mllp)
            .Select(g => $"{g.Count():N0} {g.Key.Format}{(g.Key.Mllp ? " over MLLP" : "")}"));
        output.WriteLine($"generated {o.Results:N0} results of {work.Persons:N0} persons, {work.Corrections:N0} later corrections, {work.Duplicates:N0} later duplicates, " +
            $"{e.Rejected + e.MllpRejected:N0} invalid items, " +
            $"{work.Truths.Count(t => t.Day < work.Today.AddDays(-7)):N0} late results; {work.Labs.Count:N0} labs ({formats}) in {generating.Elapsed.TotalSeconds:F1} s");
        return work;
    }

    /// <summary>Registers the labs (and the probe lab) in one request, then each lab with local codes sends its table.</summary>
    private static async Task<Dictionary<string, string>> RegisterAsync(HttpClient operatorHttp, HttpClient http, Workload work, CancellationToken ct)
    {
        var labs = work.Labs.Select(l => new LabsApi.LabRequest(l.Finess, l.Name, [l.Facility], l.Mllp ? [l.MllpSource] : [], []))
            .Append(new LabsApi.LabRequest(ProbeLab.Finess, ProbeLab.Name, [ProbeLab.Facility], [], []));
        using HttpResponseMessage response = await operatorHttp.PostAsync("/v1/labs", JsonContent.Create(labs), ct);
        string text = await response.Content.ReadAsStringAsync(ct);
        if (!response.IsSuccessStatusCode)
        {
            throw new InvalidOperationException($"registering the labs failed: {(int)response.StatusCode} {text}");
        }
        var keys = new Dictionary<string, string>(StringComparer.Ordinal);
        foreach (JsonElement lab in JsonDocument.Parse(text).RootElement.EnumerateArray())
        {
            keys[lab.GetProperty("finess").GetString()!] = lab.GetProperty("apiKey").GetString()!;
        }
        await Parallel.ForEachAsync(work.Labs.Where(l => l.LocalCode is not null), new ParallelOptions { MaxDegreeOfParallelism = 4, CancellationToken = ct }, async (lab, token) =>
        {
            using var put = new HttpRequestMessage(HttpMethod.Put, $"/v1/labs/{lab.Finess}/transcoding")
            {
                Content = new StringContent($"{lab.LocalCode};{lab.Loinc};{lab.Label}\n", Encoding.UTF8, "text/csv"),
            };
            put.Headers.Authorization = new AuthenticationHeaderValue("Bearer", keys[lab.Finess]);
            using HttpResponseMessage answer = await http.SendAsync(put, token);
            if (!answer.IsSuccessStatusCode)
            {
                throw new InvalidOperationException($"lab {lab.Finess}'s transcoding table was refused: {(int)answer.StatusCode} {await answer.Content.ReadAsStringAsync(token)}");
            }
        });
        return keys;
    }

    /// <param name="shift">Which gateway a lab's traffic goes to: the lab's own (its index among the gateways) shifted by
    /// this many.</param>
    private static async Task SendAsync(List<HttpClient> gateways, List<IPEndPoint> mllpServers, Dictionary<string, string> keys, List<Submission> submissions,
        List<MllpStream> streams, Tally tally, DriveOptions drive, int shift, CancellationToken ct)
    {
        int nextSubmission = -1, nextStream = -1;
        int GatewayOf(SyntheticLab lab) => (Math.Abs(lab.Index) + shift) % gateways.Count;
        async Task HttpSender()
        {
            int i;
            while ((i = Interlocked.Increment(ref nextSubmission)) < submissions.Count)
            {
                Submission s = submissions[i];
                HttpStatusCode status = default;
                string text = "";
                double ms = 0;
                bool failedOver = false;
                for (int attempt = 0; ; attempt++)
                {
                    try
                    {
                        (status, text, ms) = await PostAsync(gateways[(GatewayOf(s.Lab) + attempt) % gateways.Count], keys[s.Lab.Finess], s.Lab.MediaType, s.Body,
                            () => Interlocked.Increment(ref tally.Busy), ct);
                        break;
                    }
                    catch (HttpRequestException) when (attempt < 3 * gateways.Count && gateways.Count > 1)
                    {
                        // The gateway went away mid-request: the same submission through the next one.
                        failedOver = true;
                    }
                }
                lock (tally.HttpLatencies)
                {
                    tally.HttpLatencies.Add(ms);
                }
                if ((int)status is not (>= 200 and < 300 or 422))
                {
                    Interlocked.Increment(ref tally.Failures);
                    continue;
                }
                JsonElement counts = JsonDocument.Parse(text).RootElement.GetProperty("counts");
                Interlocked.Add(ref tally.Accepted, counts.GetProperty("accepted").GetInt32());
                Interlocked.Add(ref tally.Corrections, counts.GetProperty("correction").GetInt32());
                Interlocked.Add(ref tally.Rejected, counts.GetProperty("rejected").GetInt32());
                if (failedOver && shift == 0)
                {
                    // First sendings hold no duplicates: any here is this submission's own first sending, stored before its
                    // gateway went away.
                    Interlocked.Increment(ref tally.FailedOver);
                    Interlocked.Add(ref tally.Recovered, counts.GetProperty("duplicate").GetInt32());
                }
                else
                {
                    Interlocked.Add(ref tally.Duplicates, counts.GetProperty("duplicate").GetInt32());
                }
                if (counts.TryGetProperty("quarantined", out JsonElement pending))
                {
                    Interlocked.Add(ref tally.Pending, pending.GetInt32());
                }
            }
        }
        async Task MllpLab()
        {
            int i;
            while ((i = Interlocked.Increment(ref nextStream)) < streams.Count)
            {
                MllpStream stream = streams[i];
                MllpSender? connection = null;
                int gateway = GatewayOf(stream.Lab);
                try
                {
                    foreach (byte[] message in stream.Messages)
                    {
                        for (int attempt = 0; ; attempt++)
                        {
                            try
                            {
                                connection ??= await MllpSender.ConnectAsync(mllpServers[gateway], stream.Lab.MllpSource, ct);
                            }
                            catch (System.Net.Sockets.SocketException) when (mllpServers.Count > 1 && attempt < 20)
                            {
                                // Its gateway is gone: the lab's connection goes to the next one.
                                gateway = (gateway + 1) % mllpServers.Count;
                                Interlocked.Increment(ref tally.MllpRetried);
                                continue;
                            }
                            long started = Stopwatch.GetTimestamp();
                            string? code;
                            try
                            {
                                code = await connection.SendAsync(message, ct);
                            }
                            catch (IOException)
                            {
                                code = null; // reset by the gateway (it went away): as closed
                            }
                            double ms = Stopwatch.GetElapsedTime(started).TotalMilliseconds;
                            if (code is "AA" or "AE")
                            {
                                lock (tally.MllpLatencies)
                                {
                                    tally.MllpLatencies.Add(ms);
                                }
                                Interlocked.Increment(ref code == "AA" ? ref tally.MllpAccepted : ref tally.MllpRejected);
                                break;
                            }
                            // AR (not stored: send it again) or the connection closed: as lab software does, wait and resend.
                            if (code is null)
                            {
                                await connection.DisposeAsync();
                                connection = null;
                                gateway = (gateway + 1) % mllpServers.Count;
                            }
                            if (attempt == 20)
                            {
                                Interlocked.Increment(ref tally.MllpRefused);
                                break;
                            }
                            Interlocked.Increment(ref tally.MllpRetried);
                            await Task.Delay(TimeSpan.FromSeconds(1), ct);
                        }
                    }
                }
                finally
                {
                    if (connection is not null)
                    {
                        await connection.DisposeAsync();
                    }
                }
            }
        }
        await Task.WhenAll(Enumerable.Range(0, drive.Concurrency).Select(_ => HttpSender())
            .Concat(Enumerable.Range(0, streams.Count == 0 ? 0 : drive.MllpConnections).Select(_ => MllpLab())));
    }

    /// <summary>Open loop: each lab's connection sends its messages on a fixed schedule (the connections staggered, the
    /// total at <paramref name="rate"/> a second), one ACK awaited at a time as lab software does; returns each message's
    /// latency from its scheduled time (a late ACK delays the next send, and that delay counts: no coordinated omission),
    /// and records the latency from the actual send in the tally.</summary>
    private static async Task<List<double>> PacedMllpAsync(IPEndPoint server, List<MllpStream> streams, double rate, Tally tally, CancellationToken ct)
    {
        var fromSchedule = new List<double>();
        // The k-th message of the whole run is due k / rate seconds after the start; which lab sends it is drawn at random
        // (labs send when their results are ready, not in turn).
        var owners = streams.SelectMany((s, i) => Enumerable.Repeat(i, s.Messages.Count)).ToArray();
        new Random(7).Shuffle(owners);
        var slots = streams.Select(_ => new List<int>()).ToArray();
        for (int k = 0; k < owners.Length; k++)
        {
            slots[owners[k]].Add(k);
        }
        long start = Stopwatch.GetTimestamp() + Stopwatch.Frequency / 2;
        async Task Connection(int index)
        {
            MllpStream stream = streams[index];
            await using MllpSender connection = await MllpSender.ConnectAsync(server, stream.Lab.MllpSource, ct);
            for (int j = 0; j < stream.Messages.Count; j++)
            {
                long scheduled = start + (long)(slots[index][j] / rate * Stopwatch.Frequency);
                TimeSpan wait = Stopwatch.GetElapsedTime(Stopwatch.GetTimestamp(), scheduled);
                if (wait > TimeSpan.Zero)
                {
                    await Task.Delay(wait, ct);
                }
                long sent = Stopwatch.GetTimestamp();
                string? code = await connection.SendAsync(stream.Messages[j], ct);
                long acknowledged = Stopwatch.GetTimestamp();
                Interlocked.Increment(ref code == "AA" ? ref tally.MllpAccepted : ref code == "AE" ? ref tally.MllpRejected : ref tally.MllpRefused);
                lock (fromSchedule)
                {
                    fromSchedule.Add(Stopwatch.GetElapsedTime(scheduled, acknowledged).TotalMilliseconds);
                    tally.MllpLatencies.Add(Stopwatch.GetElapsedTime(sent, acknowledged).TotalMilliseconds);
                }
            }
        }
        await Task.WhenAll(Enumerable.Range(0, streams.Count).Select(Connection));
        return fromSchedule;
    }

    /// <summary>Posts a submission as its lab; while the server answers 503 or 429 (backpressure), waits as told
    /// (<paramref name="busy"/> counts each) and sends it again. Returns the answer and how long it took.</summary>
    private static async Task<(HttpStatusCode Status, string Text, double Milliseconds)> PostAsync(HttpClient http, string labKey, string mediaType, byte[] body,
        Action busy, CancellationToken ct)
    {
        while (true)
        {
            using var request = new HttpRequestMessage(HttpMethod.Post, "/v1/submissions")
            {
                Content = new ByteArrayContent(body) { Headers = { ContentType = new MediaTypeHeaderValue(mediaType) } },
            };
            request.Headers.Authorization = new AuthenticationHeaderValue("Bearer", labKey);
            long started = Stopwatch.GetTimestamp();
            using HttpResponseMessage response = await http.SendAsync(request, ct);
            string text = await response.Content.ReadAsStringAsync(ct);
            double ms = Stopwatch.GetElapsedTime(started).TotalMilliseconds;
            if ((int)response.StatusCode is 503 or 429)
            {
                busy();
                await Task.Delay(response.Headers.RetryAfter?.Delta ?? TimeSpan.FromSeconds(1), ct);
                continue;
            }
            return (response.StatusCode, text, ms);
        }
    }

    private sealed record Probes(List<double> Cases, List<double> Indicators, List<Truth> Truths);

    /// <summary>While the load runs: every interval, one positive of a new person (the probe lab, sampled a week ago, a
    /// day no other result uses), sent on schedule whatever the earlier ones became; a watcher times each from its
    /// acknowledgement until the cases API lists it (by its accession) and until the national daily table counts it
    /// (the probe day's T reaching its rank: exact when the pipeline keeps the journal's order, as the embedded one does;
    /// across Kafka partitions, the time the table counts as many probes). Sending stops with <paramref name="stop"/>;
    /// the task ends once every probe sent is visible.</summary>
    private static async Task<Probes> ProbeAsync(HttpClient http, HttpClient operatorHttp, string labKey, string agentKey, DriveOptions drive, DateOnly today, CancellationToken stop,
        CancellationToken ct)
    {
        var result = new Probes([], [], []);
        DateOnly day = today.AddDays(-7);
        string token = AgentTokens.Mint(agentKey, "loadgen-probe", AgentRoles.Investigator, [ProbeLab.Dep], TimeSpan.FromHours(12));
        var acknowledged = new List<long>(); // per probe, in order: when its acknowledgement came
        async Task SendAsync()
        {
            var random = new Random(42);
            try
            {
                for (int k = 0; !stop.IsCancellationRequested; k++)
                {
                    long round = Stopwatch.GetTimestamp();
                    // A birth date of its own: the probe's block holds no other person.
                    var birth = new DateOnly(1931, 1, 1).AddDays(k);
                    birth = new DateOnly(birth.Year, birth.Month, Math.Min(28, birth.Day));
                    PatientIdentity p = SyntheticIdentities.RandomPerson(random, k % 2 == 0 ? Sex.Female : Sex.Male, birth) with { BirthName = "SONDE" };
                    var person = new Workload.Person(p, WithIns: true, ProbeLab.Dep, "75001", "PARIS", Medecin: false);
                    string message = Workload.Render(ProbeLab, person, -1 - k, $"PROBE-{k}", day, positive: true, "F", valid: true);
                    // Not cancelled once sent: a probe the server stored must be in the truth.
                    (HttpStatusCode status, string answer, _) = await PostAsync(http, labKey, ProbeLab.MediaType, Encoding.UTF8.GetBytes(message), () => { }, CancellationToken.None);
                    if (status != HttpStatusCode.Created)
                    {
                        throw new InvalidOperationException($"probe PROBE-{k} was refused: {(int)status} {answer}");
                    }
                    lock (acknowledged)
                    {
                        acknowledged.Add(Stopwatch.GetTimestamp());
                        result.Truths.Add(Workload.TruthOf(person, -1 - k, day, positive: true));
                    }
                    TimeSpan left = drive.ProbeInterval - Stopwatch.GetElapsedTime(round);
                    if (left > TimeSpan.Zero)
                    {
                        await Task.Delay(left, stop);
                    }
                }
            }
            catch (OperationCanceledException) when (stop.IsCancellationRequested)
            {
            }
        }
        Task sending = SendAsync();
        var inCases = new Dictionary<int, double>();
        var inIndicators = new Dictionary<int, double>();
        long cursor = 0, progress = Stopwatch.GetTimestamp();
        while (true)
        {
            bool done = sending.IsCompleted;
            long[] acks;
            lock (acknowledged)
            {
                acks = [.. acknowledged];
            }
            long now = Stopwatch.GetTimestamp();
            int before = inCases.Count + inIndicators.Count;
            while (true)
            {
                using var feed = new HttpRequestMessage(HttpMethod.Get, $"/v1/cases/feed?after={cursor}&limit=500");
                feed.Headers.Authorization = new AuthenticationHeaderValue("Bearer", token);
                using HttpResponseMessage answer = await http.SendAsync(feed, ct);
                using JsonDocument page = JsonDocument.Parse(await answer.Content.ReadAsStringAsync(ct));
                int count = 0;
                foreach (JsonElement c in page.RootElement.GetProperty("cases").EnumerateArray())
                {
                    count++;
                    if (c.GetProperty("details").TryGetProperty("accessionId", out JsonElement a) && a.GetString() is string accession
                        && accession.StartsWith("PROBE-", StringComparison.Ordinal) && int.TryParse(accession.AsSpan(6), out int k) && k < acks.Length)
                    {
                        inCases.TryAdd(k, Stopwatch.GetElapsedTime(acks[k], now).TotalMilliseconds);
                    }
                }
                if (page.RootElement.TryGetProperty("next", out JsonElement next) && next.ValueKind == JsonValueKind.Number)
                {
                    cursor = next.GetInt64();
                }
                if (count < 500)
                {
                    break;
                }
            }
            string csv = await operatorHttp.GetStringAsync($"/v1/indicators/fra/daily.csv?from={day:yyyy-MM-dd}&to={day:yyyy-MM-dd}", ct);
            // fra;jour;P_f;P_h;P;T_f;T_h;T;cl_age90;pop — the all-ages row.
            string[]? all = csv.Split('\n').Skip(1).Select(l => l.Split(';')).FirstOrDefault(f => f.Length > 8 && f[8] == "0");
            int counted = all is null ? 0 : Math.Min(acks.Length, int.Parse(all[7], CultureInfo.InvariantCulture));
            for (int k = 0; k < counted; k++)
            {
                inIndicators.TryAdd(k, Stopwatch.GetElapsedTime(acks[k], now).TotalMilliseconds);
            }
            if (inCases.Count + inIndicators.Count > before)
            {
                progress = now;
            }
            if (done && inCases.Count == acks.Length && inIndicators.Count == acks.Length)
            {
                break;
            }
            if (Stopwatch.GetElapsedTime(progress) > TimeSpan.FromMinutes(10))
            {
                throw new TimeoutException($"probes: {acks.Length} acknowledged, {inCases.Count} in the cases API and {inIndicators.Count} in the indicators, none more for 10 minutes");
            }
            await Task.Delay(100, ct);
        }
        result.Cases.AddRange(inCases.Values);
        result.Indicators.AddRange(inIndicators.Values);
        return result;
    }

    private static string Percentiles(List<double> values)
    {
        if (values.Count == 0)
        {
            return "(none)";
        }
        values.Sort();
        double P(double q) => values[Math.Min(values.Count - 1, (int)(q * values.Count))];
        return $"p50 {P(0.5):F0} ms, p99 {P(0.99):F0} ms, p99.9 {P(0.999):F0} ms, max {values[^1]:F0} ms";
    }

    /// <summary>The national and départemental daily tables the server publishes against the ones the truth gives.</summary>
    private static async Task<bool> CheckIndicatorsAsync(HttpClient http, IEnumerable<Truth> truths, TextWriter output, CancellationToken ct)
    {
        GroundTruth truth = GroundTruth.Of(truths);
        bool ok = true;
        foreach ((string level, bool national, int places) in new[] { ("fra", true, 1), ("dep", false, Sidep.Indicators.Geography.France.Departements.Count) })
        {
            string csv = await http.GetStringAsync($"/v1/indicators/{level}/daily.csv?from={truth.First:yyyy-MM-dd}&to={truth.Last:yyyy-MM-dd}", ct);
            (int rows, int equal, List<string> differences) = truth.Compare(csv, national);
            int expected = truth.ExpectedRows(places);
            bool same = rows == expected && equal == rows;
            output.WriteLine($"indicators, {(national ? "national" : "département")} daily table ({truth.First:yyyy-MM-dd} to {truth.Last:yyyy-MM-dd}, every age class; P_f, P_h, P, T_f, T_h, T): " +
                $"{equal:N0} of {expected:N0} rows equal to the ground truth" + (same ? "" : " — MISMATCH"));
            foreach (string d in differences)
            {
                output.WriteLine($"  published {d}");
            }
            ok &= same;
        }
        return ok;
    }
}
