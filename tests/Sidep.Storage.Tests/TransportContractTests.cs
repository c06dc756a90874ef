using System.Text;
using Sidep.Transport;
using Sidep.Transport.Kafka;

using Sidep.Tests;
using static Sidep.Tests.TransportPolling;

namespace Sidep.Storage.Tests;

/// <summary>The transport contract, run on the in-process log and on Kafka (librdkafka's mock cluster, or the broker
/// named by $SIDEP_KAFKA_BOOTSTRAP): the same tests, two transports.</summary>
public abstract class TransportContractTests
{
    protected abstract IStageTransport Open();

    private static string NewTopic() => $"test.{Guid.NewGuid():N}";

    private static OutgoingMessage Message(string key, int n, Dictionary<string, string>? headers = null) => new(key, Encoding.UTF8.GetBytes(n.ToString(System.Globalization.CultureInfo.InvariantCulture)), headers);

    private static int Value(IncomingMessage m) => int.Parse(Encoding.UTF8.GetString(m.Payload.Span), System.Globalization.CultureInfo.InvariantCulture);

    [Fact]
    public async Task Messages_of_a_key_are_consumed_in_order_with_their_headers()
    {
        await using IStageTransport transport = Open();
        string topic = NewTopic();
        await transport.PublishAsync(topic, [.. Enumerable.Range(0, 60).Select(n => Message($"1985-03-{n % 6:D2}|F", n, new() { ["h"] = $"v{n}" }))]);
        using IStageConsumer consumer = transport.Subscribe(topic, "group-a");
        List<IncomingMessage> got = PollUntil(consumer, 60);
        Assert.Equal(60, got.Count);
        foreach (IGrouping<string, IncomingMessage> key in got.GroupBy(m => m.Key))
        {
            int[] values = [.. key.Select(Value)];
            Assert.Equal(values.Order(), values);
            Assert.Equal(key.First().Partition, key.Last().Partition);
        }
        Assert.All(got, m => Assert.Equal($"v{Value(m)}", m.Headers["h"]));
    }

    [Fact]
    public async Task Headers_come_back_as_published_looked_up_one_by_one_or_all_together()
    {
        await using IStageTransport transport = Open();
        string topic = NewTopic();
        var headers = new Dictionary<string, string> { ["a"] = "", ["sidep-kind"] = "merged", ["nom"] = "Hélène Ærø ✓", [new string('n', 300)] = "long name" };
        await transport.PublishAsync(topic, [Message("k", 1, headers), Message("k", 2)]);
        using IStageConsumer consumer = transport.Subscribe(topic, "group-h");
        List<IncomingMessage> got = PollUntil(consumer, 2);

        IReadOnlyDictionary<string, string> first = got.Single(m => Value(m) == 1).Headers;
        Assert.Equal(("", "merged", "Hélène Ærø ✓", "long name"), (first["a"], first["sidep-kind"], first["nom"], first[new string('n', 300)]));
        Assert.False(first.TryGetValue("sidep-kin", out _));
        Assert.False(first.ContainsKey("absent"));
        Assert.Equal(headers.OrderBy(h => h.Key, StringComparer.Ordinal), first.Where(h => !h.Key.StartsWith("traceparent", StringComparison.Ordinal))
            .OrderBy(h => h.Key, StringComparer.Ordinal));
        Assert.False(got.Single(m => Value(m) == 2).Headers.ContainsKey("a"));
    }

    [Fact]
    public async Task A_group_resumes_after_what_it_committed_and_gets_again_what_it_did_not()
    {
        await using IStageTransport transport = Open();
        string topic = NewTopic();
        await transport.PublishAsync(topic, [.. Enumerable.Range(0, 20).Select(n => Message("k", n))]);
        using (IStageConsumer first = transport.Subscribe(topic, "group-b"))
        {
            List<IncomingMessage> got = PollUntil(first, 20);
            first.Commit([.. got.Where(m => Value(m) < 12)]); // the work of the first 12 is durable; the rest is not
        }
        using IStageConsumer second = transport.Subscribe(topic, "group-b");
        List<IncomingMessage> again = PollUntil(second, 8);
        Assert.Equal(Enumerable.Range(12, 8), again.Select(Value));

        using IStageConsumer other = transport.Subscribe(topic, "group-c"); // another group reads everything
        Assert.Equal(20, PollUntil(other, 20).Count);
    }

    [Fact]
    public async Task A_partition_can_be_read_again_from_any_offset_without_moving_a_group()
    {
        await using IStageTransport transport = Open();
        string topic = NewTopic();
        await transport.PublishAsync(topic, [.. Enumerable.Range(0, 30).Select(n => Message("one-key", n))]);
        long[] ends = transport.EndOffsets(topic);
        int partition = Array.FindIndex(ends, e => e > 0);
        Assert.Equal(30, ends[partition]);
        Assert.Equal(30, ends.Sum());
        Assert.Equal(Enumerable.Range(0, 30), transport.ReadRange(topic, partition, 0, ends[partition]).Select(Value));
        Assert.Equal(Enumerable.Range(10, 5), transport.ReadRange(topic, partition, 10, 15).Select(Value));
        Assert.Empty(transport.ReadRange(topic, partition, 7, 7));
        using IStageConsumer group = transport.Subscribe(topic, "group-e"); // the reads moved no group's position
        Assert.Equal(30, PollUntil(group, 30).Count);
    }

    [Fact]
    public async Task A_consumer_sent_back_to_an_offset_gets_the_messages_from_there_again()
    {
        await using IStageTransport transport = Open();
        string topic = NewTopic();
        await transport.PublishAsync(topic, [.. Enumerable.Range(0, 10).Select(n => Message("one-key", n))]);
        using IStageConsumer consumer = transport.Subscribe(topic, "group-f");
        List<IncomingMessage> all = PollUntil(consumer, 10);
        consumer.Seek(all[0].Partition, all[3].Offset);
        Assert.Equal(Enumerable.Range(3, 7), PollUntil(consumer, 7).Select(Value));
    }

    [Fact]
    public async Task A_poison_message_goes_to_the_dead_letter_topic_with_its_reason_and_the_stream_goes_on()
    {
        await using IStageTransport transport = Open();
        string topic = NewTopic();
        await transport.PublishAsync(topic, [Message("k", 1), Message("k", 2), Message("k", 3)]);
        using (IStageConsumer consumer = transport.Subscribe(topic, "group-d"))
        {
            foreach (IncomingMessage m in PollUntil(consumer, 3))
            {
                if (Value(m) == 2)
                {
                    await consumer.DeadLetterAsync(m, "unreadable payload: expected a matched result");
                }
                else
                {
                    consumer.Commit([m]);
                }
            }
        }
        using IStageConsumer dlt = transport.Subscribe(TransportHeaders.DeadLetterTopic(topic), "dlt-reader");
        IncomingMessage poison = Assert.Single(PollUntil(dlt, 1));
        Assert.Equal(2, Value(poison));
        Assert.Equal("unreadable payload: expected a matched result", poison.Headers[TransportHeaders.Reason]);
        Assert.StartsWith($"{topic}/", poison.Headers[TransportHeaders.Source]);
        using IStageConsumer resumed = transport.Subscribe(topic, "group-d");
        Assert.Empty(resumed.Poll(10, TimeSpan.FromSeconds(2))); // nothing left: the poison did not block the stream
    }
}

public sealed class InProcessTransportContractTests : TransportContractTests, IDisposable
{
    private readonly TempDir _dir = new();

    protected override IStageTransport Open() => new InProcessTransport(_dir.Path, partitions: 4);

    public void Dispose() => _dir.Dispose();
}

public sealed class KafkaTransportContractTests(KafkaCluster cluster) : TransportContractTests, IClassFixture<KafkaCluster>
{
    protected override IStageTransport Open() => new KafkaTransport(cluster.Bootstrap);
}

public sealed class KafkaTopicTests(KafkaCluster cluster) : IClassFixture<KafkaCluster>
{
    [Fact]
    public async Task Applying_the_topic_definitions_reports_on_every_topic()
    {
        List<string> report = await KafkaTransport.ApplyTopicsAsync(cluster.Bootstrap);
        string[] names = ["sidep.results", "sidep.matched", "sidep.cases", "sidep.research", "sidep.notices"];
        foreach (string name in names.Concat(names.Select(TransportHeaders.DeadLetterTopic)))
        {
            // A real broker creates them; the mock cluster refuses CreateTopics (ARCHITECTURE.md decision 7) and says so.
            Assert.Contains(report, line => line.StartsWith(name + ": ", StringComparison.Ordinal));
        }
    }
}

public sealed class KafkaRetentionTests(KafkaCluster cluster) : IClassFixture<KafkaCluster>
{
    [Fact]
    public async Task Reading_offsets_retention_deleted_fails_loudly_instead_of_skipping_them()
    {
        if (Environment.GetEnvironmentVariable("SIDEP_KAFKA_BOOTSTRAP") is { Length: > 0 })
        {
            return; // a real broker keeps what its topic's retention says: this is the mock cluster's 5 MiB partitions
        }
        await using var transport = new KafkaTransport(cluster.Bootstrap);
        string topic = $"retention.{Guid.NewGuid():N}";
        var random = new Random(1);
        // librdkafka's mock cluster keeps 5 MiB a partition: 8 MiB of incompressible messages push the first ones out.
        for (int batch = 0; batch < 8; batch++)
        {
            await transport.PublishAsync(topic, [.. Enumerable.Range(0, 64).Select(_ =>
            {
                byte[] payload = new byte[16 * 1024];
                random.NextBytes(payload);
                return new OutgoingMessage("one-key", payload);
            })]);
        }
        long[] ends = transport.EndOffsets(topic);
        int partition = Array.FindIndex(ends, e => e > 0);
        InvalidOperationException lost = Assert.Throws<InvalidOperationException>(() => transport.ReadRange(topic, partition, 0, ends[partition]).Count());
        Assert.Contains("retention deleted them", lost.Message);
    }
}
