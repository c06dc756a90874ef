using System.Security.Cryptography.X509Certificates;
using Microsoft.AspNetCore.Builder;
using Microsoft.Extensions.DependencyInjection;
using Microsoft.Extensions.Hosting;
using Sidep.Journal;

namespace Sidep.Host;

/// <summary>`sidep serve` and `sidep gateway`: the server, embedded or distributed.</summary>
public static partial class Cli
{
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
        var defaults = new LabHealthOptions();
        var labSilence = new Option<double>("--lab-silence-hours") { Description = "Lab health: a lab is silent after at least this many hours without a result…", DefaultValueFactory = _ => defaults.MinSilence.TotalHours };
        var labSilentExpected = new Option<double>("--lab-silent-expected") { Description = "…when its history expected at least this many results over the silence", DefaultValueFactory = _ => defaults.SilentExpected };
        var labDropWindow = new Option<double>("--lab-drop-window-hours") { Description = "Lab health: a lab is dropping when over this many hours…", DefaultValueFactory = _ => defaults.DropWindow.TotalHours };
        var labDropRatio = new Option<double>("--lab-drop-ratio") { Description = "…it sent less than this share of its usual volume for those hours of that weekday", DefaultValueFactory = _ => defaults.DropRatio };
        var labHistory = new Option<int>("--lab-history-weeks") { Description = "Lab health: weeks of each lab's own history its usual volume is the mean of", DefaultValueFactory = _ => defaults.HistoryWeeks };
        var personKey = new Option<string>("--person-key")
        {
            Description = "What the indicators count persons by: sidep (the matcher's persons) or spf2021 (SPF's key since May 2021: birth name, first given name, age, sex — to reproduce the published figures)",
            DefaultValueFactory = _ => PersonKeyNames.Sidep,
        };
        personKey.AcceptOnlyFromAmong(PersonKeyNames.Sidep, PersonKeyNames.Spf2021);
        var kafka = new Option<string?>("--kafka") { Description = gatewayOnly ? "Kafka bootstrap servers (default: $SIDEP_KAFKA_BOOTSTRAP); 'mock': librdkafka's mock cluster in this process"
            : "Distributed mode: Kafka bootstrap servers ('mock': librdkafka's mock cluster in this process); with --postgres" };
        var postgres = new Option<string?>("--postgres") { Description = gatewayOnly ? "PostgreSQL connection string (default: $SIDEP_POSTGRES)" : "Distributed mode: PostgreSQL connection string; with --kafka" };
        var command = new Command(name, gatewayOnly
            ? "Run the gateway role of the distributed mode: HTTP and MLLP in, results to Kafka, indicators and cases read from PostgreSQL (workers run apart: sidep worker)"
            : "Run Sidep: HTTP gateway, MLLP listener and every stage — embedded (durable local log and database), or distributed with --kafka and --postgres")
        { dataDir, urls, mllpPort, demo, production, maxBody, tlsCert, tlsPassword, operatorToken, agentKey, agentIssuer, researchKeys, kafka, postgres, maxLag, segmentBytes, mllpMax, mllpMaxPerSource, honourAckTypes,
            labSilence, labSilentExpected, labDropWindow, labDropRatio, labHistory, personKey };
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
                MllpMaxConnections: Math.Max(1, parse.GetValue(mllpMax)), MllpMaxConnectionsPerSource: Math.Max(1, parse.GetValue(mllpMaxPerSource)), MllpHonourAckTypes: parse.GetValue(honourAckTypes))
            {
                PersonKey = parse.GetValue(personKey)!,
                LabHealth = defaults with
                {
                    MinSilence = TimeSpan.FromHours(parse.GetValue(labSilence)),
                    SilentExpected = parse.GetValue(labSilentExpected),
                    DropWindow = TimeSpan.FromHours(parse.GetValue(labDropWindow)),
                    DropRatio = parse.GetValue(labDropRatio),
                    HistoryWeeks = parse.GetValue(labHistory),
                },
            };
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
}
