using System.Buffers;
using System.Text;
using Sidep.Ingestion;
using Sidep.Domain;
using Sidep.Journal;
using Sidep.Pipeline;
using Sidep.Storage.Sqlite;
using Sidep.Storage.Postgres;
using Sidep.Tests;
using Sidep.Transport;
using Sidep.Transport.Kafka;

using Sidep.Ingestion.Tests;

namespace Sidep.Storage.Tests;

/// <summary>The distributed mode (Kafka through Confluent.Kafka on librdkafka's mock cluster, a throwaway
/// PostgreSQL) against the embedded one, on the same workload.</summary>
public sealed class DistributedModeTests(KafkaCluster kafka, PostgresCluster postgres) : IClassFixture<KafkaCluster>, IClassFixture<PostgresCluster>
{
    internal static async Task<Workload.Outcomes> EmbeddedRunAsync()
    {
        using var dir = new TempDir();
        await using EmbeddedLog log = EmbeddedLog.Open(Path.Combine(dir.Path, "log"), 4);
        using StateStore store = StateStore.Open(dir.Path);
        await using var stages = new EmbeddedStages(log, dir.Path, store);
        await Workload.SendAsync(new IngestionService(log, terminology: stages.Terminology));
        stages.Identity();
        stages.Indicators();
        stages.FanOut();
        ResearchStage research = stages.Research();
        await stages.DrainAsync();
        await research.WritePartitionsAsync();
        return Workload.Outcome(store, stages.ResearchDirectory);
    }


    /// <summary>A gateway of the distributed mode as the host builds it: the journal on the transport, the result-key
    /// index and the INS placement shared in PostgreSQL (dispose the index).</summary>
    internal static async Task<(IngestionService Gateway, PostgresKeyIndex Index)> GatewayAsync(IStageTransport transport, string database, Terminology terminology)
    {
        PostgresKeyIndex index = await PostgresKeyIndex.OpenAsync(database, new TransportJournal(transport));
        return (new IngestionService(new TransportJournal(transport), terminology: terminology, keys: index, router: index), index);
    }

    /// <summary>Drains the stages until every one has stored a position at the end of its input.</summary>
    internal static async Task DrainAsync(IStageTransport transport, IStageStore store, params IEnumerable<(string Consumer, string Topic, Func<Task<int>> Drain)> stages)
    {
        DateTime until = DateTime.UtcNow + TimeSpan.FromSeconds(120);
        while (true)
        {
            int moved = 0;
            foreach ((string _, string _, Func<Task<int>> drain) in stages)
            {
                moved += await drain();
            }
            if (moved > 0)
            {
                continue; // still working: check the positions when the stages find nothing more
            }
            var ends = stages.Select(s => s.Topic).Distinct().ToDictionary(t => t, transport.EndOffsets);
            if (stages.All(s => ends[s.Topic].Length > 0 && Enumerable.Range(0, ends[s.Topic].Length).All(p => store.GetOffset($"{s.Consumer}/{p}", -1) >= ends[s.Topic][p])))
            {
                return;
            }
            Assert.True(DateTime.UtcNow < until, "the distributed stages did not reach the end of their input within 120 s: " + string.Join("; ",
                stages.Select(s => $"{s.Consumer}: " + string.Join(",", ends[s.Topic].Select((e, p) => $"{store.GetOffset($"{s.Consumer}/{p}", -1)}/{e}")))));
        }
    }

    [Fact]
    public async Task The_corpus_and_a_synthetic_workload_give_the_same_indicators_and_cases_as_the_embedded_mode()
    {
        Workload.Outcomes embedded = await EmbeddedRunAsync();
        Assert.NotEmpty(embedded.Indicators);
        Assert.NotEmpty(embedded.Cases);
        Assert.NotEmpty(embedded.Research);
        Assert.NotEmpty(embedded.ResearchPartitions);

        await using var transport = new KafkaTransport(kafka.Bootstrap);
        string database = await postgres.NewDatabaseAsync();
        using PostgresStore store = PostgresStore.Open(database);
        Terminology terminology = Terminology.CreateNational();
        (IngestionService gateway, PostgresKeyIndex index) = await GatewayAsync(transport, database, terminology);
        using PostgresKeyIndex _ = index;
        int sent = await Workload.SendAsync(gateway);
        Assert.Equal(sent, transport.EndOffsets(StageTopics.Results).Sum());
        using var identity = new IdentityStage(transport, store, terminology);
        using var indicators = new IndicatorStage(transport, store, terminology);
        using var fanOut = new FanOutStage(transport, store, terminology);
        using var researchDir = new TempDir();
        using var research = new ResearchStage(transport, store, terminology, EmbeddedStages.ResearchKeys, researchDir.Path);
        TimeSpan wait = TimeSpan.FromMilliseconds(200);
        await DrainAsync(transport, store,
            (IdentityStage.ConsumerName, StageTopics.Results, () => identity.DrainOnceAsync(wait)),
            (IndicatorStage.ConsumerName, StageTopics.Matched, () => indicators.DrainOnceAsync(wait)),
            (FanOutStage.ConsumerName, StageTopics.Matched, () => fanOut.DrainOnceAsync(wait)),
            (ResearchStage.ConsumerName, StageTopics.Matched, () => research.DrainOnceAsync(wait)));
        await research.WritePartitionsAsync();

        embedded.AssertEqual(Workload.Outcome(store, researchDir.Path));
    }
}


public sealed class DistributedFailoverTests(KafkaCluster kafka, PostgresCluster postgres) : IClassFixture<KafkaCluster>, IClassFixture<PostgresCluster>
{
    [Fact]
    public async Task When_a_worker_of_each_stage_is_killed_between_its_output_and_its_store_write_the_other_takes_over_and_nothing_counts_twice()
    {
        Workload.Outcomes embedded = await DistributedModeTests.EmbeddedRunAsync();

        await using var transport = new KafkaTransport(kafka.Bootstrap);
        string database = await postgres.NewDatabaseAsync();
        using PostgresStore store = PostgresStore.Open(database);
        var crashing = new CrashingStore(store, failOnWrite: 2);
        Terminology terminology = Terminology.CreateNational();
        (IngestionService gateway, PostgresKeyIndex index) = await DistributedModeTests.GatewayAsync(transport, database, terminology);
        using PostgresKeyIndex _ = index;
        await Workload.SendAsync(gateway);

        // Two workers per stage share each group; the first set dies at its second store write.
        IdentityStage identityA = new(transport, crashing, terminology);
        IndicatorStage indicatorsA = new(transport, crashing, terminology);
        FanOutStage fanOutA = new(transport, crashing, terminology);
        using var researchDir = new TempDir();
        ResearchStage researchA = new(transport, crashing, terminology, EmbeddedStages.ResearchKeys, researchDir.Path);
        using var identityB = new IdentityStage(transport, store, terminology);
        using var indicatorsB = new IndicatorStage(transport, store, terminology);
        using var fanOutB = new FanOutStage(transport, store, terminology);
        using var researchB = new ResearchStage(transport, store, terminology, EmbeddedStages.ResearchKeys, researchDir.Path);
        TimeSpan wait = TimeSpan.FromMilliseconds(200);
        var deaths = new List<string>();
        async Task<int> Alive(string name, IDisposable stage, Func<Task<int>> drain)
        {
            if (deaths.Contains(name))
            {
                return 0;
            }
            try
            {
                return await drain();
            }
            catch (IOException)
            {
                deaths.Add(name);
                stage.Dispose(); // gone: its partitions go to the other worker
                return 0;
            }
        }
        await DistributedModeTests.DrainAsync(transport, store,
            (IdentityStage.ConsumerName, StageTopics.Results, async () => await Alive("identity", identityA, () => identityA.DrainOnceAsync(wait, max: 40))
                + await identityB.DrainOnceAsync(wait, max: 40)),
            (IndicatorStage.ConsumerName, StageTopics.Matched, async () => await Alive("indicators", indicatorsA, () => indicatorsA.DrainOnceAsync(wait, max: 40))
                + await indicatorsB.DrainOnceAsync(wait, max: 40)),
            (FanOutStage.ConsumerName, StageTopics.Matched, async () => await Alive("fanout", fanOutA, () => fanOutA.DrainOnceAsync(wait, max: 40))
                + await fanOutB.DrainOnceAsync(wait, max: 40)),
            (ResearchStage.ConsumerName, StageTopics.Matched, async () => await Alive("research", researchA, () => researchA.DrainOnceAsync(wait, max: 40))
                + await researchB.DrainOnceAsync(wait, max: 40)));
        await researchB.WritePartitionsAsync();

        Assert.Equal(["fanout", "identity", "indicators", "research"], deaths.Order(StringComparer.Ordinal));
        Assert.True(identityB.Restores > 0, "the surviving identity worker restored the partitions it took over");
        long[] ends = transport.EndOffsets(StageTopics.Matched);
        int matched = Enumerable.Range(0, ends.Length).Sum(p => transport.ReadRange(StageTopics.Matched, p, 0, ends[p]).Count(m => m.Headers[StageTopics.Kind] == "matched"));
        Assert.True(matched > transport.EndOffsets(StageTopics.Results).Sum(), "the killed identity worker's last output was published again by the other");
        embedded.AssertEqual(Workload.Outcome(store, researchDir.Path));
    }
}

public sealed class DistributedPoisonTests(KafkaCluster kafka, PostgresCluster postgres) : IClassFixture<KafkaCluster>, IClassFixture<PostgresCluster>
{
    [Fact]
    public async Task A_message_the_match_stage_cannot_read_lands_in_the_dead_letter_topic_with_its_reason_and_the_stream_goes_on()
    {
        await using var transport = new KafkaTransport(kafka.Bootstrap);
        using PostgresStore store = PostgresStore.Open(await postgres.NewDatabaseAsync());
        Terminology terminology = Terminology.CreateNational();
        var ingestion = new IngestionService(new TransportJournal(transport), terminology: terminology);
        await ingestion.SubmitAsync(null, IdentityFixtures.Message("P1", IdentityFixtures.ThreeLabs[0]), Formats.Hl7v2, "test", false);
        // Same partition key as the results around it, so it sits in their partition's stream.
        await transport.PublishAsync(StageTopics.Results, [new OutgoingMessage("1985-03-14|F", Encoding.UTF8.GetBytes("not a result"))]);
        await ingestion.SubmitAsync(null, IdentityFixtures.Message("P2", IdentityFixtures.ThreeLabs[1]), Formats.Hl7v2, "test", false);

        using var identity = new IdentityStage(transport, store, terminology);
        await DistributedModeTests.DrainAsync(transport, store, (IdentityStage.ConsumerName, StageTopics.Results, () => identity.DrainOnceAsync(TimeSpan.FromMilliseconds(200))));

        long[] ends = transport.EndOffsets(TransportHeaders.DeadLetterTopic(StageTopics.Results));
        IncomingMessage dead = Assert.Single(Enumerable.Range(0, ends.Length).SelectMany(p => transport.ReadRange(TransportHeaders.DeadLetterTopic(StageTopics.Results), p, 0, ends[p])));
        Assert.Equal("not a result", Encoding.UTF8.GetString(dead.Payload.Span));
        Assert.Contains("not a result envelope", dead.Headers[TransportHeaders.Reason]);
        Assert.StartsWith(StageTopics.Results + "/", dead.Headers[TransportHeaders.Source]);
        long[] matched = transport.EndOffsets(StageTopics.Matched);
        Assert.Equal(2, Enumerable.Range(0, matched.Length).Sum(p => transport.ReadRange(StageTopics.Matched, p, 0, matched[p]).Count(m => m.Headers[StageTopics.Kind] == "matched")));
    }
}

public sealed class DistributedPostgresRestartTests(KafkaCluster kafka, PostgresCluster postgres) : IClassFixture<KafkaCluster>, IClassFixture<PostgresCluster>
{
    [Fact]
    public async Task When_PostgreSQL_restarts_during_the_stream_the_stages_wait_retry_and_end_with_what_the_embedded_mode_gives()
    {
        Assert.True(postgres.Throwaway, "this test stops its own server; set no SIDEP_TEST_POSTGRES to run it");
        Workload.Outcomes embedded = await DistributedModeTests.EmbeddedRunAsync();
        await using var transport = new KafkaTransport(kafka.Bootstrap);
        string database = await postgres.NewDatabaseAsync();
        using PostgresStore store = PostgresStore.Open(database, retryFor: TimeSpan.FromSeconds(60));
        Terminology terminology = Terminology.CreateNational();
        (IngestionService gateway, PostgresKeyIndex index) = await DistributedModeTests.GatewayAsync(transport, database, terminology);
        using PostgresKeyIndex _ = index;
        await Workload.SendAsync(gateway);

        using var identity = new IdentityStage(transport, store, terminology);
        using var indicators = new IndicatorStage(transport, store, terminology);
        using var fanOut = new FanOutStage(transport, store, terminology);
        using var researchDir = new TempDir();
        using var research = new ResearchStage(transport, store, terminology, EmbeddedStages.ResearchKeys, researchDir.Path);
        TimeSpan wait = TimeSpan.FromMilliseconds(200);
        Task drained = Task.Run(() => DistributedModeTests.DrainAsync(transport, store,
            (IdentityStage.ConsumerName, StageTopics.Results, () => identity.DrainOnceAsync(wait, max: 5)),
            (IndicatorStage.ConsumerName, StageTopics.Matched, () => indicators.DrainOnceAsync(wait, max: 5)),
            (FanOutStage.ConsumerName, StageTopics.Matched, () => fanOut.DrainOnceAsync(wait, max: 5)),
            (ResearchStage.ConsumerName, StageTopics.Matched, () => research.DrainOnceAsync(wait, max: 5))));
        // Mid-stream: some positions stored, not all.
        DateTime until = DateTime.UtcNow + TimeSpan.FromSeconds(60);
        int partitions = transport.EndOffsets(StageTopics.Results).Length;
        while (Enumerable.Range(0, partitions).Sum(p => store.GetOffset($"{IndicatorStage.ConsumerName}/{p}", -1)) < 50 && DateTime.UtcNow < until)
        {
            await Task.Delay(50);
        }
        Assert.False(drained.IsCompleted);
        await postgres.PauseAsync(); // the server goes away mid-stream, until a stage's write has met its absence
        await PostgresCluster.OutageSeenAsync(store);
        await postgres.ResumeAsync();
        await drained.WaitAsync(TimeSpan.FromSeconds(120));
        await research.WritePartitionsAsync();

        embedded.AssertEqual(Workload.Outcome(store, researchDir.Path));
    }
}

public sealed class TransportJournalTests(KafkaCluster kafka) : IClassFixture<KafkaCluster>
{
    [Fact]
    public async Task A_submission_larger_than_a_Kafka_message_is_stored_in_parts_and_read_back_whole()
    {
        await using var transport = new KafkaTransport(kafka.Bootstrap);
        var ingestion = new IngestionService(new TransportJournal(transport));
        string messages = string.Concat(Enumerable.Range(0, 6000).Select(i => Encoding.UTF8.GetString(IdentityFixtures.Message($"BIG{i}", IdentityFixtures.ThreeLabs[i % 3]).ToArray())));
        byte[] body = Encoding.UTF8.GetBytes(messages);
        Assert.True(body.Length > 2 * TransportJournal.PartBytes);
        SubmissionOutcome outcome = await ingestion.SubmitAsync(null, new ReadOnlySequence<byte>(body), Formats.Hl7v2, "test", false);
        Assert.Equal(6000, outcome.Report.Counts.Accepted);
        (StoredSubmission meta, ReadOnlyMemory<byte> raw) = ingestion.GetSubmission(outcome.Report.SubmissionId!)!.Value;
        Assert.Equal(outcome.Report.Sha256, meta.Sha256);
        Assert.True(raw.Span.SequenceEqual(body));
    }
}

/// <summary>A journal whose next append fails after writing nothing (the broker refused it).</summary>
internal sealed class FailingJournal(IResultJournal inner) : IResultJournal
{
    public bool FailNext { get; set; }

    public int PartitionOf(string key) => inner.PartitionOf(key);

    public Task AppendAsync(IReadOnlyList<LogRecord> records, CancellationToken cancellationToken = default)
    {
        if (FailNext)
        {
            FailNext = false;
            return Task.FromException(new IOException("Broker: Message size too large"));
        }
        return inner.AppendAsync(records, cancellationToken);
    }

    public IEnumerable<LogEntry> ReadAllResults() => inner.ReadAllResults();
    public List<LogEntry> ReadPendingQuarantine() => inner.ReadPendingQuarantine();
    public LogEntry? ReadSubmission(string id) => inner.ReadSubmission(id);
}

public sealed class NotDurableTests
{
    [Fact]
    public async Task A_submission_that_could_not_be_stored_is_not_acknowledged_and_its_resend_is_accepted_not_taken_for_a_duplicate()
    {
        using var dir = new TempDir();
        await using EmbeddedLog log = EmbeddedLog.Open(Path.Combine(dir.Path, "log"), 4);
        var journal = new FailingJournal(log) { FailNext = true };
        var ingestion = new IngestionService(journal);
        ReadOnlySequence<byte> message = IdentityFixtures.Message("ND1", IdentityFixtures.ThreeLabs[0]);
        NotDurableException refused = await Assert.ThrowsAsync<NotDurableException>(() => ingestion.SubmitAsync(null, message, Formats.Hl7v2, "test", false));
        Assert.Contains("send it again", refused.Message);
        Assert.DoesNotContain("LEF", refused.Message); // nothing of the content
        SubmissionOutcome resent = await ingestion.SubmitAsync(null, message, Formats.Hl7v2, "test", false);
        Assert.Equal(1, resent.Report.Counts.Accepted);
        Assert.Equal(0, resent.Report.Counts.Duplicate);
    }
}

public sealed class TransportAheadOfStoreTests
{
    [Fact]
    public async Task A_stage_whose_transport_delivers_past_the_stored_position_goes_back_to_it_and_misses_nothing()
    {
        using var dir = new TempDir();
        await using var transport = new InProcessTransport(dir.Path, partitions: 1);
        using StateStore store = StateStore.Open(dir.Path);
        var ingestion = new IngestionService(new TransportJournal(transport));
        for (int i = 0; i < 30; i++)
        {
            await ingestion.SubmitAsync(null, IdentityFixtures.Message($"AH{i}", $"PID|1||{i}^^^LAB^PI||NOM{i}^PRENOM||19850314|F"), Formats.Hl7v2, "test", false);
        }
        // The group's transport position moved past 20 results the store never saw (what librdkafka did once, after a
        // partition was taken away and given back).
        using (IStageConsumer ahead = transport.Subscribe(StageTopics.Results, "sidep-match"))
        {
            List<IncomingMessage> got = [];
            while (got.Count < 20)
            {
                got.AddRange(ahead.Poll(20 - got.Count, TimeSpan.FromMilliseconds(100)));
            }
            ahead.Commit(got);
        }
        using var identity = new IdentityStage(transport, store, Terminology.CreateNational());
        while (await identity.DrainOnceAsync(TimeSpan.FromMilliseconds(100)) > 0)
        {
        }
        Assert.Equal(1, identity.Rewinds);
        Assert.Equal(30, store.GetOffset($"{IdentityStage.ConsumerName}/0", -1));
        Assert.Equal(30, transport.ReadRange(StageTopics.Matched, 0, 0, transport.EndOffsets(StageTopics.Matched)[0]).Count());
    }
}
