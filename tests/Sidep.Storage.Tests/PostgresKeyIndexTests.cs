using System.Buffers;
using System.Text;
using Sidep.Domain;
using Sidep.Ingestion;
using Sidep.Journal;
using Sidep.Pipeline;
using Sidep.Storage.Postgres;
using Sidep.Tests;
using Sidep.Transport;
using Sidep.Transport.Kafka;

namespace Sidep.Storage.Tests;

/// <summary>The result-key index the gateways of the distributed mode share (PostgreSQL), with two gateways — two
/// processes' worth of journal producers and index connections — on one Kafka cluster and one database.</summary>
public sealed class PostgresKeyIndexTests(KafkaCluster kafka, PostgresCluster postgres) : IClassFixture<KafkaCluster>, IClassFixture<PostgresCluster>
{
    private const string Positive = "260373001^Detected^SCT", Negative = "260385009^Not detected^SCT";

    private static string Message(string accession, int person, string outcome, string status = "F") =>
        "MSH|^~\\&|APP|LAB^990000001|SIDEP|ANS|20260120093000+0100||ORU^R01^ORU_R01|" + accession + status + "|P|2.5\r" +
        $"PID|1||L{person}^^^LAB^PI||NOM{person % 97}^PRENOM||19{50 + person % 45:D2}{1 + person % 12:D2}{1 + person % 28:D2}|{(person % 2 == 0 ? "F" : "M")}\r" +
        $"OBR|1||{accession}|94500-6^SARS-CoV-2^LN|||202601{1 + person % 20:D2}081500+0100\r" +
        $"OBX|1|CWE|94500-6^SARS-CoV-2^LN||{outcome}||||||{status}\r";

    /// <summary><paramref name="count"/> results, each with its versions in order: the original, for some a correction
    /// (the outcome changed), for some of those a cancellation.</summary>
    private static List<string[]> Results(string run, int count)
    {
        var random = new Random(11);
        var results = new List<string[]>();
        for (int i = 0; i < count; i++)
        {
            string accession = $"{run}-{i}";
            string first = random.NextDouble() < 0.3 ? Positive : Negative, second = first == Positive ? Negative : Positive;
            results.Add(random.NextDouble() >= 0.4 ? [Message(accession, i, first)]
                : random.NextDouble() < 0.6 ? [Message(accession, i, first), Message(accession, i, second, "C")]
                : [Message(accession, i, first), Message(accession, i, second, "C"), Message(accession, i, second, "X")]);
        }
        return results;
    }

    private static ReadOnlySequence<byte> Body(IEnumerable<string> messages) => new(Encoding.UTF8.GetBytes(string.Concat(messages)));

    private sealed class Gateway(KafkaTransport transport, PostgresKeyIndex keys, IResultJournal? journal = null) : IAsyncDisposable
    {
        public IngestionService Ingestion { get; } = new(journal ?? new TransportJournal(transport), keys: keys, router: keys);

        public async Task<SubmissionReport> SendAsync(ReadOnlySequence<byte> body) =>
            (await Ingestion.SubmitAsync(null, body, Formats.Hl7v2, "test", false)).Report;

        public async ValueTask DisposeAsync()
        {
            keys.Dispose();
            await transport.DisposeAsync();
        }
    }

    private async Task<Gateway> GatewayAsync(string database, TimeSpan? inFlight = null, Func<IResultJournal, IResultJournal>? journal = null)
    {
        var transport = new KafkaTransport(kafka.Bootstrap);
        var topics = new TransportJournal(transport);
        return new Gateway(transport, await PostgresKeyIndex.OpenAsync(database, topics, inFlight: inFlight), journal?.Invoke(topics));
    }

    private async Task<long> ResultsOnTopicAsync()
    {
        await using var reader = new KafkaTransport(kafka.Bootstrap);
        return reader.EndOffsets(StageTopics.Results).Sum();
    }

    [Fact]
    public async Task Every_version_of_a_thousand_results_resent_in_any_order_through_either_gateway_changes_nothing()
    {
        string database = await postgres.NewDatabaseAsync();
        await using Gateway a = await GatewayAsync(database), b = await GatewayAsync(database);
        List<string[]> results = Results($"RS{Guid.NewGuid():N}"[..12], 1000);
        long before = await ResultsOnTopicAsync();

        // The first pass, version after version, in submissions of 25 alternating between the gateways.
        var counts = new List<ReportCounts>();
        int n = 0;
        for (int version = 1; version <= 3; version++)
        {
            foreach (string[] chunk in results.Where(r => r.Length >= version).Select(r => r[version - 1]).Chunk(25))
            {
                counts.Add((await (n++ % 2 == 0 ? a : b).SendAsync(Body(chunk))).Counts);
            }
        }
        Assert.Equal(results.Count, counts.Sum(c => c.Accepted));
        Assert.Equal(results.Count(r => r.Length >= 2), counts.Sum(c => c.Correction));
        Assert.Equal(results.Count(r => r.Length == 3), counts.Sum(c => c.Retraction));
        long stored = await ResultsOnTopicAsync();
        Assert.Equal(results.Sum(r => r.Length), stored - before);

        // Every version again, shuffled, in submissions of 1 to 30 sent four at a time through either gateway.
        var random = new Random(5);
        (string Message, int Version)[] all = [.. results.SelectMany(r => r.Select((m, v) => (m, v + 1))).OrderBy(_ => random.Next())];
        var submissions = new List<(Gateway Gateway, (string Message, int Version)[] Items)>();
        for (int i = 0; i < all.Length;)
        {
            int size = 1 + random.Next(30);
            submissions.Add((random.Next(2) == 0 ? a : b, all[i..Math.Min(all.Length, i + size)]));
            i += size;
        }
        foreach ((Gateway Gateway, (string Message, int Version)[] Items)[] four in submissions.Chunk(4))
        {
            SubmissionReport[] reports = await Task.WhenAll(four.Select(s => s.Gateway.SendAsync(Body(s.Items.Select(x => x.Message)))));
            for (int s = 0; s < four.Length; s++)
            {
                Assert.Equal(four[s].Items.Select(x => (ItemStatus.Duplicate, (int?)x.Version)), reports[s].Items.Select(i => (i.Status, i.Version)));
            }
        }
        Assert.Equal(stored, await ResultsOnTopicAsync());
        // A resent older version says that a newer one supersedes it.
        SubmissionReport original = await b.SendAsync(Body([results.First(r => r.Length == 3)[0]]));
        Assert.Contains(original.Items.Single().Problems, p => p.Code == "Duplicate" && p.Message.Contains("version 3 supersedes it", StringComparison.Ordinal));
    }

    [Fact]
    public async Task Two_gateways_given_a_stream_in_any_interleaving_decide_as_one_gateway_does()
    {
        // The synthetic workload, its accession numbers made this run's own for each pass (the topic outlives a pass).
        static List<byte[]> Stream()
        {
            string run = $"{Guid.NewGuid():N}"[..8];
            return [.. Workload.Synthetic().Select(body => Encoding.UTF8.GetBytes(System.Text.RegularExpressions.Regex.Replace(
                Encoding.UTF8.GetString(body), @"(?<=\|)(S\d+[ABM]|T\d)(?=\|)", run + "$1")))];
        }
        List<byte[]> stream = Stream();
        var one = new List<(ItemStatus, int?)>();
        using (var dir = new TempDir())
        await using (EmbeddedLog log = EmbeddedLog.Open(Path.Combine(dir.Path, "log"), 4))
        {
            var single = new IngestionService(log);
            foreach (byte[] body in stream)
            {
                one.AddRange((await single.SubmitAsync(null, new ReadOnlySequence<byte>(body), Formats.Hl7v2, "test", false)).Report.Items.Select(i => (i.Status, i.Version)));
            }
        }
        Assert.Contains(one, d => d.Item1 == ItemStatus.Duplicate);
        Assert.Contains(one, d => d.Item1 == ItemStatus.Correction);

        // The same stream, each submission to one gateway or the other at random; and each submission to both gateways at
        // once, where one of the two must take it and the other find it a duplicate.
        string database = await postgres.NewDatabaseAsync();
        await using Gateway a = await GatewayAsync(database), b = await GatewayAsync(database);
        var random = new Random(3);
        var two = new List<(ItemStatus, int?)>();
        stream = Stream();
        foreach (byte[] body in stream)
        {
            two.AddRange((await (random.Next(2) == 0 ? a : b).SendAsync(new ReadOnlySequence<byte>(body))).Items.Select(i => (i.Status, i.Version)));
        }
        Assert.Equal(one, two);

        string other = await postgres.NewDatabaseAsync();
        await using Gateway c = await GatewayAsync(other), d = await GatewayAsync(other);
        var raced = new List<(ItemStatus, int?)>();
        stream = Stream();
        foreach (byte[] body in stream)
        {
            SubmissionReport[] both = await Task.WhenAll(c.SendAsync(new ReadOnlySequence<byte>(body)), d.SendAsync(new ReadOnlySequence<byte>(body)));
            foreach ((ItemReport x, ItemReport y) in both[0].Items.Zip(both[1].Items))
            {
                Assert.Equal(x.Version, y.Version);
                if (x.Status == ItemStatus.Duplicate || y.Status == ItemStatus.Duplicate)
                {
                    raced.Add((x.Status == ItemStatus.Duplicate ? y.Status : x.Status, x.Version));
                }
                else
                {
                    Assert.Fail($"both gateways took version {x.Version} of a result ({x.Status}, {y.Status})");
                }
            }
        }
        // The decisions one gateway makes; a duplicate in the stream itself is a duplicate on both sides.
        Assert.Equal(one, raced);
    }

    [Fact]
    public async Task Versions_of_submissions_decided_together_are_marked_durable_before_they_are_answered()
    {
        // The marks of submissions decided at once go in one statement; each submission is answered once its marks have
        // landed, so nothing answered stays in flight, even when the gateway stops at once.
        string database = await postgres.NewDatabaseAsync();
        // In flight for a minute: a version whose mark never landed would keep a resend waiting that long.
        Gateway a = await GatewayAsync(database, TimeSpan.FromMinutes(1));
        string run = $"DM{Guid.NewGuid():N}"[..10];
        List<string[]> results = Results(run, 200);
        try
        {
            foreach (string[][] chunk in results.Chunk(10))
            {
                // Ten submissions at a time: their marks meet while one is being written.
                SubmissionReport[] reports = await Task.WhenAll(chunk.Select(r => a.SendAsync(Body(r))));
                Assert.All(reports, r => Assert.All(r.Items, i => Assert.Contains(i.Status, new[] { ItemStatus.Accepted, ItemStatus.Correction, ItemStatus.Retraction })));
            }
        }
        finally
        {
            await a.DisposeAsync();
        }

        await using (var c = new Npgsql.NpgsqlConnection(database))
        {
            await c.OpenAsync();
            await using var count = new Npgsql.NpgsqlCommand("SELECT count(*) FILTER (WHERE durable), count(*) FILTER (WHERE NOT durable) FROM result_versions", c);
            await using Npgsql.NpgsqlDataReader r = await count.ExecuteReaderAsync();
            Assert.True(await r.ReadAsync());
            // (The index also holds what it imported from the shared topic when it was opened.)
            Assert.True(r.GetInt64(0) >= results.Sum(x => x.Length));
            Assert.Equal(0L, r.GetInt64(1));
        }
        // So another gateway answers every resend as a duplicate at once.
        await using Gateway b = await GatewayAsync(database, TimeSpan.FromMinutes(1));
        SubmissionReport again = await b.SendAsync(Body(results.SelectMany(r => r))).WaitAsync(TimeSpan.FromSeconds(30));
        Assert.All(again.Items, i => Assert.Equal(ItemStatus.Duplicate, i.Status));
    }

    [Fact]
    public async Task A_version_whose_journal_write_failed_is_journalled_by_the_next_gateway_that_receives_it_never_answered_as_a_duplicate()
    {
        string database = await postgres.NewDatabaseAsync();
        FailingJournal? failing = null;
        await using Gateway a = await GatewayAsync(database, TimeSpan.FromMilliseconds(300), journal => failing = new FailingJournal(journal) { FailNext = true });
        await using Gateway b = await GatewayAsync(database, TimeSpan.FromMilliseconds(300));
        string accession = $"NF{Guid.NewGuid():N}"[..12];
        ReadOnlySequence<byte> message = Body([Message(accession, 1, Positive)]);
        long before = await ResultsOnTopicAsync();

        NotDurableException refused = await Assert.ThrowsAsync<NotDurableException>(() => a.SendAsync(message));
        Assert.Contains("send it again", refused.Message);
        Assert.Equal(before, await ResultsOnTopicAsync());
        // Sent again through the other gateway, once the first is no longer writing it: stored, as version 1.
        SubmissionReport resent = await b.SendAsync(message);
        Assert.Equal((ItemStatus.Accepted, (int?)1), (resent.Items.Single().Status, resent.Items.Single().Version));
        Assert.Equal(before + 1, await ResultsOnTopicAsync());
        // From now on a duplicate, through either gateway.
        Assert.Equal(ItemStatus.Duplicate, (await a.SendAsync(message)).Items.Single().Status);
        Assert.Equal(ItemStatus.Duplicate, (await b.SendAsync(message)).Items.Single().Status);
        Assert.Equal(before + 1, await ResultsOnTopicAsync());
        Assert.False(failing!.FailNext);
    }

    [Fact]
    public async Task A_result_whose_sex_or_birth_date_was_mistyped_goes_where_its_INS_was_first_seen_whichever_gateway_takes_it()
    {
        string database = await postgres.NewDatabaseAsync();
        await using Gateway a = await GatewayAsync(database), b = await GatewayAsync(database);
        string run = $"{Guid.NewGuid():N}"[..8];
        long nir = 2_850_375_000_000 + Random.Shared.Next(100_000);
        string ins = nir.ToString(System.Globalization.CultureInfo.InvariantCulture) + (97 - nir % 97).ToString("D2", System.Globalization.CultureInfo.InvariantCulture);
        string Pid(string birth, string sex) => $"PID|1||{ins}^^^ASIP-SANTE-INS-NIR&1.2.250.1.213.1.4.8&ISO^INS||ROUTE^ANNE||{birth}|{sex}";
        await a.SendAsync(new ReadOnlySequence<byte>(IdentityFixtures.Message($"{run}-1", Pid("19850314", "F")).ToArray()));
        await b.SendAsync(new ReadOnlySequence<byte>(IdentityFixtures.Message($"{run}-2", Pid("19850314", "M")).ToArray()));
        await b.SendAsync(new ReadOnlySequence<byte>(IdentityFixtures.Message($"{run}-3", Pid("198503", "F")).ToArray()));
        // Without INS, the same mistyped traits stay on their own partition.
        await a.SendAsync(new ReadOnlySequence<byte>(IdentityFixtures.Message($"{run}-4", $"PID|1||L1^^^LAB^PI||ROUTE^ANNE||19850314|M").ToArray()));

        await using var reader = new KafkaTransport(kafka.Bootstrap);
        long[] ends = reader.EndOffsets(StageTopics.Results);
        Dictionary<string, string> keyOf = Enumerable.Range(0, ends.Length)
            .SelectMany(p => reader.ReadRange(StageTopics.Results, p, 0, ends[p]))
            .Where(m => m.Headers.GetValueOrDefault(StageTopics.ResultKey)?.Contains(run, StringComparison.Ordinal) == true)
            .ToDictionary(m => ResultRecords.ParseKey(m.Headers[StageTopics.ResultKey])!.Value.AccessionId, m => m.Key);
        Assert.Equal(4, keyOf.Count);
        Assert.Equal(["1985-03-14|F", "1985-03-14|F", "1985-03-14|F", "1985-03-14|M"],
            new[] { $"{run}-1", $"{run}-2", $"{run}-3", $"{run}-4" }.Select(k => keyOf[k]));
    }

    [Fact]
    public async Task While_PostgreSQL_is_down_a_submission_is_refused_as_not_stored_and_once_it_is_back_the_resend_is_stored_once()
    {
        Assert.True(postgres.Throwaway, "this test stops its own server; set no SIDEP_TEST_POSTGRES to run it");
        string database = await postgres.NewDatabaseAsync();
        await using var transport = new KafkaTransport(kafka.Bootstrap);
        using PostgresKeyIndex index = await PostgresKeyIndex.OpenAsync(database, new TransportJournal(transport), retryFor: TimeSpan.FromSeconds(2));
        var gateway = new IngestionService(new TransportJournal(transport), keys: index, router: index);
        string run = $"{Guid.NewGuid():N}"[..8];
        ReadOnlySequence<byte> message = Body([Message($"DOWN-{run}", 7, Positive)]);
        long before = await ResultsOnTopicAsync();

        await postgres.PauseAsync();
        try
        {
            NotDurableException refused = await Assert.ThrowsAsync<NotDurableException>(() => gateway.SubmitAsync(null, message, Formats.Hl7v2, "test", false));
            Assert.Contains("send it again", refused.Message);
            Assert.DoesNotContain("NOM7", refused.Message);
        }
        finally
        {
            await postgres.ResumeAsync();
        }
        Assert.Equal(before, await ResultsOnTopicAsync());
        SubmissionReport stored = (await gateway.SubmitAsync(null, message, Formats.Hl7v2, "test", false)).Report;
        Assert.Equal(1, stored.Counts.Accepted);
        Assert.Equal(ItemStatus.Duplicate, (await gateway.SubmitAsync(null, message, Formats.Hl7v2, "test", false)).Report.Items.Single().Status);
        Assert.Equal(before + 1, await ResultsOnTopicAsync());
    }

    [Fact]
    public async Task A_shared_index_opened_on_a_journal_that_already_holds_results_knows_them()
    {
        string database = await postgres.NewDatabaseAsync();
        await using var transport = new KafkaTransport(kafka.Bootstrap);
        string accession = $"IM{Guid.NewGuid():N}"[..12];
        // Written by a gateway of an earlier release (its index in its own process).
        var earlier = new IngestionService(new TransportJournal(transport));
        await earlier.SubmitAsync(null, Body([Message(accession, 2, Negative)]), Formats.Hl7v2, "test", false);
        await earlier.SubmitAsync(null, Body([Message(accession, 2, Positive, "C")]), Formats.Hl7v2, "test", false);

        await using Gateway gateway = await GatewayAsync(database);
        SubmissionReport again = await gateway.SendAsync(Body([Message(accession, 2, Negative)]));
        Assert.Equal((ItemStatus.Duplicate, (int?)1), (again.Items.Single().Status, again.Items.Single().Version));
        SubmissionReport third = await gateway.SendAsync(Body([Message(accession, 2, Positive, "X")]));
        Assert.Equal((ItemStatus.Retraction, (int?)3), (third.Items.Single().Status, third.Items.Single().Version));
    }
}
