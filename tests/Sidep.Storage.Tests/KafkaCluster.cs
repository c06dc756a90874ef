using Sidep.Transport.Kafka;

namespace Sidep.Storage.Tests;

/// <summary>Kafka through Confluent.Kafka: the mock cluster (3 brokers in this process), or $SIDEP_KAFKA_BOOTSTRAP.</summary>
public sealed class KafkaCluster : IDisposable
{
    private readonly IDisposable? _mock;

    public KafkaCluster()
    {
        if (Environment.GetEnvironmentVariable("SIDEP_KAFKA_BOOTSTRAP") is { Length: > 0 } external)
        {
            Bootstrap = external;
        }
        else
        {
            (Bootstrap, _mock) = KafkaTransport.StartMockCluster(3);
        }
    }

    public string Bootstrap { get; }

    public void Dispose() => _mock?.Dispose();
}
