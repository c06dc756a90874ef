using System.CommandLine;
using System.Globalization;

namespace Sidep.LoadGen;

/// <summary>`sidep-loadgen`: a synthetic national workload sent to a running Sidep (or written as files), with the
/// checks that every result and the published indicators are accounted for. A tool of the benchmarks
/// (`perf/bench-e2e.sh`, `perf/bench-scale.sh`) and the tests; the `sidep` binary does not contain it.</summary>
public static class Program
{
    public static Task<int> Main(string[] args) => LoadGenCommand().Parse(args).InvokeAsync();

    private static Command LoadGenCommand()
    {
        var defaults = new WorkloadOptions();
        var results = new Option<int>("--results") { Description = "Results to generate", DefaultValueFactory = _ => defaults.Results };
        var labs = new Option<int>("--labs") { Description = "Laboratories, spread over the départements by population", DefaultValueFactory = _ => defaults.Labs };
        var formats = new Option<string>("--formats") { Description = "Relative weights of the labs' formats: hl7v2,hprim-sante,hprim-medecin,fhir", DefaultValueFactory = _ => "55,20,5,20" };
        var batch = new Option<int>("--batch") { Description = "Results per HTTP submission, at most", DefaultValueFactory = _ => defaults.Batch };
        var concurrency = new Option<int>("--concurrency") { Description = "Concurrent HTTP senders", DefaultValueFactory = _ => 4 };
        var mllpConnections = new Option<int>("--mllp-connections") { Description = "Concurrent MLLP connections (one lab each)", DefaultValueFactory = _ => 8 };
        var mllpPort = new Option<string>("--mllp-port") { Description = "The server's MLLP port (host: the --server one); with several gateways, their ports in the same order, comma-separated", DefaultValueFactory = _ => "2575" };
        var mllpShare = new Option<double>("--mllp") { Description = "Share of HL7 v2 labs sending over MLLP, one message per result", DefaultValueFactory = _ => defaults.Mllp };
        var localCodes = new Option<double>("--local-codes") { Description = "Share of HL7 v2 and HPRIM Santé labs sending their own codes (with a transcoding table)", DefaultValueFactory = _ => defaults.LocalCodes };
        var withoutIns = new Option<double>("--without-ins") { Description = "Share of persons whose results come without INS", DefaultValueFactory = _ => defaults.WithoutIns };
        var positivity = new Option<double>("--positivity") { Description = "Share of positive results", DefaultValueFactory = _ => defaults.Positivity };
        var seed = new Option<int>("--seed") { Description = "Random seed", DefaultValueFactory = _ => defaults.Seed };
        var duplicates = new Option<double>("--duplicates") { Description = "Share of results sent again unchanged, later", DefaultValueFactory = _ => defaults.Duplicates };
        var corrections = new Option<double>("--corrections") { Description = "Share of results corrected later (other outcome, status C)", DefaultValueFactory = _ => defaults.Corrections };
        var invalid = new Option<double>("--invalid") { Description = "Share of invalid items, on top (rejected with a reason)", DefaultValueFactory = _ => defaults.Invalid };
        var retests = new Option<double>("--retests") { Description = "Share of results that are an earlier person's test again", DefaultValueFactory = _ => defaults.Retests };
        var late = new Option<double>("--late") { Description = "Share of results sampled 8 to 20 days before", DefaultValueFactory = _ => defaults.Late };
        var mllpRate = new Option<double?>("--mllp-rate") { Description = "Measure single MLLP messages instead: HL7 v2 labs only, each on its own connection (--labs of them), " +
            "--results messages sent on a fixed schedule at this rate a second; reports ACK latency from the schedule" };
        var output = new Option<string?>("--out") { Description = "Write the workload to this directory (submissions per lab, labs.csv, truth.csv) instead of sending it" };
        var server = new Option<string>("--server") { Description = "Sidep's HTTP address; several gateways of one distributed deployment comma-separated (labs spread over them, duplicates through the next, a gateway that does not answer replaced by the next)", DefaultValueFactory = _ => "http://localhost:8080" };
        var operatorToken = new Option<string?>("--operator-token") { Description = "Registers the labs, reads the pipeline and the indicators (default: $SIDEP_OPERATOR_TOKEN)" };
        var agentKey = new Option<string?>("--agent-key") { Description = "The server's agent signing key: probes measure acknowledgement → cases API and indicators (default: $SIDEP_AGENT_KEY)" };
        var command = new RootCommand("Generate a synthetic national workload (5,000 labs, HL7 v2, HPRIM Santé, HPRIM Médecin, FHIR; HTTP and MLLP), send it or write it, " +
            "and report throughput, latency, catch-up, and whether every result and the indicators are accounted for")
            { results, labs, formats, batch, concurrency, mllpConnections, mllpPort, mllpShare, localCodes, withoutIns, positivity, seed, duplicates, corrections, invalid, retests, late, mllpRate, output, server, operatorToken, agentKey };
        command.SetAction(async (parse, ct) =>
        {
            double[] weights;
            try
            {
                weights = [.. parse.GetValue(formats)!.Split(',').Select(w => double.Parse(w, CultureInfo.InvariantCulture))];
            }
            catch (FormatException)
            {
                weights = [];
            }
            if (weights.Length != 4 || weights.Any(w => w < 0) || weights.Sum() <= 0)
            {
                Console.Error.WriteLine("--formats takes four weights, hl7v2,hprim-sante,hprim-medecin,fhir (e.g. 55,20,5,20)");
                return 2;
            }
            var workload = new WorkloadOptions
            {
                Results = Math.Max(1, parse.GetValue(results)), Labs = Math.Clamp(parse.GetValue(labs), 1, 200_000), FormatWeights = weights,
                Batch = Math.Clamp(parse.GetValue(batch), 1, 10_000), Seed = parse.GetValue(seed), WithoutIns = parse.GetValue(withoutIns),
                Positivity = parse.GetValue(positivity), Duplicates = parse.GetValue(duplicates), Corrections = parse.GetValue(corrections),
                Invalid = parse.GetValue(invalid), Retests = parse.GetValue(retests), Late = parse.GetValue(late), LocalCodes = parse.GetValue(localCodes),
                Mllp = parse.GetValue(mllpShare),
            };
            if (parse.GetValue(mllpRate) is double rate)
            {
                // Single new results, as lab software sends them one by one: no batches, no later corrections.
                workload = workload with { FormatWeights = [1, 0, 0, 0], Mllp = 1, Corrections = 0, Duplicates = 0, Invalid = 0, Late = 0 };
            }
            if (parse.GetValue(output) is string directory)
            {
                return LoadGenerator.Write(workload, directory, Console.Out);
            }
            string? token = parse.GetValue(operatorToken) ?? Environment.GetEnvironmentVariable("SIDEP_OPERATOR_TOKEN");
            if (string.IsNullOrEmpty(token))
            {
                Console.Error.WriteLine("the operator token is needed to register the labs (--operator-token or $SIDEP_OPERATOR_TOKEN; 'sidep serve --operator-token')");
                return 2;
            }
            string[] servers = parse.GetValue(server)!.Split(',', StringSplitOptions.RemoveEmptyEntries | StringSplitOptions.TrimEntries);
            string[] ports = parse.GetValue(mllpPort)!.Split(',', StringSplitOptions.RemoveEmptyEntries | StringSplitOptions.TrimEntries);
            if (servers.Length == 0 || ports.Length != servers.Length || !ports.All(p => int.TryParse(p, CultureInfo.InvariantCulture, out _)))
            {
                Console.Error.WriteLine("--mllp-port takes one port per --server address, in the same order");
                return 2;
            }
            var drive = new DriveOptions(new Uri(servers[0]), token)
            {
                OtherGateways = [.. servers.Skip(1).Zip(ports.Skip(1), (u, p) => (new Uri(u), int.Parse(p, CultureInfo.InvariantCulture)))],
                Concurrency = Math.Clamp(parse.GetValue(concurrency), 1, 256), MllpConnections = Math.Clamp(parse.GetValue(mllpConnections), 1, 1_000),
                MllpPort = int.Parse(ports[0], CultureInfo.InvariantCulture), MllpRate = parse.GetValue(mllpRate) is double r && r > 0 ? r : null,
                AgentKey = parse.GetValue(agentKey) ?? (Environment.GetEnvironmentVariable("SIDEP_AGENT_KEY") is { Length: > 0 } k ? k : null),
            };
            return await LoadGenerator.RunAsync(workload, drive, Console.Out, ct);
        });
        return command;
    }
}
