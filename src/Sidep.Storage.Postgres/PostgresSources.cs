using Npgsql;

namespace Sidep.Storage.Postgres;

/// <summary>How Sidep's PostgreSQL stores connect: a connection returned to the pool keeps its session (no reset), so
/// the stores' staging tables live as long as the connection. The stores set no other session state (no SET, no
/// session-level locks, no prepared statements), so nothing else can pass from one use of a connection to the next.
/// Statements are not prepared: a cached plan made while a staging table was empty joins it to a large table the slow
/// way for every later batch (measured: the research stage's joins 20× slower).</summary>
internal static class PostgresSources
{
    public static NpgsqlDataSource Create(string connectionString)
    {
        var builder = new NpgsqlConnectionStringBuilder(connectionString) { NoResetOnClose = true };
        return NpgsqlDataSource.Create(builder);
    }
}
