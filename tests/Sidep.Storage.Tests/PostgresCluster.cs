using System.Diagnostics;
using System.Net;
using System.Net.Sockets;
using Npgsql;
using Sidep.Storage.Postgres;
using Sidep.Tests;

namespace Sidep.Storage.Tests;

/// <summary>
/// A real PostgreSQL server for the tests: the one named by $SIDEP_TEST_POSTGRES, else a throwaway cluster started by
/// infra/postgres/throwaway.sh (installed with apt when missing) on a free port, stopped and removed afterwards.
/// Each test store gets a database of its own, migrated by `sidep db migrate`'s code.
/// </summary>
public sealed class PostgresCluster : IAsyncLifetime
{
    private string? _directory;
    private int _port;
    public string ConnectionString { get; private set; } = "";

    /// <summary>Whether this fixture owns its server (and can stop it for failure tests).</summary>
    public bool Throwaway => _directory is not null;

    public async Task InitializeAsync()
    {
        if (Environment.GetEnvironmentVariable("SIDEP_TEST_POSTGRES") is { Length: > 0 } external)
        {
            ConnectionString = external;
            return;
        }
        _directory = $"/tmp/sidep-pg-{Guid.NewGuid():N}";
        _port = FreePort();
        (int exit, string output, string errors) = await Script("start", _directory, _port.ToString(System.Globalization.CultureInfo.InvariantCulture));
        Assert.True(exit == 0, $"the throwaway PostgreSQL did not start: {output}{errors}");
        ConnectionString = output.Trim().Split('\n')[^1];
    }

    public async Task DisposeAsync()
    {
        NpgsqlConnection.ClearAllPools();
        if (_directory is not null)
        {
            await Script("stop", _directory);
        }
    }

    /// <summary>Stops the server (fast shutdown: connections are cut).</summary>
    public Task PauseAsync() => Script("pause", _directory!);

    /// <summary>Waits until the store has tried something again after a transient failure (after <see cref="PauseAsync"/>:
    /// the outage was met, not merely scheduled).</summary>
    public static async Task OutageSeenAsync(Sidep.Storage.Postgres.PostgresStore store)
    {
        long before = store.Retries;
        DateTime until = DateTime.UtcNow + TimeSpan.FromSeconds(60);
        while (store.Retries == before)
        {
            Assert.True(DateTime.UtcNow < until, "no read or write met the outage within 60 s");
            await Task.Delay(10);
        }
    }

    public Task ResumeAsync() => Script("resume", _directory!, _port.ToString(System.Globalization.CultureInfo.InvariantCulture));

    /// <summary>A new, migrated database and its connection string.</summary>
    public async Task<string> NewDatabaseAsync()
    {
        string name = $"sidep_{Guid.NewGuid():N}";
        await using (var source = NpgsqlDataSource.Create(ConnectionString))
        await using (NpgsqlCommand create = source.CreateCommand($"CREATE DATABASE {name}"))
        {
            await create.ExecuteNonQueryAsync();
        }
        string connection = new NpgsqlConnectionStringBuilder(ConnectionString) { Database = name }.ConnectionString;
        await PostgresStore.MigrateAsync(connection);
        return connection;
    }

    private static async Task<(int Exit, string Output, string Errors)> Script(params string[] args)
    {
        // From /, which the postgres user can read whatever the test's own directory is.
        var psi = new ProcessStartInfo("bash") { RedirectStandardOutput = true, RedirectStandardError = true, WorkingDirectory = "/" };
        psi.ArgumentList.Add(Path.Combine(Fixtures.RepoRoot, "infra", "postgres", "throwaway.sh"));
        foreach (string a in args)
        {
            psi.ArgumentList.Add(a);
        }
        using Process process = Process.Start(psi)!;
        Task<string> stdout = process.StandardOutput.ReadToEndAsync(), stderr = process.StandardError.ReadToEndAsync();
        await process.WaitForExitAsync();
        return (process.ExitCode, await stdout, await stderr);
    }

    private static int FreePort()
    {
        using var listener = new TcpListener(IPAddress.Loopback, 0);
        listener.Start();
        return ((IPEndPoint)listener.LocalEndpoint).Port;
    }
}
