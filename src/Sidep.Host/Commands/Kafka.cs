namespace Sidep.Host;

/// <summary>`sidep kafka`: the distributed mode's topics.</summary>
public static partial class Cli
{
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
}
