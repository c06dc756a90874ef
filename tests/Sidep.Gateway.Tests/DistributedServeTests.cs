using System.Buffers;
using System.Net.Http.Headers;
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
using Sidep.Transport.Kafka;

namespace Sidep.Gateway.Tests;

/// <summary>
/// `sidep serve --kafka ... --postgres ...` against `sidep serve`: the same submissions over HTTP (the corpus in its
/// three formats and a synthetic workload with merges, corrections, retractions and duplicates) give the same
/// published indicator tables, the same cases and the same research rows and partitions. Kafka is librdkafka's mock cluster (or $SIDEP_KAFKA_BOOTSTRAP),
/// PostgreSQL a throwaway cluster (or $SIDEP_TEST_POSTGRES).
/// </summary>
public sealed class DistributedServeTests(KafkaCluster kafka, PostgresCluster postgres) : IClassFixture<KafkaCluster>, IClassFixture<PostgresCluster>
{
    private const string Token = "operator-token-for-tests";

    private sealed record Run(Dictionary<string, string> Tables, Workload.Outcomes Stored, int Accepted, long Results);

    /// <summary>Every facility the submissions are sent as, registered for one lab.</summary>
    private static IEnumerable<(string Format, byte[] Body)> Submissions() =>
        Workload.Corpus().Concat(Workload.Synthetic().Select(b => (Formats.Hl7v2, b)));

    private static string[] Facilities() => [.. Submissions()
        .SelectMany(s => Formats.Parse(s.Format, new ReadOnlySequence<byte>(s.Body), Hl7ParserOptions.Default).Messages.SelectMany(m => m.SenderIds))
        .Append("LAB").Distinct()];

    private static async Task<Run> RunAsync(DistributedBackends? distributed)
    {
        await using SidepTestServer server = await SidepTestServer.StartAsync(o => o with { OperatorToken = Token, MllpPort = -1 }, distributed: distributed);
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
        await Task.Delay(1100); // the distributed pipeline's positions are read at most once a second
        long results;
        while (true)
        {
            using JsonDocument pipeline = JsonDocument.Parse(await op.GetStringAsync("/v1/pipeline"));
            results = pipeline.RootElement.GetProperty("results").GetInt64();
            // Caught up, and the research partitions of every changed sample date written.
            if (pipeline.RootElement.GetProperty("caughtUp").GetBoolean() && server.Services.GetRequiredService<IStageStore>().DirtyResearchDates(1).Count == 0)
            {
                break;
            }
            Assert.True(DateTime.UtcNow < until, $"the pipeline did not catch up within 120 s: {pipeline.RootElement}");
            await Task.Delay(300);
        }
        var tables = new Dictionary<string, string>();
        foreach (string level in new[] { "dep", "reg", "fra" })
        {
            tables[level] = await op.GetStringAsync($"/v1/indicators/{level}/daily.csv");
        }
        return new Run(tables, Workload.Outcome(server.Services.GetRequiredService<IStageStore>(), Path.Combine(server.DataDir, "research")), accepted, results);
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
        Run distributed = await RunAsync(new DistributedBackends(transport, store, keys, store));

        Assert.Equal(embedded.Accepted, distributed.Accepted);
        Assert.Equal(embedded.Results, distributed.Results);
        foreach (string level in embedded.Tables.Keys)
        {
            Assert.Equal(embedded.Tables[level], distributed.Tables[level]);
        }
        Assert.NotEmpty(embedded.Stored.Research);
        embedded.Stored.AssertEqual(distributed.Stored);
    }
}
