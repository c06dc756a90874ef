using Sidep.Domain;
using Sidep.Pipeline;
using Sidep.Ingestion;
using Sidep.Storage.Postgres;
using Sidep.Transport;
using Sidep.Transport.Kafka;

namespace Sidep.Storage.Tests;

public sealed class WorkerFailoverTests(KafkaCluster kafka, PostgresCluster postgres) : IClassFixture<KafkaCluster>, IClassFixture<PostgresCluster>
{
    private static byte[] Envelope(int n) => ResultStoreStage.Payload(new ResultEnvelope($"sub_{n}", 1, "accepted", DateTimeOffset.UtcNow, "http",
        new LabResult
        {
            LabId = "990000001",
            AccessionId = $"F{n}",
            AnalysisAsSent = new CodedValue("94500-6"),
            Loinc = "94500-6",
            Value = new ResultValue(Interpretation.Negative, "x"),
            Status = ResultStatus.Final,
            Patient = new PatientIdentity { BirthDate = new PartialDate(1980 + n % 30, 1 + n % 12, 1 + n % 28), Sex = Sex.Female },
        }), new byte[32]);

    [Fact]
    public async Task When_one_of_two_store_workers_stops_mid_stream_the_other_takes_its_partitions_and_every_result_is_stored_once()
    {
        string topic = $"failover.{Guid.NewGuid():N}";
        await using var transport = new KafkaTransport(kafka.Bootstrap);
        using PostgresStore store = PostgresStore.Open(await postgres.NewDatabaseAsync());
        await transport.PublishAsync(topic, [.. Enumerable.Range(0, 1000).Select(n => new OutgoingMessage($"key{n % 40}", Envelope(n)))]);

        var first = new ResultStoreStage(transport, store, topic, group: "store-workers");
        using var second = new ResultStoreStage(transport, store, topic, group: "store-workers");
        // Both work for a while; then the first stops in the middle of the stream.
        for (int i = 0; i < 3; i++)
        {
            await first.DrainOnceAsync(TimeSpan.FromMilliseconds(300), max: 50);
            await second.DrainOnceAsync(TimeSpan.FromMilliseconds(300), max: 50);
        }
        long before = store.CountResults();
        Assert.InRange(before, 1, 999); // mid-stream
        first.Dispose();
        DateTime until = DateTime.UtcNow + TimeSpan.FromSeconds(60);
        while (store.CountResults() < 1000 && DateTime.UtcNow < until)
        {
            await second.DrainOnceAsync(TimeSpan.FromMilliseconds(300));
        }
        Assert.Equal(1000, store.CountResults());
    }
}
