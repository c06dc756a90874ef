using System.Buffers;
using System.Globalization;
using System.Text;
using System.Text.Json.Nodes;
using Sidep.Ingestion;
using Sidep.Storage.Embedded;
using Sidep.Storage.Postgres;
using Sidep.Tests;
using Sidep.Transport;
using Sidep.Transport.Kafka;

namespace Sidep.Storage.Tests;

/// <summary>
/// A workload that exercises what the counts depend on: the whole corpus (HL7 v2, HPRIM, FHIR), and synthetic
/// persons with INS and without, typos, the same person under three labs (merges), retests on later days,
/// corrections, retractions and resent duplicates.
/// </summary>
internal static class Workload
{
    public static IEnumerable<(string Format, byte[] Body)> Corpus() =>
        Fixtures.Hl7Files.Select(f => (Formats.Hl7v2, File.ReadAllBytes(f)))
            .Concat(Fixtures.HprimFiles.Select(f => (Formats.Hprim, File.ReadAllBytes(f))))
            .Concat(Directory.GetFiles(Fixtures.FhirDir, "*.json").Order(StringComparer.Ordinal).Select(f => (Formats.Fhir, File.ReadAllBytes(f))));

    private static readonly string[] Names = ["DUPONT", "MARTIN", "BERNARD", "PETIT", "DURAND", "LEROY", "MOREAU", "SIMON", "LAURENT", "MICHEL"];
    private static readonly string[] Given = ["MARIE", "JEAN", "LUCIE", "PAUL", "ANNE", "LOUIS", "CLAIRE", "HUGO", "EMMA", "JULES", "ALICE", "NOAH"];
    private static readonly string[] Deps = ["75", "93", "13", "69", "59", "2A", "971", "33"];

    private static string Ins(long nir13) => nir13.ToString(CultureInfo.InvariantCulture) + (97 - nir13 % 97).ToString("D2", CultureInfo.InvariantCulture);

    private static string Message(string accession, string pid, int day, string outcome, string status = "F", string dep = "75") =>
        "MSH|^~\\&|APP|LAB^990000001|SIDEP|ANS|20260120093000+0100||ORU^R01^ORU_R01|" + accession + "|P|2.5\r" + pid + "\r" +
        $"OBR|1||{accession}|94500-6^SARS-CoV-2^LN|||202601{day:D2}081500+0100\r" +
        $"OBX|1|CWE|94500-6^SARS-CoV-2^LN||{outcome}||||||{status}\r";

    /// <summary>Synthetic HL7 submissions, in the order they are sent (deterministic).</summary>
    public static List<byte[]> Synthetic(int persons = 240)
    {
        var random = new Random(7);
        var messages = new List<string>();
        var corrections = new List<string>();
        for (int i = 0; i < persons; i++)
        {
            string sex = i % 2 == 0 ? "F" : "M";
            string birth = $"19{50 + i % 45:D2}{1 + i % 12:D2}{1 + i / 12 % 28:D2}";
            string name = Names[i % Names.Length], given = Given[i / Names.Length % Given.Length];
            string dep = Deps[i % Deps.Length];
            string address = $"||1 RUE DE LA PAIX^^PARIS^^{(dep.Length == 3 ? dep + "10" : dep + "100")}";
            string ins = Ins(2_000_000_000_000 + (i % 2 == 0 ? 0 : 1_000_000_000_000) + 1_000L * i);
            string withIns = $"PID|1||{ins}^^^ASIP-SANTE-INS-NIR&1.2.250.1.213.1.4.8&ISO^INS||{name}^{given}||{birth}|{sex}{address}";
            string withoutIns = $"PID|1||L{i}^^^LAB^PI||{name}^{given}||{birth}|{sex}{address}";
            string typo = $"PID|1||M{i}^^^LAB^PI||{name[..^1]}E^{given}||{birth}|{sex}{address}";
            string positive = "260373001^Detected^SCT", negative = "260385009^Not detected^SCT";
            int day = 1 + random.Next(20);
            string first = random.NextDouble() < 0.3 ? positive : negative;
            // Without INS first, with INS later: the INS result links to (or merges) the trait-only person.
            messages.Add(Message($"S{i}A", i % 3 == 0 ? withoutIns : withIns, day, first, dep: dep));
            if (random.NextDouble() < 0.5)
            {
                messages.Add(Message($"S{i}B", i % 3 == 0 ? withIns : random.NextDouble() < 0.3 ? typo : withIns, Math.Min(28, day + 1 + random.Next(6)),
                    random.NextDouble() < 0.35 ? positive : negative, dep: dep));
            }
            if (random.NextDouble() < 0.08)
            {
                corrections.Add(Message($"S{i}A", withIns, day, first == positive ? negative : positive, "C", dep)); // a correction, later
            }
            if (random.NextDouble() < 0.03)
            {
                corrections.Add(Message($"S{i}A", withIns, day, first, "X", dep)); // cancelled: a retraction
            }
        }
        for (int i = 0; i < IdentityFixtures.ThreeLabs.Length; i++)
        {
            messages.Add(Message($"T{i}", IdentityFixtures.ThreeLabs[i], 12, "260373001^Detected^SCT"));
        }
        var batches = new List<byte[]>();
        for (int i = 0; i < messages.Count; i += 25)
        {
            batches.Add(Encoding.UTF8.GetBytes(string.Concat(messages.Skip(i).Take(25))));
        }
        batches.Add(Encoding.UTF8.GetBytes(string.Concat(messages.Take(10)))); // resent: duplicates
        batches.Add(Encoding.UTF8.GetBytes(string.Concat(corrections)));
        return batches;
    }

    /// <summary>Sends the corpus and the synthetic submissions; returns how many results were accepted or corrected.</summary>
    public static async Task<int> SendAsync(IngestionService ingestion)
    {
        int stored = 0;
        foreach ((string format, byte[] body) in Corpus().Concat(Synthetic().Select(b => (Formats.Hl7v2, b))))
        {
            SubmissionOutcome outcome = await ingestion.SubmitAsync(null, new ReadOnlySequence<byte>(body), format, "test", false);
            stored += outcome.Report.Counts.Accepted + outcome.Report.Counts.Correction;
        }
        return stored;
    }

    /// <summary>What the stages made, in a form both modes can be compared on: the net indicator counts per day and
    /// cell, the cases (their person ids replaced by the grouping they make), and the decisions' rules.</summary>
    public static (List<string> Indicators, List<string> Cases, List<string> CasePersons) Outcome(IStageStore store)
    {
        List<string> indicators = [.. store.IndicatorChangesAfter(DateTimeOffset.MinValue, int.MinValue, int.MaxValue)
            .Where(d => d.P != 0 || d.T != 0).Select(d => $"{d.Day}/{d.Cell}: P={d.P} T={d.T}").Order(StringComparer.Ordinal)];
        List<StoredCase> cases = store.CasesChangedAfter(0, 100_000);
        List<string> described = [.. cases.Select(c =>
        {
            JsonObject json = JsonNode.Parse(c.Json)!.AsObject();
            json.Remove("personId");
            return $"{c.CaseId} {c.Status} {c.SampleDate} {c.Territory} {c.Region} {json.ToJsonString()}";
        }).Order(StringComparer.Ordinal)];
        List<string> persons = [.. cases.GroupBy(c => c.PersonId).Select(g => string.Join(',', g.Select(c => c.CaseId).Order(StringComparer.Ordinal)))
            .Order(StringComparer.Ordinal)];
        return (indicators, described, persons);
    }
}

/// <summary>The distributed mode (Kafka through Confluent.Kafka on librdkafka's mock cluster, a throwaway
/// PostgreSQL) against the embedded one, on the same workload.</summary>
public sealed class DistributedModeTests(KafkaCluster kafka, PostgresCluster postgres) : IClassFixture<KafkaCluster>, IClassFixture<PostgresCluster>
{
    internal static async Task<(List<string>, List<string>, List<string>)> EmbeddedRunAsync()
    {
        using var dir = new TempDir();
        await using EmbeddedLog log = EmbeddedLog.Open(Path.Combine(dir.Path, "log"), 4);
        await using EmbeddedLog matched = EmbeddedLog.Open(Path.Combine(dir.Path, "matched"), 4);
        using StateStore store = StateStore.Open(dir.Path);
        Terminology terminology = Terminology.CreateNational();
        await Workload.SendAsync(new IngestionService(log, terminology: terminology));
        var identity = new IdentityStage(log, store, matched, terminology: terminology);
        while (await identity.DrainOnceAsync() > 0)
        {
        }
        var indicators = new IndicatorStage(matched, store, terminology);
        while (indicators.DrainOnce() > 0)
        {
        }
        var fanOut = new FanOutStage(matched, store, terminology);
        while (fanOut.DrainOnce() > 0)
        {
        }
        return Workload.Outcome(store);
    }

    /// <summary>Drains the stages until every one has stored a position at the end of its input.</summary>
    internal static async Task DrainAsync(IStageTransport transport, IStageStore store, params IEnumerable<(string Consumer, string Topic, Func<Task<int>> Drain)> stages)
    {
        DateTime until = DateTime.UtcNow + TimeSpan.FromSeconds(40);
        while (true)
        {
            bool done = true;
            foreach ((string consumer, string topic, Func<Task<int>> drain) in stages)
            {
                await drain();
                long[] ends = transport.EndOffsets(topic);
                done &= ends.Length > 0 && Enumerable.Range(0, ends.Length).All(p => store.GetOffset($"{consumer}/{p}", -1) >= ends[p]);
            }
            if (done)
            {
                return;
            }
            Assert.True(DateTime.UtcNow < until, "the distributed stages did not reach the end of their input within 120 s: " + string.Join("; ",
                stages.Select(s => $"{s.Consumer}: " + string.Join(",", transport.EndOffsets(s.Topic).Select((e, p) => $"{store.GetOffset($"{s.Consumer}/{p}", -1)}/{e}")))));
        }
    }

    [Fact]
    public async Task The_corpus_and_a_synthetic_workload_give_the_same_indicators_and_cases_as_the_embedded_mode()
    {
        var embedded = await EmbeddedRunAsync();
        Assert.NotEmpty(embedded.Item1);
        Assert.NotEmpty(embedded.Item2);

        await using var transport = new KafkaTransport(kafka.Bootstrap);
        using PostgresStore store = PostgresStore.Open(await postgres.NewDatabaseAsync());
        Terminology terminology = Terminology.CreateNational();
        int sent = await Workload.SendAsync(new IngestionService(new TransportJournal(transport), terminology: terminology));
        Assert.Equal(sent, transport.EndOffsets(StageTopics.Results).Sum());
        using var identity = new PartitionedIdentityStage(transport, store, terminology);
        using var indicators = new PartitionedIndicatorStage(transport, store, terminology);
        using var fanOut = new PartitionedFanOutStage(transport, store, terminology);
        TimeSpan wait = TimeSpan.FromMilliseconds(200);
        await DrainAsync(transport, store,
            (IdentityStage.ConsumerName, StageTopics.Results, () => identity.DrainOnceAsync(wait)),
            (IndicatorStage.ConsumerName, StageTopics.Matched, () => indicators.DrainOnceAsync(wait)),
            (FanOutStage.ConsumerName, StageTopics.Matched, () => fanOut.DrainOnceAsync(wait)));

        var distributed = Workload.Outcome(store);
        Assert.Equal(embedded.Item1, distributed.Item1);
        Assert.Equal(embedded.Item2, distributed.Item2);
        Assert.Equal(embedded.Item3, distributed.Item3);
    }
}

/// <summary>A store that fails like a worker killed between its output and its store write: the Nth write of each
/// stage throws before it reaches the database.</summary>
internal sealed class CrashingStore(IStageStore inner, int failOnWrite) : IStageStore
{
    private int _matches, _revisions, _fanOuts;

    public bool Crashed { get; private set; }

    private void MaybeCrash(ref int count)
    {
        if (++count == failOnWrite)
        {
            Crashed = true;
            throw new IOException("killed before the store write");
        }
    }

    public long GetOffset(string consumer, int partition) => inner.GetOffset(consumer, partition);
    public void ApplyResults(string consumer, int partition, long nextOffset, IReadOnlyList<StoredResult> results) => inner.ApplyResults(consumer, partition, nextOffset, results);
    public long CountResults() => inner.CountResults();

    public void ApplyMatches(string consumer, long nextSequence, IReadOnlyList<StateStore.MatchRow> rows, IReadOnlyList<(long From, long Into)> merges)
    {
        MaybeCrash(ref _matches);
        inner.ApplyMatches(consumer, nextSequence, rows, merges);
    }

    public List<StateStore.MatchRow> DecisionsOf(long personId) => inner.DecisionsOf(personId);

    public long ApplyIndicatorRevision(string consumer, long nextSequence, DateTimeOffset processedAt, int results, IReadOnlyList<IndicatorDelta> deltas)
    {
        MaybeCrash(ref _revisions);
        return inner.ApplyIndicatorRevision(consumer, nextSequence, processedAt, results, deltas);
    }

    public List<IndicatorRevision> ListIndicatorRevisions(DateTimeOffset? since = null, int limit = 1000) => inner.ListIndicatorRevisions(since, limit);
    public List<IndicatorDelta> IndicatorChangesAfter(DateTimeOffset asOf, int fromDay, int toDay) => inner.IndicatorChangesAfter(asOf, fromDay, toDay);
    public void SetConsumerOffset(string consumer, int partition, long next) => inner.SetConsumerOffset(consumer, partition, next);

    public void ApplyFanOut(string consumer, long nextSequence, IReadOnlyList<StateStore.PositiveResult> positives, IReadOnlyList<CaseChange> changes,
        Func<string, string> caseIdOf, DateTimeOffset now)
    {
        MaybeCrash(ref _fanOuts);
        inner.ApplyFanOut(consumer, nextSequence, positives, changes, caseIdOf, now);
    }

    public string? PositiveResultJson(string key) => inner.PositiveResultJson(key);
    public List<StoredCase> Cases(IReadOnlyCollection<string> territories, long afterSeq, DateTimeOffset? since, int limit) => inner.Cases(territories, afterSeq, since, limit);
    public List<StoredCase> CasesChangedAfter(long afterSeq, int limit) => inner.CasesChangedAfter(afterSeq, limit);
    public StoredCase? Case(string caseId) => inner.Case(caseId);
    public List<string> PositiveDatesOf(long personId) => inner.PositiveDatesOf(personId);
    public List<StoredNotice> Outbox(int limit) => inner.Outbox(limit);
    public bool AcknowledgeNotice(long id, DateTimeOffset at) => inner.AcknowledgeNotice(id, at);
    public void Audit(string agent, string role, string action, string query, IReadOnlyList<string> caseIds, DateTimeOffset at) => inner.Audit(agent, role, action, query, caseIds, at);
    public List<AuditRecord> AuditLog(long afterId, int limit) => inner.AuditLog(afterId, limit);

    public void Dispose()
    {
    }
}

public sealed class DistributedFailoverTests(KafkaCluster kafka, PostgresCluster postgres) : IClassFixture<KafkaCluster>, IClassFixture<PostgresCluster>
{
    [Fact]
    public async Task When_a_worker_of_each_stage_is_killed_between_its_output_and_its_store_write_the_other_takes_over_and_nothing_counts_twice()
    {
        var embedded = await DistributedModeTests.EmbeddedRunAsync();

        await using var transport = new KafkaTransport(kafka.Bootstrap);
        using PostgresStore store = PostgresStore.Open(await postgres.NewDatabaseAsync());
        var crashing = new CrashingStore(store, failOnWrite: 2);
        Terminology terminology = Terminology.CreateNational();
        await Workload.SendAsync(new IngestionService(new TransportJournal(transport), terminology: terminology));

        // Two workers per stage share each group; the first set dies at its second store write.
        PartitionedIdentityStage identityA = new(transport, crashing, terminology);
        PartitionedIndicatorStage indicatorsA = new(transport, crashing, terminology);
        PartitionedFanOutStage fanOutA = new(transport, crashing, terminology);
        using var identityB = new PartitionedIdentityStage(transport, store, terminology);
        using var indicatorsB = new PartitionedIndicatorStage(transport, store, terminology);
        using var fanOutB = new PartitionedFanOutStage(transport, store, terminology);
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
                + await fanOutB.DrainOnceAsync(wait, max: 40)));

        Assert.Equal(["fanout", "identity", "indicators"], deaths.Order(StringComparer.Ordinal));
        Assert.True(identityB.Restores > 0, "the surviving identity worker restored the partitions it took over");
        long[] ends = transport.EndOffsets(StageTopics.Matched);
        int matched = Enumerable.Range(0, ends.Length).Sum(p => transport.ReadRange(StageTopics.Matched, p, 0, ends[p]).Count(m => m.Headers[StageTopics.Kind] == "matched"));
        Assert.True(matched > transport.EndOffsets(StageTopics.Results).Sum(), "the killed identity worker's last output was published again by the other");
        var distributed = Workload.Outcome(store);
        Assert.Equal(embedded.Item1, distributed.Item1);
        Assert.Equal(embedded.Item2, distributed.Item2);
        Assert.Equal(embedded.Item3, distributed.Item3);
    }
}
