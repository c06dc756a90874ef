using System.Buffers;
using System.Net.Http.Headers;
using System.Net.Http.Json;
using System.Text.Json;
using Microsoft.Extensions.DependencyInjection;
using Sidep.Ingestion;
using Sidep.Parsing.Hl7v2;
using Sidep.Domain;
using Sidep.Journal;
using Sidep.Pipeline;
using Sidep.Storage.Sqlite;
using Sidep.Storage.Postgres;
using Sidep.Storage.Tests;
using Sidep.Tests;
using Sidep.Transport.Kafka;

using Sidep.Host;

namespace Sidep.Gateway.Tests;

/// <summary>
/// `sidep serve --kafka ... --postgres ...` against `sidep serve`: the same submissions over HTTP (the corpus in its
/// three formats and a synthetic workload with merges, corrections, retractions and duplicates) give the same
/// published indicator tables, the same cases and the same research rows and partitions. Kafka is librdkafka's mock cluster (or $SIDEP_KAFKA_BOOTSTRAP),
/// PostgreSQL a throwaway cluster (or $SIDEP_TEST_POSTGRES).
/// </summary>
public sealed class DistributedServeTests(KafkaCluster kafka, PostgresCluster postgres) : IClassFixture<KafkaCluster>, IClassFixture<PostgresCluster>
{
    internal const string Token = "operator-token-for-tests";

    private const string AgentKey = "agent-signing-key-for-the-comparison-tests";

    internal sealed record Run(Dictionary<string, string> Tables, Workload.Outcomes Stored, int Accepted, long Results, List<string> Identity);

    /// <summary>A day a month after the workload's sample dates, so that the prior-positive answers have positives to
    /// find whenever the test runs.</summary>
    private sealed class FixedDay : TimeProvider
    {
        public override DateTimeOffset GetUtcNow() => new(2026, 2, 1, 12, 0, 0, TimeSpan.Zero);
    }

    /// <summary>Every facility the submissions are sent as, registered for one lab.</summary>
    internal static IEnumerable<(string Format, byte[] Body)> Submissions() =>
        Workload.Corpus().Concat(Workload.Synthetic().Select(b => (Formats.Hl7v2, b))).Concat(ForReview().Select(b => (Formats.Hl7v2, b)));

    /// <summary>Results the matcher cannot decide alone: a possible match (second given names that contradict) and an
    /// INS conflict (the same INS, another woman), for the review queue.</summary>
    private static IEnumerable<byte[]> ForReview() =>
        new[]
        {
            "PID|1||51^^^LAB^PI||DURAND^PAUL^ANDRE||19700101|M",
            "PID|1||52^^^LAB^PI||DURAND^PAUL^MARCEL||19700101|M",
            $"PID|1||{IdentityFixtures.Ins}^^^ASIP-SANTE-INS-NIR&1.2.250.1.213.1.4.8&ISO^INS||LEFEVRE^HELENE||19850314|F",
            $"PID|1||{IdentityFixtures.Ins}^^^ASIP-SANTE-INS-NIR&1.2.250.1.213.1.4.8&ISO^INS||BERNARD^SOPHIE||19850314|F",
        }.Select((pid, i) => IdentityFixtures.Message($"REV{i}", pid).ToArray());

    internal static string[] Facilities() => [.. Submissions()
        .SelectMany(s => Formats.Parse(s.Format, new ReadOnlySequence<byte>(s.Body), Hl7ParserOptions.Default).Messages.SelectMany(m => m.SenderIds))
        .Append("LAB").Distinct()];

    internal static async Task<Run> RunAsync(DistributedBackends? distributed)
    {
        await using SidepTestServer server = await SidepTestServer.StartAsync(
            o => o with
            {
                OperatorToken = Token, MllpPort = -1, AgentSigningKey = AgentKey, PriorPositivePerMinute = 100_000,
                ResearchKeys = $"k1={new string('a', 32)};k2={new string('b', 32)}", // a rotation: k1 → k2
            },
            customize: b => b.Services.AddSingleton<TimeProvider>(new FixedDay()), distributed: distributed);
        using HttpClient lab = server.Client(server.Labs.AddLab("990000001", "Demo", Facilities(), []));
        int accepted = 0;
        foreach ((string format, byte[] body) in Submissions())
        {
            using var content = new ByteArrayContent(body);
            content.Headers.ContentType = new MediaTypeHeaderValue(Formats.MediaTypeOf(format));
            using HttpResponseMessage response = await lab.PostAsync("/v1/submissions", content);
            using JsonDocument report = JsonDocument.Parse(await response.Content.ReadAsStringAsync());
            if (report.RootElement.TryGetProperty("counts", out JsonElement counts))
            {
                accepted += counts.GetProperty("accepted").GetInt32() + counts.GetProperty("correction").GetInt32();
            }
        }
        using HttpClient op = server.Client(null);
        op.DefaultRequestHeaders.Add("X-Operator-Token", Token);
        DateTime until = DateTime.UtcNow + TimeSpan.FromSeconds(120);
        long results;
        while (true)
        {
            using JsonDocument pipeline = JsonDocument.Parse(await op.GetStringAsync("/v1/pipeline"));
            results = pipeline.RootElement.GetProperty("results").GetInt64();
            // Caught up — on a reading taken after every result was journalled (the distributed mode's reading may be a
            // second old) —, and the research partitions of every changed sample date written.
            if (results >= accepted && pipeline.RootElement.GetProperty("caughtUp").GetBoolean() && server.Services.GetRequiredService<IStageStore>().DirtyResearchDates(1).Count == 0)
            {
                break;
            }
            Assert.True(DateTime.UtcNow < until, $"the pipeline did not catch up within 120 s: {pipeline.RootElement}");
            await Task.Delay(300);
        }
        List<string> identity = await IdentityAnswersAsync(server, op);
        // Oppositions recorded after the stream: the research rows of those persons go, in both modes alike.
        foreach (object opposition in Oppositions())
        {
            HttpResponseMessage recorded = await op.PostAsJsonAsync("/v1/oppositions", opposition);
            identity.Add($"opposition: {(int)recorded.StatusCode} {await recorded.Content.ReadAsStringAsync()}");
        }
        while (server.Services.GetRequiredService<IStageStore>().DirtyResearchDates(1).Count > 0)
        {
            Assert.True(DateTime.UtcNow < until, "the research partitions were not written again after the oppositions within 120 s");
            await Task.Delay(100);
        }
        var tables = new Dictionary<string, string>();
        foreach (string level in new[] { "dep", "reg", "fra" })
        {
            tables[level] = await op.GetStringAsync($"/v1/indicators/{level}/daily.csv");
        }
        return new Run(tables, Workload.Outcome(server.Services.GetRequiredService<IStageStore>(), Path.Combine(server.DataDir, "research")), accepted, results, identity);
    }

    /// <summary>Oppositions to research use recorded after the stream: one by INS, one by traits.</summary>
    internal static object[] Oppositions() => [new { ins = Workload.PersonOf(0).Ins }, Traits(Workload.PersonOf(3))];

    private static object Traits(Workload.Person p) => new { birthName = p.Name, givenNames = new[] { p.Given }, birthDate = p.BirthDate, sex = p.Sex, days = 366 };

    /// <summary>What the identity questions answer: the prior-positive question for persons of the workload (by INS and
    /// by traits), and the review queue (the results in it and their rules; person ids are numbered differently by the
    /// two modes, so they are left out).</summary>
    private static async Task<List<string>> IdentityAnswersAsync(SidepTestServer server, HttpClient op)
    {
        var answers = new List<string>();
        using HttpClient national = server.Client(null);
        national.DefaultRequestHeaders.Authorization = new AuthenticationHeaderValue("Bearer",
            AgentTokens.Mint(AgentKey, "agent-national", AgentRoles.NationalInvestigator, [], TimeSpan.FromHours(1)));
        for (int i = 0; i < 240; i += 7)
        {
            Workload.Person person = Workload.PersonOf(i);
            foreach ((string how, object query) in new[] { ("ins", (object)new { ins = person.Ins, days = 366 }), ("traits", Traits(person)) })
            {
                HttpResponseMessage answer = await national.PostAsJsonAsync("/v1/cases/prior-positive", query);
                answers.Add($"prior-positive {i} by {how}: {(int)answer.StatusCode} {await answer.Content.ReadAsStringAsync()}");
            }
        }
        // The pseudonym link table after the rotation: one link per person with research rows (pseudonyms are of
        // person ids, numbered differently by the two modes: their number is compared).
        using HttpClient research = server.Client(null);
        research.DefaultRequestHeaders.Authorization = new AuthenticationHeaderValue("Bearer",
            AgentTokens.Mint(AgentKey, "agent-research", AgentRoles.ResearchOperator, [], TimeSpan.FromHours(1)));
        HttpResponseMessage links = await research.GetAsync("/v1/research/pseudonym-links?from=k1&to=k2");
        answers.Add($"pseudonym links: {(int)links.StatusCode} {(links.IsSuccessStatusCode ? JsonDocument.Parse(await links.Content.ReadAsStringAsync()).RootElement.GetArrayLength() : -1)}");
        HttpResponseMessage review = await op.GetAsync("/v1/persons/review?limit=1000");
        answers.Add($"review queue: {(int)review.StatusCode}");
        if (review.IsSuccessStatusCode)
        {
            using JsonDocument page = JsonDocument.Parse(await review.Content.ReadAsStringAsync());
            answers.AddRange(page.RootElement.GetProperty("items").EnumerateArray()
                .Select(x => $"review: {x.GetProperty("rule").GetString()} {x.GetProperty("result")}").Order(StringComparer.Ordinal));
        }
        return answers;
    }

    [Fact]
    public async Task Serve_on_kafka_and_postgres_publishes_the_same_indicator_tables_and_cases_as_the_embedded_mode()
    {
        Run embedded = await RunAsync(null);
        Assert.True(embedded.Accepted > 400);
        // The national all-ages rows (cl_age90 = 0) count positives: the comparison is not of empty tables.
        Assert.Contains(embedded.Tables["fra"].Split('\n').Skip(1).Select(l => l.Split(';')), f => f.Length == 10 && f[8] == "0" && f[4] != "0");

        await using var transport = new KafkaTransport(kafka.Bootstrap);
        string database = await postgres.NewDatabaseAsync();
        using PostgresStore store = PostgresStore.Open(database);
        using PostgresKeyIndex keys = await PostgresKeyIndex.OpenAsync(database, new TransportJournal(transport));
        Run distributed = await RunAsync(new DistributedBackends(transport, store, keys, store, keys));

        Assert.Equal(embedded.Accepted, distributed.Accepted);
        // The identity questions, answered in both modes alike (none answers 501).
        Assert.Contains(embedded.Identity, a => a.Contains("\"priorPositive\":true", StringComparison.Ordinal));
        Assert.Contains(embedded.Identity, a => a.StartsWith("review: ", StringComparison.Ordinal));
        Assert.Matches("^pseudonym links: 200 [1-9]", embedded.Identity.Single(a => a.StartsWith("pseudonym links", StringComparison.Ordinal)));
        Assert.Equal(embedded.Identity, distributed.Identity);
        Assert.Equal(embedded.Results, distributed.Results);
        foreach (string level in embedded.Tables.Keys)
        {
            Assert.Equal(embedded.Tables[level], distributed.Tables[level]);
        }
        Assert.NotEmpty(embedded.Stored.Research);
        embedded.Stored.AssertEqual(distributed.Stored);
    }
}
