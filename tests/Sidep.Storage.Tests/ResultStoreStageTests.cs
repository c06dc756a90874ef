using Sidep.Domain;
using Sidep.Ingestion;
using Sidep.Journal;
using Sidep.Pipeline;
using Sidep.Storage.Sqlite;
using Sidep.Storage.Postgres;
using Sidep.Transport;
using Sidep.Tests;
using Sidep.Transport.Kafka;

namespace Sidep.Storage.Tests;

/// <summary>`worker --stage store` on both pairs of backends: the in-process log into SQLite, Kafka into PostgreSQL.</summary>
public abstract class ResultStoreStageContractTests
{
    protected abstract Task<(IStageTransport Transport, IStageStore Store)> OpenAsync();

    private static byte[] Envelope(int n, int version = 1) => ResultStoreStage.Payload(new ResultEnvelope($"sub_{n}", version, "accepted", DateTimeOffset.UtcNow, "http",
        new LabResult
        {
            LabId = "990000001",
            AccessionId = $"A{n}",
            AnalysisAsSent = new CodedValue("94500-6"),
            Loinc = "94500-6",
            Value = new ResultValue(n % 3 == 0 ? Interpretation.Positive : Interpretation.Negative, "x"),
            Status = ResultStatus.Final,
            Patient = new PatientIdentity { BirthDate = new PartialDate(1980 + n % 30, 1 + n % 12, 1 + n % 28), Sex = n % 2 == 0 ? Sex.Female : Sex.Male },
        }), new byte[32]);

    [Fact]
    public async Task Results_flow_from_the_transport_into_the_store_once_even_when_a_crash_loses_the_transport_commit()
    {
        (IStageTransport transport, IStageStore store) = await OpenAsync();
        await using (transport)
        using (store)
        {
            string topic = $"results.{Guid.NewGuid():N}";
            var messages = Enumerable.Range(0, 200).Select(n => new OutgoingMessage($"key{n % 17}", Envelope(n))).ToList();
            messages.Insert(50, new OutgoingMessage("key3", "not a result"u8.ToArray()));
            await transport.PublishAsync(topic, messages);

            using (var worker = new ResultStoreStage(transport, store, topic))
            {
                for (int i = 0; i < 100 && store.CountResults() < 200; i++)
                {
                    await worker.DrainOnceAsync(TimeSpan.FromMilliseconds(300));
                }
            }
            Assert.Equal(200, store.CountResults());

            // The dead letter says why; the stream went on past it.
            using (IStageConsumer dlt = transport.Subscribe(TransportHeaders.DeadLetterTopic(topic), "dlt"))
            {
                IncomingMessage? poison = null;
                for (int i = 0; i < 60 && poison is null; i++)
                {
                    poison = dlt.Poll(1, TimeSpan.FromMilliseconds(500)).FirstOrDefault();
                }
                Assert.NotNull(poison);
                Assert.StartsWith("not a result envelope", poison!.Headers[TransportHeaders.Reason]);
            }

            // As if every transport commit had been lost in a crash: a worker of a new group is given everything again
            // from the start, and the store's positions keep it from writing anything twice.
            await transport.PublishAsync(topic, [new OutgoingMessage("key1", Envelope(7, version: 2))]);
            using (var again = new ResultStoreStage(transport, store, topic, group: "sidep-result-store-after-a-crash"))
            {
                for (int i = 0; i < 20; i++)
                {
                    await again.DrainOnceAsync(TimeSpan.FromMilliseconds(300));
                }
            }
            Assert.Equal(200, store.CountResults()); // version 2 of A7 replaced version 1
        }
    }
}

public sealed class InProcessSqliteResultStoreTests : ResultStoreStageContractTests, IDisposable
{
    private readonly TempDir _dir = new();

    protected override Task<(IStageTransport, IStageStore)> OpenAsync() =>
        Task.FromResult<(IStageTransport, IStageStore)>((new InProcessTransport(Path.Combine(_dir.Path, "log"), 4), StateStore.Open(_dir.Path)));

    public void Dispose() => _dir.Dispose();
}

public sealed class KafkaPostgresResultStoreTests(KafkaCluster kafka, PostgresCluster postgres) : ResultStoreStageContractTests, IClassFixture<KafkaCluster>, IClassFixture<PostgresCluster>
{
    protected override async Task<(IStageTransport, IStageStore)> OpenAsync() =>
        (new KafkaTransport(kafka.Bootstrap), PostgresStore.Open(await postgres.NewDatabaseAsync()));
}

public class ResultRecordTests
{
    private static string Json(ResultEnvelope? e) => System.Text.Json.JsonSerializer.Serialize(e, SidepJson.Default.ResultEnvelope!);

    [Fact]
    public void A_result_record_carries_its_envelope_in_binary_and_records_of_earlier_layouts_are_still_read()
    {
        var parsed = new Sidep.Parsing.Hl7v2.Hl7v2Parser().Parse(System.Buffers.BuffersExtensions.ToArray(IdentityFixtures.Message("ACC1", IdentityFixtures.ThreeLabs[0])));
        LabResult result = parsed.Messages[0].Items[0].Result! with { Loinc = "94500-6" };
        var envelope = new ResultEnvelope("sub", 3, "correction", DateTimeOffset.UtcNow, "http", result);
        byte[] json = System.Text.Json.JsonSerializer.SerializeToUtf8Bytes(envelope, SidepJson.Default.ResultEnvelope);
        byte[] hash = new byte[32];
        hash[0] = 7;

        byte[] payload = ResultRecords.Encode(hash, envelope);
        Assert.True(ResultRecords.IsBinary(payload));
        Assert.Equal((3, 7), (ResultRecords.Version(payload), (int)ResultRecords.ContentHash(payload)[0]));
        Assert.Equal(Json(envelope), Json(ResultStoreStage.Read(payload, out _)));
        Assert.True(payload.Length < json.Length / 2 + 36, $"binary {payload.Length} bytes, JSON {json.Length}");

        // Written by earlier releases: the JSON right after the version, or behind a marker and a summary.
        byte[] first = [.. hash, .. BitConverter.GetBytes(3), .. json];
        byte[] summarised = [.. hash, .. BitConverter.GetBytes(3), 0x01, 2, 0, 0xAA, 0xBB, .. json];
        Assert.Equal(Json(envelope), Json(ResultStoreStage.Read(first, out _)));
        Assert.Equal(Json(envelope), Json(ResultStoreStage.Read(summarised, out _)));

        // Damaged (cut short anywhere): no envelope, and a reason the store stage dead-letters it with — never an exception.
        for (int cut = 0; cut < payload.Length; cut++)
        {
            Assert.Null(ResultStoreStage.Read(payload.AsSpan(0, cut), out string? reason));
            Assert.False(string.IsNullOrEmpty(reason));
        }
    }
}
