using Sidep.Domain;
using Sidep.Pipeline;
using Sidep.Ingestion;
using Sidep.Storage.Postgres;
using Sidep.Transport;
using Sidep.Transport.Kafka;

namespace Sidep.Storage.Tests;

public sealed class WorkerFailoverTests(KafkaCluster kafka, PostgresCluster postgres) : IClassFixture<KafkaCluster>, IClassFixture<PostgresCluster>
{
    private static byte[] Envelope(int n) => ResultRecords.Encode(new byte[32], new ResultEnvelope($"sub_{n}", 1, "accepted", DateTimeOffset.UtcNow, "http",
        new LabResult
        {
            LabId = "990000001",
            AccessionId = $"F{n}",
            AnalysisAsSent = new CodedValue("94500-6"),
            Loinc = "94500-6",
            Value = new ResultValue(Interpretation.Negative, "x"),
            Status = ResultStatus.Final,
            Patient = new PatientIdentity { BirthDate = new PartialDate(1980 + n % 30, 1 + n % 12, 1 + n % 28), Sex = Sex.Female },
        }));

    [Fact]
    public async Task When_one_of_two_match_workers_stops_mid_stream_the_other_takes_its_partitions_and_every_result_is_matched_once()
    {
        await using var transport = new KafkaTransport(kafka.Bootstrap);
        using PostgresStore store = PostgresStore.Open(await postgres.NewDatabaseAsync());
        await transport.PublishAsync(StageTopics.Results, [.. Enumerable.Range(0, 1000).Select(n => new OutgoingMessage($"key{n % 40}", Envelope(n)))]);
        // Each input's matched result on the output, once ("from" says which input it is).
        HashSet<string> Matched() => [.. Enumerable.Range(0, transport.EndOffsets(StageTopics.Matched).Length)
            .SelectMany(p => transport.ReadRange(StageTopics.Matched, p, 0, transport.EndOffsets(StageTopics.Matched)[p]))
            .Where(m => m.Headers.GetValueOrDefault(StageTopics.Kind) == "matched").Select(m => m.Headers[StageTopics.From])];
        int Published() => Enumerable.Range(0, transport.EndOffsets(StageTopics.Matched).Length)
            .Sum(p => transport.ReadRange(StageTopics.Matched, p, 0, transport.EndOffsets(StageTopics.Matched)[p]).Count(m => m.Headers.GetValueOrDefault(StageTopics.Kind) == "matched"));

        var terminology = Terminology.CreateNational();
        var first = new IdentityStage(transport, store, terminology, group: "match-workers");
        using var second = new IdentityStage(transport, store, terminology, group: "match-workers");
        // Both work for a while; then the first stops in the middle of the stream.
        for (int i = 0; i < 3; i++)
        {
            await first.DrainOnceAsync(TimeSpan.FromMilliseconds(300), max: 50);
            await second.DrainOnceAsync(TimeSpan.FromMilliseconds(300), max: 50);
        }
        Assert.InRange(Matched().Count, 1, 999); // mid-stream
        first.Dispose();
        DateTime until = DateTime.UtcNow + TimeSpan.FromSeconds(60);
        while (Matched().Count < 1000 && DateTime.UtcNow < until)
        {
            await second.DrainOnceAsync(TimeSpan.FromMilliseconds(300));
        }
        Assert.Equal(1000, Matched().Count);
        Assert.Equal(1000, Published());
        long[] ends = transport.EndOffsets(StageTopics.Results);
        Assert.All(Enumerable.Range(0, ends.Length), p => Assert.Equal(ends[p], store.GetOffset(Stages.PositionName(IdentityStage.ConsumerName, p), -1)));
    }
}
