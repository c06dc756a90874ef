using Sidep.Domain;
using Sidep.Journal;
using Sidep.Pipeline;
using Sidep.Storage.Sqlite;
using Sidep.Storage.Postgres;

namespace Sidep.Storage.Tests;

public sealed class PostgresFailureTests(PostgresCluster cluster) : IClassFixture<PostgresCluster>
{
    [Fact]
    public async Task Writes_retry_while_PostgreSQL_restarts_and_nothing_is_lost_or_written_twice()
    {
        Assert.True(cluster.Throwaway, "this test stops its own server; set no SIDEP_TEST_POSTGRES to run it");
        using PostgresStore store = PostgresStore.Open(await cluster.NewDatabaseAsync(), retryFor: TimeSpan.FromSeconds(60));
        const int batches = 300, perBatch = 20;
        Task writer = Task.Run(() =>
        {
            for (int b = 0; b < batches; b++)
            {
                var rows = Enumerable.Range(0, perBatch).Select(i => new MatchRow("990000001", $"B{b}-{i}", "94500-6", 1, 1, "InsNewPerson", 1, "{}")).ToList();
                store.ApplyMatches("identity/0", (b + 1L) * perBatch, rows, []);
                Thread.Sleep(5);
            }
        });
        // Mid-load: some batches written, not all.
        DateTime until = DateTime.UtcNow + TimeSpan.FromSeconds(30);
        while (store.GetOffset("identity/0", -1) < 10 * perBatch)
        {
            Assert.True(DateTime.UtcNow < until, "no batch written within 30 s");
            await Task.Delay(10);
        }
        await cluster.PauseAsync();  // the server goes away mid-load, until a write has met its absence
        await PostgresCluster.OutageSeenAsync(store);
        await cluster.ResumeAsync();
        await writer.WaitAsync(TimeSpan.FromSeconds(120));
        Assert.Equal(batches * perBatch, store.DecisionsOf(1).Count);
        Assert.Equal(batches * perBatch, store.GetOffset("identity/0", -1));
    }
}
