namespace Sidep.Host;

/// <summary>`sidep worker`: one stage of the distributed mode.</summary>
public static partial class Cli
{
    private static Command Worker()
    {
        var stage = new Option<string>("--stage") { Required = true, Description = "The stage to run: store (results into the store), match (identity), aggregate (indicators), fanout (cases and notices), research (pseudonymised rows and their Parquet partitions)" };
        stage.AcceptOnlyFromAmong(Stages.Names);
        var researchDir = new Option<string>("--research-dir") { Description = "research: the directory of the Parquet partitions (shared by the research workers)", DefaultValueFactory = _ => "research" };
        var researchKeys = new Option<string?>("--research-keys") { Description = "research: pseudonymisation keys 'k1=secret;k2=secret' (default: $SIDEP_RESEARCH_KEYS)" };
        var kafka = new Option<string?>("--kafka") { Description = "Kafka bootstrap servers (default: $SIDEP_KAFKA_BOOTSTRAP)" };
        var postgres = new Option<string?>("--postgres") { Description = "PostgreSQL connection string (default: $SIDEP_POSTGRES)" };
        var production = new Option<bool>("--production") { Description = "Production mode: INS with test or demo OIDs are not trusted by the matcher" };
        var personKey = new Option<string>("--person-key")
        {
            Description = "aggregate: what the indicators count persons by, sidep or spf2021 (every aggregate worker the same)",
            DefaultValueFactory = _ => PersonKeyNames.Sidep,
        };
        personKey.AcceptOnlyFromAmong(PersonKeyNames.Sidep, PersonKeyNames.Spf2021);
        var command = new Command("worker", "Run a stage of the distributed mode: consume its Kafka topic in its consumer group, write to PostgreSQL; start as many as the topic has partitions")
        { stage, kafka, postgres, production, researchDir, researchKeys, personKey };
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
                parse.GetValue(researchDir)!, personKey: parse.GetValue(personKey)!);
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
}
