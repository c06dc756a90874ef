using System.CommandLine;
using System.Globalization;
using System.Net.Http.Headers;
using System.Security.Cryptography.X509Certificates;
using System.Text.Json;
using Microsoft.AspNetCore.Builder;
using Microsoft.Extensions.DependencyInjection;
using Microsoft.Extensions.Hosting;
using Sidep.Gateway;
using Sidep.Ingestion;
using Sidep.Domain;
using Sidep.Journal;
using Sidep.Pipeline;
using Sidep.Storage.Sqlite;

namespace Sidep.Host;

/// <summary>The `sidep` command line.</summary>
public static partial class Cli
{
    public const string DemoFiness = DemoSetup.Finess;
    public const string DemoFacility = DemoSetup.Facility;

    private static string DefaultDataDir => Environment.GetEnvironmentVariable("SIDEP_DATA") is { Length: > 0 } d ? d : ".sidep";

    public static RootCommand Build()
    {
        var root = new RootCommand("Sidep: national ingestion of laboratory test results (HL7 v2, HPRIM, FHIR R4; HTTP and MLLP), their identity matching, indicators and sinks.");
        root.Subcommands.Add(Serve("serve", gatewayOnly: false));
        root.Subcommands.Add(Serve("gateway", gatewayOnly: true));
        root.Subcommands.Add(Send());
        root.Subcommands.Add(Validate());
        root.Subcommands.Add(Labs());
        root.Subcommands.Add(Transcoding());
        root.Subcommands.Add(Quarantine());
        root.Subcommands.Add(IdentityQuality());
        root.Subcommands.Add(IdentityBench());
        root.Subcommands.Add(Indicators());
        root.Subcommands.Add(Agents());
        root.Subcommands.Add(Research());
        root.Subcommands.Add(Database());
        root.Subcommands.Add(KafkaCommand());
        root.Subcommands.Add(Worker());
        root.Subcommands.Add(JournalCommand());
        return root;
    }

    private static Option<string> DataDirOption() => new("--data-dir")
    {
        Description = "Directory of the journal and the database (default: $SIDEP_DATA or ./.sidep)",
        DefaultValueFactory = _ => DefaultDataDir,
    };

    /// <summary>The distributed mode's backends named on the command line; "mock" starts librdkafka's mock cluster in
    /// this process (a sandbox or a benchmark: nothing leaves the process, nothing survives it).</summary>
    private static async Task<(DistributedBackends Backends, IDisposable? Mock, string Kafka)> OpenBackendsAsync(string kafka, string postgres, CancellationToken ct)
    {
        IDisposable? mock = null;
        if (kafka == "mock")
        {
            (kafka, mock) = Sidep.Transport.Kafka.KafkaTransport.StartMockCluster(3);
        }
        await Sidep.Storage.Postgres.PostgresStore.MigrateAsync(postgres, ct);
        var transport = new Sidep.Transport.Kafka.KafkaTransport(kafka);
        var keys = await Sidep.Storage.Postgres.PostgresKeyIndex.OpenAsync(postgres, new TransportJournal(transport), cancellationToken: ct);
        var store = Sidep.Storage.Postgres.PostgresStore.Open(postgres);
        return (new DistributedBackends(transport, store, keys, store, keys), mock, kafka);
    }

    private static Command Serve(string name, bool gatewayOnly)
    {
        Option<string> dataDir = DataDirOption();
        var urls = new Option<string>("--urls") { Description = "HTTP address(es), ';'-separated", DefaultValueFactory = _ => "http://127.0.0.1:8080" };
        var mllpPort = new Option<int>("--mllp-port") { Description = "MLLP port (0: any free port, -1: no MLLP)", DefaultValueFactory = _ => 2575 };
        var demo = new Option<bool>("--demo") { Description = "Register the demo lab (FINESS 990000001, MLLP source 127.0.0.1) and print its API key" };
        var production = new Option<bool>("--production") { Description = "Production mode: INS with test or demo OIDs are refused" };
        var maxBody = new Option<long>("--max-body-bytes") { Description = "Largest HTTP submission", DefaultValueFactory = _ => 64L * 1024 * 1024 };
        var tlsCert = new Option<FileInfo?>("--mllp-tls-cert") { Description = "Server certificate for MLLP over TLS (PKCS#12 .pfx/.p12, or PEM with its key): labs are then identified by their client certificate" };
        var tlsPassword = new Option<string?>("--mllp-tls-password") { Description = "Password of the --mllp-tls-cert file (default: $SIDEP_MLLP_TLS_PASSWORD)" };
        var operatorToken = new Option<string?>("--operator-token") { Description = "Token of the restricted operator role (lab register, indicators, identity decisions), at least 16 characters; default: $SIDEP_OPERATOR_TOKEN; unset: off (empty: refused)" };
        var agentKey = new Option<string?>("--agent-key") { Description = "Secret (32 bytes or more) that signs agents' tokens (contact tracing, audit, notices); default: $SIDEP_AGENT_KEY; none: off" };
        var agentIssuer = new Option<string>("--agent-issuer") { Description = "The issuer agents' tokens must carry", DefaultValueFactory = _ => Environment.GetEnvironmentVariable("SIDEP_AGENT_ISSUER") is { Length: > 0 } i ? i : AgentTokens.DefaultIssuer };
        var researchKeys = new Option<string?>("--research-keys") { Description = "Research pseudonymisation keys, 'k1=secret;k2=secret' (last is current; 32 bytes or more each); default: $SIDEP_RESEARCH_KEYS, else one made and kept in the data directory" };
        var mllpMax = new Option<int>("--mllp-max-connections") { Description = "MLLP connections served at once (past it a new one is closed)", DefaultValueFactory = _ => 2_000 };
        var mllpMaxPerSource = new Option<int>("--mllp-max-connections-per-source") { Description = "MLLP connections served at once from one source address", DefaultValueFactory = _ => 64 };
        var honourAckTypes = new Option<bool>("--mllp-honour-ack-types") { Description = "Answer MLLP messages as their MSH-15/16 ask (NE: no answer; enhanced mode: commit ACK then application ACK); default: every message answered once" };
        var segmentBytes = new Option<long>("--journal-segment-bytes") { Description = "The embedded journal starts a new segment file past this size", DefaultValueFactory = _ => 256L * 1024 * 1024 };
        var maxLag = new Option<long>("--max-lag") { Description = "Backpressure: 503 + Retry-After (HTTP) and held ACKs (MLLP) while a stage is more than this many results behind", DefaultValueFactory = _ => 500_000 };
        var kafka = new Option<string?>("--kafka") { Description = gatewayOnly ? "Kafka bootstrap servers (default: $SIDEP_KAFKA_BOOTSTRAP); 'mock': librdkafka's mock cluster in this process"
            : "Distributed mode: Kafka bootstrap servers ('mock': librdkafka's mock cluster in this process); with --postgres" };
        var postgres = new Option<string?>("--postgres") { Description = gatewayOnly ? "PostgreSQL connection string (default: $SIDEP_POSTGRES)" : "Distributed mode: PostgreSQL connection string; with --kafka" };
        var command = new Command(name, gatewayOnly
            ? "Run the gateway role of the distributed mode: HTTP and MLLP in, results to Kafka, indicators and cases read from PostgreSQL (workers run apart: sidep worker)"
            : "Run Sidep: HTTP gateway, MLLP listener and every stage — embedded (durable local log and database), or distributed with --kafka and --postgres")
        { dataDir, urls, mllpPort, demo, production, maxBody, tlsCert, tlsPassword, operatorToken, agentKey, agentIssuer, researchKeys, kafka, postgres, maxLag, segmentBytes, mllpMax, mllpMaxPerSource, honourAckTypes };
        command.SetAction(async (parse, ct) =>
        {
            string? kafkaServers = parse.GetValue(kafka) ?? (gatewayOnly ? Environment.GetEnvironmentVariable("SIDEP_KAFKA_BOOTSTRAP") : null);
            string? postgresConnection = parse.GetValue(postgres) ?? (gatewayOnly ? Environment.GetEnvironmentVariable("SIDEP_POSTGRES") : null);
            if ((gatewayOnly || kafkaServers is not null || postgresConnection is not null) && (string.IsNullOrEmpty(kafkaServers) || string.IsNullOrEmpty(postgresConnection)))
            {
                Console.Error.WriteLine("the distributed mode needs both --kafka and --postgres" + (gatewayOnly ? " (or $SIDEP_KAFKA_BOOTSTRAP and $SIDEP_POSTGRES)" : ""));
                return 2;
            }
            X509Certificate2? certificate = null;
            if (parse.GetValue(tlsCert) is FileInfo certFile)
            {
                string? password = parse.GetValue(tlsPassword) ?? Environment.GetEnvironmentVariable("SIDEP_MLLP_TLS_PASSWORD");
                certificate = certFile.Extension is ".pem" or ".crt"
                    ? X509Certificate2.CreateFromPemFile(certFile.FullName)
                    : X509CertificateLoader.LoadPkcs12FromFile(certFile.FullName, password);
            }
            var options = new GatewayOptions(parse.GetValue(dataDir)!, MaxBodyBytes: parse.GetValue(maxBody), MllpPort: parse.GetValue(mllpPort),
                Production: parse.GetValue(production), MllpCertificate: certificate,
                // A secret set but empty (a flag given "$UNSET", a variable exported empty) is refused below, not taken as "off".
                OperatorToken: parse.GetValue(operatorToken) ?? Environment.GetEnvironmentVariable("SIDEP_OPERATOR_TOKEN"),
                AgentSigningKey: parse.GetValue(agentKey) ?? Environment.GetEnvironmentVariable("SIDEP_AGENT_KEY"),
                ResearchKeys: parse.GetValue(researchKeys) ?? (Environment.GetEnvironmentVariable("SIDEP_RESEARCH_KEYS") is { Length: > 0 } r ? r : null),
                AgentIssuer: parse.GetValue(agentIssuer)!, MaxLag: parse.GetValue(maxLag), JournalSegmentBytes: Math.Max(4096, parse.GetValue(segmentBytes)),
                MllpMaxConnections: Math.Max(1, parse.GetValue(mllpMax)), MllpMaxConnectionsPerSource: Math.Max(1, parse.GetValue(mllpMaxPerSource)), MllpHonourAckTypes: parse.GetValue(honourAckTypes));
            if (options.ResearchKeys is string configured)
            {
                try
                {
                    Pseudonyms.Parse(configured);
                }
                catch (ArgumentException ex)
                {
                    Console.Error.WriteLine(ex.Message);
                    return 2;
                }
            }
            if (options.Problems() is [_, ..] problems)
            {
                problems.ToList().ForEach(p => Console.Error.WriteLine($"sidep: not starting: {p}"));
                return 2;
            }
            if (parse.GetValue(demo))
            {
                DataDirectory.CreateOwnerOnly(options.DataDirectory);
                options = DemoSetup.WithSecrets(options);
            }
            string[] urlList = parse.GetValue(urls)!.Split(';', StringSplitOptions.RemoveEmptyEntries);
            DistributedBackends? backends = null;
            IDisposable? mock = null;
            string mode = $"embedded mode, data in {Path.GetFullPath(options.DataDirectory)}";
            if (kafkaServers is not null)
            {
                try
                {
                    (backends, mock, string bootstrap) = await OpenBackendsAsync(kafkaServers, postgresConnection!, ct);
                    mode = $"distributed mode{(gatewayOnly ? ", gateway role" : "")}: Kafka {bootstrap}{(mock is null ? "" : " (mock cluster in this process)")}, PostgreSQL {new Npgsql.NpgsqlConnectionStringBuilder(postgresConnection) { Password = null }.Host} (labs, transcoding, result keys and the stages' rows)";
                }
                catch (Exception ex) when (ex is Npgsql.NpgsqlException or Confluent.Kafka.KafkaException or ArgumentException)
                {
                    Console.Error.WriteLine($"cannot open the distributed mode's backends: {ex.Message}");
                    return 1;
                }
                options = options with { RunStages = !gatewayOnly };
            }
            using IDisposable? mockCluster = mock;
            // A port taken by another program is said in one line (Kestrel would log a stack trace first).
            if (PortInUse(urlList, options) is string taken)
            {
                Console.Error.WriteLine($"sidep: not starting: {taken}");
                return 1;
            }
            WebApplication app;
            try
            {
                app = SidepServer.Build(options, urlList, distributed: backends);
            }
            catch (JournalCorruptException ex)
            {
                // Refuse to start rather than drop what lies beyond the damage.
                Console.Error.WriteLine($"sidep: not starting: {ex.Message}");
                return 1;
            }
            string? demoKey = null;
            if (parse.GetValue(demo))
            {
                demoKey = DemoSetup.LabKey(app.Services.GetRequiredService<ILabRegister>(), options.DataDirectory);
            }
            try
            {
                await app.StartAsync(ct);
            }
            catch (IOException ex) when (ex.InnerException is System.Net.Sockets.SocketException { SocketErrorCode: System.Net.Sockets.SocketError.AddressAlreadyInUse }
                || ex.Message.Contains("address already in use", StringComparison.OrdinalIgnoreCase))
            {
                Console.Error.WriteLine($"sidep: not starting: {string.Join(", ", urlList)} is in use by another program; choose another address with --urls");
                return 1;
            }
            catch (System.Net.Sockets.SocketException ex) when (ex.SocketErrorCode == System.Net.Sockets.SocketError.AddressAlreadyInUse)
            {
                Console.Error.WriteLine($"sidep: not starting: the MLLP port {options.MllpPort} is in use by another program; choose another with --mllp-port");
                return 1;
            }
            int port = await app.Services.GetMllp().Port;
            Console.WriteLine($"Sidep is running ({mode}).");
            Console.WriteLine($"  HTTP: {string.Join(", ", urlList)}   MLLP: {(port < 0 ? "off" : $"{options.MllpAddress}:{port}")}{(certificate is null ? " (plain TCP: labs identified by source address)" : " (TLS: labs identified by client certificate)")}");
            if (demoKey is not null)
            {
                DemoSetup.PrintBanner(urlList[0], demoKey, options with { MllpPort = port });
            }
            Console.WriteLine("Press Ctrl+C to stop.");
            await app.WaitForShutdownAsync(ct);
            if (backends is not null)
            {
                await backends.Transport.DisposeAsync();
                backends.Store.Dispose();
            }
            if (app.Services.GetRequiredService<StageFailures>().First is Exception failed)
            {
                Console.Error.WriteLine($"sidep: a stage failed and Sidep stopped: {failed.GetType().Name}: {failed.Message}");
                return 1;
            }
            return 0;
        });
        return command;
    }

    /// <summary>Which of the addresses to listen on another program holds, said for the operator; null when all are free.</summary>
    private static string? PortInUse(IEnumerable<string> urls, GatewayOptions options)
    {
        var wanted = new List<(System.Net.IPAddress Address, int Port, string What)>();
        foreach (string url in urls)
        {
            if (Uri.TryCreate(url, UriKind.Absolute, out Uri? uri) && uri.Port > 0)
            {
                System.Net.IPAddress address = System.Net.IPAddress.TryParse(uri.Host, out System.Net.IPAddress? ip) ? ip
                    : uri.Host is "localhost" ? System.Net.IPAddress.Loopback : System.Net.IPAddress.Any;
                wanted.Add((address, uri.Port, $"{url} is in use by another program; choose another address with --urls"));
            }
        }
        if (options.MllpPort > 0)
        {
            wanted.Add((System.Net.IPAddress.Parse(options.MllpAddress), options.MllpPort, $"the MLLP port {options.MllpPort} is in use by another program; choose another with --mllp-port"));
        }
        foreach ((System.Net.IPAddress address, int port, string what) in wanted)
        {
            try
            {
                using var probe = new System.Net.Sockets.Socket(address.AddressFamily, System.Net.Sockets.SocketType.Stream, System.Net.Sockets.ProtocolType.Tcp);
                // As Kestrel binds: connections of an earlier run in TIME_WAIT do not make the port "in use".
                probe.SetSocketOption(System.Net.Sockets.SocketOptionLevel.Socket, System.Net.Sockets.SocketOptionName.ReuseAddress, true);
                probe.Bind(new System.Net.IPEndPoint(address, port));
                probe.Listen(1);
            }
            catch (System.Net.Sockets.SocketException ex) when (ex.SocketErrorCode == System.Net.Sockets.SocketError.AddressAlreadyInUse)
            {
                return what;
            }
            catch (System.Net.Sockets.SocketException)
            {
                // not ours to judge (an address not on this machine...): Kestrel says it
            }
        }
        return null;
    }

    private static Command Send()
    {
        var files = new Argument<FileInfo[]>("files") { Arity = ArgumentArity.OneOrMore, Description = "HL7 v2 or HPRIM files to submit (the format is read from their first bytes)" };
        var server = new Option<string>("--server") { Description = "Sidep server", DefaultValueFactory = _ => "http://127.0.0.1:8080" };
        var apiKey = new Option<string?>("--api-key") { Description = "The lab's API key (default: $SIDEP_API_KEY)" };
        var reportFormat = FormatOption();
        var command = new Command("send", "Submit files to a Sidep server and print the per-item report (exit 1 if anything is rejected)") { files, server, apiKey, reportFormat };
        command.SetAction(async (parse, ct) =>
        {
            string? key = parse.GetValue(apiKey) ?? Environment.GetEnvironmentVariable("SIDEP_API_KEY");
            if (string.IsNullOrEmpty(key))
            {
                Console.Error.WriteLine("sidep send: an API key is needed (--api-key or $SIDEP_API_KEY); 'sidep labs add' issues one.");
                return 2;
            }
            using var http = new HttpClient { BaseAddress = new Uri(parse.GetValue(server)!), Timeout = TimeSpan.FromMinutes(30) };
            http.DefaultRequestHeaders.Authorization = new AuthenticationHeaderValue("Bearer", key);
            // Headers first: a refused submission (401, 403, 413) is answered before the body is sent.
            http.DefaultRequestHeaders.ExpectContinue = true;
            int exit = 0;
            foreach (FileInfo file in parse.GetValue(files)!)
            {
                if (!file.Exists)
                {
                    Console.Error.WriteLine($"{file}: no such file");
                    exit = Math.Max(exit, 2);
                    continue;
                }
                await using FileStream stream = file.OpenRead();
                string format = Sniff(stream);
                using var content = new ProgressContent(stream, file.Length, file.Name, showProgress: file.Length >= 1024 * 1024 && !Console.IsErrorRedirected);
                content.Headers.ContentType = new MediaTypeHeaderValue(Formats.MediaTypeOf(format));
                HttpResponseMessage response;
                try
                {
                    response = await http.PostAsync("/v1/submissions", content, ct);
                }
                catch (HttpRequestException ex)
                {
                    Console.Error.WriteLine($"{file.Name}: cannot reach {http.BaseAddress}: {ex.Message}");
                    return 2;
                }
                string body = await response.Content.ReadAsStringAsync(ct);
                if (response.Content.Headers.ContentType?.MediaType == "application/json")
                {
                    SubmissionReport report = JsonSerializer.Deserialize(body, SidepJson.Default.SubmissionReport)!;
                    Output(parse.GetValue(reportFormat)!, file.Name, report);
                    exit = Math.Max(exit, report.AnyRejected ? 1 : 0);
                }
                else if (parse.GetValue(reportFormat) == "json")
                {
                    // A refusal is JSON too, one line per file as the reports are: the file, the status, the server's answer.
                    Console.WriteLine(ReportPrinter.RefusalJson(file.Name, (int)response.StatusCode, body));
                    exit = 2;
                }
                else
                {
                    Console.WriteLine($"{file.Name}: HTTP {(int)response.StatusCode} {response.ReasonPhrase}: {ReportPrinter.ProblemDetail(body)}");
                    exit = 2;
                }
            }
            return exit;
        });
        return command;
    }

    private static Option<string> FormatOption()
    {
        var option = new Option<string>("--format") { Description = "Report format: text (for a person) or json (one report per line, for a program)", DefaultValueFactory = _ => "text" };
        option.AcceptOnlyFromAmong("text", "json");
        return option;
    }

    private static void Output(string format, string name, SubmissionReport report)
    {
        if (format == "json")
        {
            Console.WriteLine(JsonSerializer.Serialize(report, SidepJson.Default.SubmissionReport));
        }
        else
        {
            ReportPrinter.Print(Console.Out, name, report);
        }
    }

    private static (Option<string> Server, Option<string?> ApiKey) ServerOptions() => (
        new Option<string>("--server") { Description = "Sidep server", DefaultValueFactory = _ => "http://127.0.0.1:8080" },
        new Option<string?>("--api-key") { Description = "The lab's API key (default: $SIDEP_API_KEY)" });

    private static HttpClient? Client(ParseResult parse, Option<string> server, Option<string?> apiKey)
    {
        string? key = parse.GetValue(apiKey) ?? Environment.GetEnvironmentVariable("SIDEP_API_KEY");
        if (string.IsNullOrEmpty(key))
        {
            Console.Error.WriteLine("an API key is needed (--api-key or $SIDEP_API_KEY); 'sidep labs add' issues one.");
            return null;
        }
        var http = new HttpClient { BaseAddress = new Uri(parse.GetValue(server)!) };
        http.DefaultRequestHeaders.Authorization = new AuthenticationHeaderValue("Bearer", key);
        return http;
    }

    private static async Task<int> Print(HttpResponseMessage response, CancellationToken ct)
    {
        string body = await response.Content.ReadAsStringAsync(ct);
        if (!response.IsSuccessStatusCode)
        {
            Console.Error.WriteLine($"HTTP {(int)response.StatusCode}: {ReportPrinter.ProblemDetail(body)}");
            return 2;
        }
        using var doc = JsonDocument.Parse(body);
        Console.WriteLine(JsonSerializer.Serialize(doc.RootElement, new JsonSerializerOptions { WriteIndented = true }));
        return 0;
    }

    private static Command Transcoding()
    {
        (Option<string> server, Option<string?> apiKey) = ServerOptions();
        var finess = new Option<string>("--finess") { Required = true, Description = "The lab's FINESS (its own table only)" };
        var file = new Argument<FileInfo>("file") { Description = "CSV (local_code;loinc;label) or JSON (.json) table" };
        var put = new Command("put", "Add or change mappings of local codes to LOINC; quarantined results of those codes are replayed") { file, finess, server, apiKey };
        put.SetAction(async (parse, ct) =>
        {
            using HttpClient? http = Client(parse, server, apiKey);
            if (http is null)
            {
                return 2;
            }
            FileInfo table = parse.GetValue(file)!;
            var content = new StringContent(await File.ReadAllTextAsync(table.FullName, ct), System.Text.Encoding.UTF8,
                table.Extension.Equals(".json", StringComparison.OrdinalIgnoreCase) ? "application/json" : "text/csv");
            return await Print(await http.PutAsync($"/v1/labs/{Uri.EscapeDataString(parse.GetValue(finess)!)}/transcoding", content, ct), ct);
        });
        (Option<string> getServer, Option<string?> getKey) = ServerOptions();
        var getFiness = new Option<string>("--finess") { Required = true, Description = "The lab's FINESS" };
        var get = new Command("get", "Print the lab's transcoding table") { getFiness, getServer, getKey };
        get.SetAction(async (parse, ct) =>
        {
            using HttpClient? http = Client(parse, getServer, getKey);
            return http is null ? 2 : await Print(await http.GetAsync($"/v1/labs/{Uri.EscapeDataString(parse.GetValue(getFiness)!)}/transcoding", ct), ct);
        });
        return new Command("transcoding", "A lab's table of local analysis codes → LOINC") { put, get };
    }

    private static Command Indicators()
    {
        var server = new Option<string>("--server") { Description = "Sidep server", DefaultValueFactory = _ => "http://127.0.0.1:8080" };
        var token = new Option<string?>("--operator-token") { Description = "The operator token (default: $SIDEP_OPERATOR_TOKEN)" };
        var level = new Option<string>("--level") { Description = "dep, reg, fra or all", DefaultValueFactory = _ => "all" };
        level.AcceptOnlyFromAmong("dep", "reg", "fra", "all");
        var format = new Option<string>("--format") { Description = "csv or json", DefaultValueFactory = _ => "csv" };
        format.AcceptOnlyFromAmong("csv", "json");
        var output = new Option<DirectoryInfo>("--out") { Description = "Directory to write the files to", DefaultValueFactory = _ => new DirectoryInfo(".") };
        var from = new Option<string?>("--from") { Description = "First sample day, YYYY-MM-DD (default: the first with counts)" };
        var to = new Option<string?>("--to") { Description = "Last sample day, YYYY-MM-DD (default: the last with counts)" };
        var asOf = new Option<string?>("--asof") { Description = "The tables as they were at this moment (ISO 8601)" };
        var suppress = new Option<int>("--suppress") { Description = "Leave counts from 1 to k-1 empty (open data); 0: off" };
        var export = new Command("export", "Write the daily and rates tables of each level ({level}-daily.csv, {level}-rates.csv) as SPF publishes them")
            { server, token, level, format, output, from, to, asOf, suppress };
        export.SetAction(async (parse, ct) =>
        {
            string? operatorToken = parse.GetValue(token) ?? Environment.GetEnvironmentVariable("SIDEP_OPERATOR_TOKEN");
            if (string.IsNullOrEmpty(operatorToken))
            {
                Console.Error.WriteLine("the operator token is needed (--operator-token or $SIDEP_OPERATOR_TOKEN), as given to 'sidep serve'.");
                return 2;
            }
            using var http = new HttpClient { BaseAddress = new Uri(parse.GetValue(server)!), Timeout = TimeSpan.FromMinutes(10) };
            http.DefaultRequestHeaders.Add("X-Operator-Token", operatorToken);
            var query = new List<string>();
            foreach ((string name, string? value) in new[] { ("from", parse.GetValue(from)), ("to", parse.GetValue(to)), ("asof", parse.GetValue(asOf)) })
            {
                if (value is not null)
                {
                    query.Add($"{name}={Uri.EscapeDataString(value)}");
                }
            }
            if (parse.GetValue(suppress) is int k and > 0)
            {
                query.Add($"suppress={k}");
            }
            string ext = parse.GetValue(format)!;
            DirectoryInfo dir = parse.GetValue(output)!;
            dir.Create();
            string[] levels = parse.GetValue(level) == "all" ? ["dep", "reg", "fra"] : [parse.GetValue(level)!];
            foreach (string lvl in levels)
            {
                foreach (string table in new[] { "daily", "rates" })
                {
                    using HttpResponseMessage response = await http.GetAsync($"/v1/indicators/{lvl}/{table}.{ext}{(query.Count > 0 ? "?" + string.Join('&', query) : "")}", ct);
                    if (!response.IsSuccessStatusCode)
                    {
                        Console.Error.WriteLine($"HTTP {(int)response.StatusCode}: {ReportPrinter.ProblemDetail(await response.Content.ReadAsStringAsync(ct))}");
                        return 2;
                    }
                    byte[] body = await response.Content.ReadAsByteArrayAsync(ct);
                    string path = Path.Combine(dir.FullName, $"{lvl}-{table}.{ext}");
                    // Written whole or not at all: a reader never sees half a table.
                    string temporary = path + ".tmp";
                    await File.WriteAllBytesAsync(temporary, body, ct);
                    File.Move(temporary, path, overwrite: true);
                    int rows = ext == "csv" ? body.Count(b => b == (byte)'\n') - 1 : JsonDocument.Parse(body).RootElement.GetArrayLength();
                    Console.WriteLine($"{path}: {rows} rows");
                }
            }
            return 0;
        });
        return new Command("indicators", "Daily indicators (P, T, incidence, positivity, screening) as Santé publique France publishes them") { export };
    }

    private static Command Database()
    {
        var postgres = new Option<string?>("--postgres") { Description = "Npgsql connection string (default: $SIDEP_POSTGRES)" };
        var migrate = new Command("migrate", "Apply the schema migrations of infra/postgres/migrations not yet applied") { postgres };
        migrate.SetAction(async (parse, ct) =>
        {
            string? connection = parse.GetValue(postgres) ?? Environment.GetEnvironmentVariable("SIDEP_POSTGRES");
            if (string.IsNullOrEmpty(connection))
            {
                Console.Error.WriteLine("a connection string is needed (--postgres or $SIDEP_POSTGRES)");
                return 2;
            }
            try
            {
                List<string> applied = await Sidep.Storage.Postgres.PostgresStore.MigrateAsync(connection, ct);
                Console.WriteLine(applied.Count == 0 ? "schema up to date" : $"applied: {string.Join(", ", applied)}");
                return 0;
            }
            catch (Npgsql.NpgsqlException ex)
            {
                Console.Error.WriteLine($"migration failed: {ex.Message}");
                return 1;
            }
        });
        return new Command("db", "The PostgreSQL store of the distributed mode") { migrate };
    }

    private static Command Worker()
    {
        var stage = new Option<string>("--stage") { Required = true, Description = "The stage to run: store (results into the store), match (identity), aggregate (indicators), fanout (cases and notices), research (pseudonymised rows and their Parquet partitions)" };
        stage.AcceptOnlyFromAmong(Stages.Names);
        var researchDir = new Option<string>("--research-dir") { Description = "research: the directory of the Parquet partitions (shared by the research workers)", DefaultValueFactory = _ => "research" };
        var researchKeys = new Option<string?>("--research-keys") { Description = "research: pseudonymisation keys 'k1=secret;k2=secret' (default: $SIDEP_RESEARCH_KEYS)" };
        var kafka = new Option<string?>("--kafka") { Description = "Kafka bootstrap servers (default: $SIDEP_KAFKA_BOOTSTRAP)" };
        var postgres = new Option<string?>("--postgres") { Description = "PostgreSQL connection string (default: $SIDEP_POSTGRES)" };
        var production = new Option<bool>("--production") { Description = "Production mode: INS with test or demo OIDs are not trusted by the matcher" };
        var command = new Command("worker", "Run a stage of the distributed mode: consume its Kafka topic in its consumer group, write to PostgreSQL; start as many as the topic has partitions")
        { stage, kafka, postgres, production, researchDir, researchKeys };
        command.SetAction(async (parse, ct) =>
        {
            string? servers = parse.GetValue(kafka) ?? Environment.GetEnvironmentVariable("SIDEP_KAFKA_BOOTSTRAP");
            string? connection = parse.GetValue(postgres) ?? Environment.GetEnvironmentVariable("SIDEP_POSTGRES");
            if (string.IsNullOrEmpty(servers) || string.IsNullOrEmpty(connection))
            {
                Console.Error.WriteLine("both --kafka (or $SIDEP_KAFKA_BOOTSTRAP) and --postgres (or $SIDEP_POSTGRES) are needed");
                return 2;
            }
            string name = parse.GetValue(stage)!;
            Pseudonyms? pseudonyms = null;
            if (name == "research")
            {
                try
                {
                    pseudonyms = Pseudonyms.Parse(parse.GetValue(researchKeys) ?? Environment.GetEnvironmentVariable("SIDEP_RESEARCH_KEYS") ?? "");
                }
                catch (ArgumentException ex)
                {
                    Console.Error.WriteLine($"the research stage needs its keys (--research-keys or $SIDEP_RESEARCH_KEYS): {ex.Message}");
                    return 2;
                }
            }
            await Sidep.Storage.Postgres.PostgresStore.MigrateAsync(connection, ct);
            await using var transport = new Sidep.Transport.Kafka.KafkaTransport(servers);
            using var store = Sidep.Storage.Postgres.PostgresStore.Open(connection);
            Terminology terminology = Terminology.CreateNational();
            using IStageWorker worker = Stages.Create(name, transport, store, terminology, sandbox: !parse.GetValue(production), pseudonyms,
                parse.GetValue(researchDir)!);
            Console.WriteLine($"worker: stage {name}, topic {Stages.TopicOf(name)} → PostgreSQL. Ctrl+C to stop.");
            try
            {
                await worker.RunAsync(ct);
            }
            catch (OperationCanceledException) when (ct.IsCancellationRequested)
            {
            }
            Console.WriteLine($"worker: stage {name} stopped");
            return 0;
        });
        return command;
    }

    private static Command KafkaCommand()
    {
        var bootstrap = new Option<string?>("--bootstrap") { Description = "Kafka bootstrap servers (default: $SIDEP_KAFKA_BOOTSTRAP)" };
        var apply = new Command("apply", "Create the topics of infra/kafka/topics.json that do not exist yet") { bootstrap };
        apply.SetAction(async (parse, ct) =>
        {
            string? servers = parse.GetValue(bootstrap) ?? Environment.GetEnvironmentVariable("SIDEP_KAFKA_BOOTSTRAP");
            if (string.IsNullOrEmpty(servers))
            {
                Console.Error.WriteLine("bootstrap servers are needed (--bootstrap or $SIDEP_KAFKA_BOOTSTRAP)");
                return 2;
            }
            try
            {
                foreach (string line in await Sidep.Transport.Kafka.KafkaTransport.ApplyTopicsAsync(servers))
                {
                    Console.WriteLine(line);
                }
                return 0;
            }
            catch (Confluent.Kafka.KafkaException ex)
            {
                Console.Error.WriteLine($"kafka: {ex.Message}");
                return 1;
            }
        });
        return new Command("kafka", "The Kafka transport of the distributed mode") { apply };
    }

    private static Command Research()
    {
        Option<string> dataDir = DataDirOption();
        var output = new Option<DirectoryInfo>("--out") { Required = true, Description = "Directory to write the extract and its manifest to" };
        var from = new Option<string?>("--from") { Description = "First sample day, YYYY-MM-DD" };
        var to = new Option<string?>("--to") { Description = "Last sample day, YYYY-MM-DD" };
        var k = new Option<int>("--k") { Description = "Smallest group allowed over (age class, sex, territory, sample week)", DefaultValueFactory = _ => 5 };
        var export = new Command("export", "Write a k-anonymous research extract (Parquet + manifest) from the research partitions") { dataDir, output, from, to, k };
        export.SetAction(async (parse, ct) =>
        {
            DateOnly? first = null, last = null;
            foreach ((Option<string?> option, Action<DateOnly> set) in new (Option<string?>, Action<DateOnly>)[] { (from, d => first = d), (to, d => last = d) })
            {
                if (parse.GetValue(option) is string text)
                {
                    if (!DateOnly.TryParseExact(text, "yyyy-MM-dd", System.Globalization.CultureInfo.InvariantCulture, System.Globalization.DateTimeStyles.None, out DateOnly d))
                    {
                        Console.Error.WriteLine($"{option.Name} '{text}' is not a date YYYY-MM-DD");
                        return 2;
                    }
                    set(d);
                }
            }
            try
            {
                ResearchExtractManifest manifest = await ResearchExtract.CreateAsync(Path.Combine(parse.GetValue(dataDir)!, "research"), parse.GetValue(output)!.FullName,
                    first, last, Math.Max(1, parse.GetValue(k)), cancellationToken: ct);
                Console.WriteLine($"{Path.Combine(parse.GetValue(output)!.FullName, manifest.File)}: {manifest.Rows} rows of {manifest.SourceRows}; " +
                    $"smallest group {manifest.SmallestGroup} over {manifest.QuasiIdentifiers}" +
                    (manifest.Generalised ? $" (generalised: the recorded detail gave a group of {manifest.SmallestGroupAsRecorded}; {manifest.SuppressedRows} rows suppressed)" : ""));
                return 0;
            }
            catch (InvalidOperationException ex)
            {
                Console.Error.WriteLine(ex.Message);
                return 2;
            }
        });
        return new Command("research", "The pseudonymised research sink") { export };
    }

    private static Command Agents()
    {
        var key = new Option<string?>("--key") { Description = "The signing secret given to 'sidep serve --agent-key' (default: $SIDEP_AGENT_KEY)" };
        var agent = new Option<string>("--agent") { Required = true, Description = "The agent's identifier (the token's subject)" };
        var role = new Option<string>("--role") { Required = true, Description = "investigator, supervisor, auditor or notifier" };
        role.AcceptOnlyFromAmong(AgentRoles.All);
        var territory = new Option<string[]>("--territory") { Description = "A département (75, 2A, 971) or a région (reg:11); repeat for several", AllowMultipleArgumentsPerToken = true };
        var hours = new Option<double>("--hours") { Description = "How long the token is valid", DefaultValueFactory = _ => 8 };
        var issuer = new Option<string>("--issuer") { Description = "The issuer the server expects", DefaultValueFactory = _ => AgentTokens.DefaultIssuer };
        var token = new Command("token", "Mint an agent's bearer token (JWT, HS256) for tests and demos; prints it") { key, agent, role, territory, hours, issuer };
        token.SetAction(parse =>
        {
            string? secret = parse.GetValue(key) ?? Environment.GetEnvironmentVariable("SIDEP_AGENT_KEY");
            if (secret is not { Length: >= 32 })
            {
                Console.Error.WriteLine("the signing key is needed (--key or $SIDEP_AGENT_KEY), 32 bytes or more, as given to 'sidep serve --agent-key'.");
                return 2;
            }
            double lifetime = parse.GetValue(hours);
            if (!(lifetime > 0) || lifetime > AgentTokens.MaxLifetime.TotalHours)
            {
                Console.Error.WriteLine($"--hours must be more than 0 and at most {AgentTokens.MaxLifetime.TotalHours} (a token is minted to be used, then renewed)");
                return 2;
            }
            string[] territories = parse.GetValue(territory) ?? [];
            var unknown = territories.Where(t => Sidep.Indicators.Geography.France.DepartementIndex(t) < 0
                && !(t.StartsWith("reg:", StringComparison.Ordinal) && Sidep.Indicators.Geography.France.RegionIndex(t[4..]) >= 0)).ToList();
            if (unknown.Count > 0)
            {
                Console.Error.WriteLine($"unknown territories: {string.Join(", ", unknown)} (a département code, or reg: and a région code)");
                return 2;
            }
            Console.WriteLine(AgentTokens.Mint(secret, parse.GetValue(agent)!, parse.GetValue(role)!, territories, TimeSpan.FromHours(parse.GetValue(hours)), parse.GetValue(issuer)!));
            return 0;
        });
        return new Command("agents", "Contact-tracing agents' access") { token };
    }

    private static Command Quarantine()
    {
        (Option<string> server, Option<string?> apiKey) = ServerOptions();
        var command = new Command("quarantine", "List the lab's results waiting for a LOINC mapping, per local code") { server, apiKey };
        command.SetAction(async (parse, ct) =>
        {
            using HttpClient? http = Client(parse, server, apiKey);
            return http is null ? 2 : await Print(await http.GetAsync("/v1/quarantine", ct), ct);
        });
        return command;
    }

    private static Command IdentityQuality()
    {
        var persons = new Option<int>("--persons") { Description = "Synthetic persons to generate", DefaultValueFactory = _ => 100_000 };
        var seed = new Option<int>("--seed") { Description = "Random seed (the same seed gives the same population)", DefaultValueFactory = _ => 1 };
        var withoutIns = new Option<double>("--without-ins") { Description = "Share of results without INS", DefaultValueFactory = _ => 0.4 };
        var typo = new Option<double>("--typo") { Description = "Chance of a typo per name of a result without INS", DefaultValueFactory = _ => 0.03 };
        var command = new Command("identity-quality", "Measure the identity matcher on labelled synthetic identities: precision, recall, false merges") { persons, seed, withoutIns, typo };
        command.SetAction(parse =>
        {
            var options = new Sidep.Identity.Quality.SyntheticOptions(Persons: parse.GetValue(persons), Seed: parse.GetValue(seed),
                WithoutIns: parse.GetValue(withoutIns), Typo: parse.GetValue(typo));
            var results = Sidep.Identity.Quality.SyntheticIdentities.Generate(options);
            Console.WriteLine($"population: {options}");
            Console.WriteLine(Sidep.Identity.Quality.QualityReport.Measure(results));
            return 0;
        });
        return command;
    }

    private static Command IdentityBench()
    {
        var persons = new Option<int>("--persons") { Description = "Persons in the index", DefaultValueFactory = _ => 10_000_000 };
        var sample = new Option<int>("--sample") { Description = "Results matched against the full index (timed)", DefaultValueFactory = _ => 1_000_000 };
        var command = new Command("identity-bench", "Speed and memory of the identity matcher against a large index (one core)") { persons, sample };
        command.SetAction(parse =>
        {
            int n = parse.GetValue(persons), m = Math.Min(parse.GetValue(sample), parse.GetValue(persons));
            long before = GC.GetTotalMemory(forceFullCollection: true);
            var matcher = new Sidep.Identity.Matcher();
            var build = System.Diagnostics.Stopwatch.StartNew();
            var random = new Random(1);
            for (int i = 0; i < n; i++)
            {
                Domain.PatientIdentity p = Sidep.Identity.Quality.SyntheticIdentities.RandomPerson(random);
                // 40 % of the index was built from results without INS, as in 2020.
                matcher.Match(i % 5 < 2 ? p with { Ins = null } : p);
            }
            build.Stop();
            long after = GC.GetTotalMemory(forceFullCollection: true);
            Console.WriteLine($"index: {matcher.PersonCount:N0} persons from {n:N0} results in {build.Elapsed.TotalSeconds:F1} s ({n / build.Elapsed.TotalSeconds:N0} results/s while building)");
            Console.WriteLine($"memory: {(after - before) / 1048576.0:N0} MiB, {(double)(after - before) / matcher.PersonCount:N0} bytes per person");
            // The first m persons again (same seed, same sequence): a quarter as sent, a quarter without INS and with a typo,
            // a quarter as sent without INS, a quarter new persons.
            var again = new Random(1);
            var fresh = new Random(2);
            var results = new List<Domain.PatientIdentity>(m);
            for (int i = 0; i < m; i++)
            {
                Domain.PatientIdentity p = Sidep.Identity.Quality.SyntheticIdentities.RandomPerson(again);
                results.Add((i % 4) switch
                {
                    0 => p,
                    1 => Sidep.Identity.Quality.SyntheticIdentities.WithoutInsWithTypo(p, fresh),
                    2 => p with { Ins = null },
                    _ => Sidep.Identity.Quality.SyntheticIdentities.RandomPerson(fresh),
                });
            }
            TimeSpan pausedBefore = GC.GetTotalPauseDuration();
            var timed = System.Diagnostics.Stopwatch.StartNew();
            foreach (Domain.PatientIdentity p in results)
            {
                matcher.Match(p);
            }
            timed.Stop();
            Console.WriteLine($"matching: {m:N0} results against the index in {timed.Elapsed.TotalSeconds:F2} s: {m / timed.Elapsed.TotalSeconds:N0} results/s on one core " +
                $"(garbage collection pauses: {(GC.GetTotalPauseDuration() - pausedBefore).TotalSeconds:F2} s)");
            return 0;
        });
        return command;
    }

    /// <summary>The format of a file from its first bytes; the stream is left at its start.</summary>
    private static string Sniff(FileStream stream)
    {
        Span<byte> head = stackalloc byte[64];
        int read = stream.ReadAtLeast(head, head.Length, throwOnEndOfStream: false);
        stream.Position = 0;
        return Formats.Sniff(head[..read]);
    }

    private static Command Validate()
    {
        var files = new Argument<FileInfo[]>("files") { Arity = ArgumentArity.OneOrMore, Description = "HL7 v2, HPRIM or FHIR files to check" };
        var format = FormatOption();
        var production = new Option<bool>("--production") { Description = "Check as production does (test and demo INS OIDs refused)" };
        var show = new Option<bool>("--show") { Description = "Also show what Sidep understood of each result: patient, INS check, test and LOINC, value, dates, how it counts and whether it reaches contact tracing (offline: identity not masked)" };
        var command = new Command("validate", "Offline conformance report: parse and check files, store nothing (exit 1 if anything is rejected)") { files, format, production, show };
        command.SetAction(async (parse, ct) =>
        {
            var ingestion = new IngestionService(null, new Parsing.Hl7v2.Hl7ParserOptions { Production = parse.GetValue(production) });
            int exit = 0;
            foreach (FileInfo file in parse.GetValue(files)!)
            {
                if (!file.Exists)
                {
                    Console.Error.WriteLine($"{file}: no such file");
                    exit = 2;
                    continue;
                }
                byte[] bytes = await File.ReadAllBytesAsync(file.FullName, ct);
                SubmissionOutcome outcome = await ingestion.SubmitAsync(null, new System.Buffers.ReadOnlySequence<byte>(bytes), Formats.Sniff(bytes), "validate", dryRun: true, ct);
                if (parse.GetValue(show) && outcome.Understood is { } understood)
                {
                    if (parse.GetValue(format) == "json")
                    {
                        Console.WriteLine(JsonSerializer.Serialize(new UnderstoodSubmission(outcome.Report, understood), SidepJson.Default.UnderstoodSubmission));
                    }
                    else
                    {
                        ReportPrinter.Print(Console.Out, file.Name, outcome.Report);
                        ReportPrinter.PrintUnderstood(Console.Out, understood);
                    }
                }
                else
                {
                    Output(parse.GetValue(format)!, file.Name, outcome.Report);
                }
                exit = Math.Max(exit, outcome.Report.AnyRejected ? 1 : 0);
            }
            return exit;
        });
        return command;
    }

    private static Command Labs()
    {
        Option<string> dataDir = DataDirOption();
        Option<string?> postgres = LabRegisterOption();
        var finess = new Option<string>("--finess") { Required = true, Description = "The lab's FINESS number" };
        var name = new Option<string>("--name") { Required = true, Description = "The lab's name" };
        var facility = new Option<string[]>("--facility") { Description = "Other identifiers it sends as in MSH-4 (repeatable)", AllowMultipleArgumentsPerToken = true };
        var mllpSource = new Option<string[]>("--mllp-source") { Description = "Source IP address of its plain-TCP MLLP connections (repeatable)", AllowMultipleArgumentsPerToken = true };
        var mllpCert = new Option<string[]>("--mllp-cert") { Description = "SHA-256 thumbprint (hex) of a client certificate of its MLLP/TLS connections (repeatable)", AllowMultipleArgumentsPerToken = true };
        var add = new Command("add", "Register (or re-key) a lab and print its API key, shown only once; registering it again replaces its facility ids, MLLP sources and certificates") { dataDir, postgres, finess, name, facility, mllpSource, mllpCert };
        add.SetAction(async (parse, ct) =>
        {
            using IDisposable register = await OpenLabRegisterAsync(parse.GetValue(dataDir)!, parse.GetValue(postgres), ct);
            try
            {
                string key = ((ILabRegister)register).AddLab(parse.GetValue(finess)!, parse.GetValue(name)!, parse.GetValue(facility) ?? [], parse.GetValue(mllpSource) ?? [], parse.GetValue(mllpCert) ?? []);
                Console.WriteLine(key);
                return 0;
            }
            catch (LabConflictException ex)
            {
                Console.Error.WriteLine($"sidep: not registered: {ex.Message}");
                return 2;
            }
        });
        Option<string> listDir = DataDirOption();
        Option<string?> listPostgres = LabRegisterOption();
        var list = new Command("list", "List registered labs") { listDir, listPostgres };
        list.SetAction(async (parse, ct) =>
        {
            using IDisposable register = await OpenLabRegisterAsync(parse.GetValue(listDir)!, parse.GetValue(listPostgres), ct);
            foreach (Lab lab in ((ILabRegister)register).ListLabs())
            {
                Console.WriteLine($"{lab.Finess}\t{lab.Name}\tfacilities: {string.Join(",", lab.FacilityIds)}\tmllp sources: {string.Join(",", lab.MllpSources)}\tmllp certificates: {string.Join(",", lab.MllpCertificates)}");
            }
            return 0;
        });
        return new Command("labs", "Manage registered laboratories") { add, list };
    }

    private static Option<string?> LabRegisterOption() => new("--postgres")
    {
        Description = "The distributed mode's lab register: a PostgreSQL connection string (default $SIDEP_POSTGRES); without it, the data directory's (embedded mode)",
        DefaultValueFactory = _ => Environment.GetEnvironmentVariable("SIDEP_POSTGRES") is { Length: > 0 } env ? env : null,
    };

    /// <summary>The lab register of the embedded mode (the data directory's database) or of the distributed mode.</summary>
    private static async Task<IDisposable> OpenLabRegisterAsync(string dataDirectory, string? postgres, CancellationToken ct)
    {
        if (postgres is null)
        {
            return StateStore.Open(dataDirectory);
        }
        await Sidep.Storage.Postgres.PostgresStore.MigrateAsync(postgres, ct);
        return Sidep.Storage.Postgres.PostgresStore.Open(postgres);
    }
}

internal static class ServiceProviderExtensions
{
    public static MllpListener GetMllp(this IServiceProvider sp) => (MllpListener)sp.GetService(typeof(MllpListener))!;
}
