using System.Diagnostics;
using System.Text;
using System.Text.Json;
using Confluent.Kafka;
using Confluent.Kafka.Admin;

namespace Sidep.Transport.Kafka;

/// <summary>
/// The stage transport on Kafka (Confluent.Kafka): an idempotent producer with acks=all; consumers in groups that
/// store their offsets only when the stage says its work is durable (<see cref="IStageConsumer.Commit"/>), committed
/// synchronously; rebalances reported so that a stage restores a partition's state before it processes it; fatal
/// errors stop the consumer loudly; poison messages go to the dead-letter topic with the reason in headers; the
/// current trace context travels in a traceparent header.
/// </summary>
public sealed class KafkaTransport : IStageTransport
{
    private readonly string _bootstrap;
    private readonly IProducer<string, byte[]> _producer;
    private readonly Action<string>? _onPartitionsAssigned;

    /// <param name="onPartitionsAssigned">Told "topic/partition" for each partition a consumer is given.</param>
    public KafkaTransport(string bootstrap, Action<string>? onPartitionsAssigned = null)
    {
        _bootstrap = bootstrap;
        _onPartitionsAssigned = onPartitionsAssigned;
        _producer = new ProducerBuilder<string, byte[]>(new ProducerConfig
        {
            BootstrapServers = bootstrap,
            Acks = Acks.All,
            EnableIdempotence = true,
            LingerMs = 2,
            CompressionType = CompressionType.Lz4,
            MessageTimeoutMs = 60_000,
        }).SetErrorHandler((_, e) =>
        {
            if (e.IsFatal)
            {
                throw new KafkaException(e);
            }
        }).Build();
    }

    /// <summary>A librdkafka mock cluster with <paramref name="brokers"/> brokers inside this process (tests), and the
    /// bootstrap addresses its metadata gives; keep the returned handle alive as long as the cluster is used.</summary>
    public static (string Bootstrap, IDisposable Cluster) StartMockCluster(int brokers = 3)
    {
        var config = new ProducerConfig { BootstrapServers = "localhost:1" };
        config.Set("test.mock.num.brokers", brokers.ToString(System.Globalization.CultureInfo.InvariantCulture));
        IProducer<Null, Null> holder = new ProducerBuilder<Null, Null>(config).SetLogHandler((_, _) => { }).Build();
        using IAdminClient admin = new DependentAdminClientBuilder(holder.Handle).Build();
        Metadata metadata = admin.GetMetadata(TimeSpan.FromSeconds(10));
        return (string.Join(',', metadata.Brokers.Select(b => $"{b.Host}:{b.Port}")), holder);
    }

    /// <summary>Creates the topics of infra/kafka/topics.json that do not exist (replication capped by the brokers
    /// there are); returns what it did per topic.</summary>
    public static async Task<List<string>> ApplyTopicsAsync(string bootstrap)
    {
        using IAdminClient admin = new AdminClientBuilder(new AdminClientConfig { BootstrapServers = bootstrap }).Build();
        Metadata metadata = admin.GetMetadata(TimeSpan.FromSeconds(10));
        var existing = metadata.Topics.Select(t => t.Topic).ToHashSet(StringComparer.Ordinal);
        using Stream stream = typeof(KafkaTransport).Assembly.GetManifestResourceStream("topics.json")!;
        using JsonDocument doc = JsonDocument.Parse(stream);
        var report = new List<string>();
        var specs = new List<TopicSpecification>();
        foreach (JsonElement t in doc.RootElement.GetProperty("topics").EnumerateArray())
        {
            string name = t.GetProperty("name").GetString()!;
            if (existing.Contains(name))
            {
                report.Add($"{name}: exists");
                continue;
            }
            specs.Add(new TopicSpecification
            {
                Name = name,
                NumPartitions = t.GetProperty("partitions").GetInt32(),
                ReplicationFactor = (short)Math.Min(t.GetProperty("replication").GetInt32(), metadata.Brokers.Count),
                Configs = t.GetProperty("config").EnumerateObject().ToDictionary(p => p.Name, p => p.Value.GetString()!),
            });
        }
        if (specs.Count > 0)
        {
            try
            {
                await admin.CreateTopicsAsync(specs, new CreateTopicsOptions { RequestTimeout = TimeSpan.FromSeconds(10), OperationTimeout = TimeSpan.FromSeconds(10) })
                    .ConfigureAwait(false);
                report.AddRange(specs.Select(s => $"{s.Name}: created ({s.NumPartitions} partitions, replication {s.ReplicationFactor})"));
            }
            catch (CreateTopicsException ex)
            {
                report.AddRange(ex.Results.Select(r => $"{r.Topic}: {(r.Error.IsError ? "not created: " + r.Error.Reason : "created")}"));
            }
            catch (KafkaException ex)
            {
                // librdkafka's mock cluster has no controller for CreateTopics (ARCHITECTURE.md decision 7).
                report.AddRange(specs.Select(s => $"{s.Name}: not created: {ex.Error.Reason}"));
            }
        }
        return report;
    }

    public async Task PublishAsync(string topic, IReadOnlyList<OutgoingMessage> messages, CancellationToken cancellationToken = default)
    {
        string? traceparent = Activity.Current?.Id;
        var pending = new List<Task<DeliveryResult<string, byte[]>>>(messages.Count);
        foreach (OutgoingMessage m in messages)
        {
            var headers = new Headers();
            foreach ((string name, string value) in m.Headers ?? new Dictionary<string, string>())
            {
                headers.Add(name, Encoding.UTF8.GetBytes(value));
            }
            if (traceparent is not null && m.Headers?.ContainsKey(TransportHeaders.TraceParent) != true)
            {
                headers.Add(TransportHeaders.TraceParent, Encoding.UTF8.GetBytes(traceparent));
            }
            pending.Add(_producer.ProduceAsync(topic, new Message<string, byte[]> { Key = m.Key, Value = m.Payload, Headers = headers }, cancellationToken));
        }
        // Durable when every message is acknowledged by all in-sync replicas; a failure surfaces here, not later.
        await Task.WhenAll(pending).ConfigureAwait(false);
    }

    public IStageConsumer Subscribe(string topic, string group) => new Consumer(this, topic, group);

    private IConsumer<string, byte[]> Reader(bool partitionEof) => new ConsumerBuilder<string, byte[]>(new ConsumerConfig
    {
        BootstrapServers = _bootstrap,
        GroupId = "sidep-reader", // never joined nor committed: partitions are assigned, not subscribed
        EnableAutoCommit = false,
        EnableAutoOffsetStore = false,
        EnablePartitionEof = partitionEof,
        IsolationLevel = IsolationLevel.ReadCommitted,
    }).SetLogHandler((_, _) => { }).Build();

    /// <summary>Asks for the topic's metadata as a producer does, so that a broker that creates topics on first use
    /// (the mock cluster) has it before a consumer subscribes; a topic created later would be seen only at the next
    /// metadata refresh.</summary>
    private void EnsureTopic(string topic) => Admin.GetMetadata(topic, TimeSpan.FromSeconds(10));

    private IAdminClient? _admin;
    private IConsumer<string, byte[]>? _watermarks;
    private readonly Lock _clients = new();

    /// <summary>An admin client on the producer's connections (made once).</summary>
    private IAdminClient Admin
    {
        get
        {
            lock (_clients)
            {
                return _admin ??= new DependentAdminClientBuilder(_producer.Handle).Build();
            }
        }
    }

    public long[] EndOffsets(string topic)
    {
        TopicMetadata? metadata = Admin.GetMetadata(topic, TimeSpan.FromSeconds(10)).Topics.FirstOrDefault(t => t.Topic == topic);
        if (metadata is null || metadata.Error.IsError)
        {
            return [];
        }
        lock (_clients)
        {
            _watermarks ??= Reader(partitionEof: false);
            return [.. metadata.Partitions.OrderBy(p => p.PartitionId)
                .Select(p => _watermarks.QueryWatermarkOffsets(new TopicPartition(topic, p.PartitionId), TimeSpan.FromSeconds(10)).High.Value)];
        }
    }

    public IEnumerable<IncomingMessage> ReadRange(string topic, int partition, long from, long to)
    {
        if (from >= to)
        {
            yield break;
        }
        using IConsumer<string, byte[]> reader = Reader(partitionEof: true);
        // Up to what the partition holds now: an end-of-partition event is believed only there (librdkafka was seen
        // reporting one at assignment, before any fetch, which made a replay stop short).
        WatermarkOffsets held = reader.QueryWatermarkOffsets(new TopicPartition(topic, partition), TimeSpan.FromSeconds(10));
        if (from < held.Low.Value && held.Low.Value > 0)
        {
            // Deleted by retention (the mock cluster keeps 5 MiB per partition; a broker its topic's retention.ms):
            // what a stage needs is gone, and going on would count wrong. Stop, loudly.
            throw new InvalidOperationException($"{topic}/{partition} no longer holds offsets {from} to {held.Low.Value - 1}: retention deleted them " +
                "before they were processed or while they are still needed to restore a stage; keep the stages' topics forever (infra/kafka/topics.json) " +
                "and the backlog under the broker's retention");
        }
        long end = Math.Min(to, held.High.Value);
        if (from >= end)
        {
            yield break;
        }
        reader.Assign(new TopicPartitionOffset(topic, partition, from));
        while (true)
        {
            ConsumeResult<string, byte[]> r = reader.Consume(TimeSpan.FromSeconds(30))
                ?? throw new TimeoutException($"{topic}/{partition}: nothing read for 30 s while reading up to offset {end}");
            if (r.IsPartitionEOF)
            {
                if (r.Offset.Value >= end)
                {
                    yield break;
                }
                continue;
            }
            // Offsets may have gaps (transaction markers): up to the first offset at or past the end.
            if (r.Offset.Value >= end)
            {
                yield break;
            }
            yield return Incoming(r);
            if (r.Offset.Value >= end - 1)
            {
                yield break;
            }
        }
    }

    private static IncomingMessage Incoming(ConsumeResult<string, byte[]> r)
    {
        var headers = new Dictionary<string, string>(StringComparer.Ordinal);
        foreach (IHeader h in r.Message.Headers ?? [])
        {
            headers[h.Key] = Encoding.UTF8.GetString(h.GetValueBytes());
        }
        return new IncomingMessage(r.Topic, r.Partition.Value, r.Offset.Value, r.Message.Key ?? "", r.Message.Value ?? [], headers);
    }

    public ValueTask DisposeAsync()
    {
        lock (_clients)
        {
            _watermarks?.Dispose();
            _admin?.Dispose();
        }
        _producer.Flush(TimeSpan.FromSeconds(10));
        _producer.Dispose();
        return ValueTask.CompletedTask;
    }

    private sealed class Consumer : IStageConsumer
    {
        private readonly KafkaTransport _transport;
        private readonly IConsumer<string, byte[]> _consumer;
        private readonly string _topic;

        public Consumer(KafkaTransport transport, string topic, string group)
        {
            _transport = transport;
            _topic = topic;
            _consumer = new ConsumerBuilder<string, byte[]>(new ConsumerConfig
            {
                BootstrapServers = transport._bootstrap,
                GroupId = group,
                AutoOffsetReset = AutoOffsetReset.Earliest,
                EnableAutoCommit = false,
                EnableAutoOffsetStore = false,
                // The classic protocol's rejoin of an emptied group hangs on the mock cluster (decision 7).
                GroupProtocol = GroupProtocol.Consumer,
                IsolationLevel = IsolationLevel.ReadCommitted,
                // A stage may subscribe before its input topic exists (auto-created by its first producer): find it
                // within seconds rather than at the default five-minute metadata refresh.
                TopicMetadataRefreshIntervalMs = 3000,
            })
            .SetErrorHandler((_, e) =>
            {
                if (e.IsFatal)
                {
                    throw new KafkaException(e);
                }
            })
            .SetPartitionsAssignedHandler((_, partitions) =>
            {
                foreach (TopicPartition p in partitions)
                {
                    transport._onPartitionsAssigned?.Invoke($"{p.Topic}/{p.Partition.Value}");
                }
            })
            .SetLogHandler((_, _) => { })
            .Build();
            transport.EnsureTopic(topic);
            _consumer.Subscribe(topic);
        }

        public IReadOnlyList<IncomingMessage> Poll(int max, TimeSpan wait)
        {
            var messages = new List<IncomingMessage>();
            TimeSpan timeout = wait;
            while (messages.Count < max)
            {
                ConsumeResult<string, byte[]>? r = _consumer.Consume(timeout);
                if (r is null || r.IsPartitionEOF)
                {
                    break;
                }
                messages.Add(Incoming(r));
                timeout = TimeSpan.Zero; // what is already there, without waiting again
            }
            return messages;
        }

        public void Commit(IReadOnlyList<IncomingMessage> processed)
        {
            if (processed.Count == 0)
            {
                return;
            }
            List<TopicPartitionOffset> offsets = [.. processed.GroupBy(m => (m.Topic, m.Partition))
                .Select(g => new TopicPartitionOffset(g.Key.Topic, g.Key.Partition, g.Max(m => m.Offset) + 1))];
            _consumer.Commit(offsets);
        }

        public void Seek(int partition, long offset) => _consumer.Seek(new TopicPartitionOffset(_topic, partition, offset));

        public async Task DeadLetterAsync(IncomingMessage message, string reason, CancellationToken cancellationToken = default)
        {
            await _transport.PublishAsync(TransportHeaders.DeadLetterTopic(message.Topic), [TransportHeaders.DeadLetter(message, reason)], cancellationToken)
                .ConfigureAwait(false);
            Commit([message]);
        }

        public void Dispose()
        {
            _consumer.Close();
            _consumer.Dispose();
        }
    }
}
