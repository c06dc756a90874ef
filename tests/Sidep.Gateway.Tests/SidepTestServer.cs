using System.Net.Http.Headers;
using Microsoft.AspNetCore.Builder;
using Microsoft.Extensions.DependencyInjection;
using Sidep.Gateway;
using Sidep.Domain;
using Sidep.Journal;
using Sidep.Pipeline;
using Sidep.Storage.Sqlite;

using Sidep.Host;

namespace Sidep.Gateway.Tests;

/// <summary>A real embedded-mode server on loopback (HTTP and MLLP on free ports), in a temporary data directory.</summary>
public sealed class SidepTestServer : IAsyncDisposable
{
    private readonly WebApplication _app;

    private readonly bool _ownsDataDir;

    private SidepTestServer(WebApplication app, string dataDir, Uri http, int mllpPort, bool ownsDataDir)
    {
        _app = app;
        _ownsDataDir = ownsDataDir;
        DataDir = dataDir;
        Http = http;
        MllpPort = mllpPort;
    }

    public string DataDir { get; }
    public Uri Http { get; }
    public int MllpPort { get; }
    public StateStore Store => _app.Services.GetRequiredService<StateStore>();

    /// <summary>The lab register: the data directory's database (embedded mode) or PostgreSQL (distributed mode).</summary>
    public ILabRegister Labs => _app.Services.GetRequiredService<ILabRegister>();

    /// <summary>The journal (embedded mode): the system of record, every result's versions.</summary>
    public IResultJournal Journal => _app.Services.GetRequiredService<IResultJournal>();
    public IServiceProvider Services => _app.Services;

    /// <param name="dataDir">A data directory the caller keeps (a restart on it); none: a temporary one, removed at the end.</param>
    public static async Task<SidepTestServer> StartAsync(Func<GatewayOptions, GatewayOptions>? configure = null, Action<WebApplicationBuilder>? customize = null,
        DistributedBackends? distributed = null, string? dataDir = null)
    {
        string dir = dataDir ?? Directory.CreateTempSubdirectory("sidep-gw-").FullName;
        GatewayOptions options = new(dir, MllpPort: 0);
        options = configure?.Invoke(options) ?? options;
        WebApplication app = SidepServer.Build(options, ["http://127.0.0.1:0"], customize: customize, distributed: distributed);
        await app.StartAsync();
        int mllp = await app.Services.GetRequiredService<MllpListener>().Port;
        return new SidepTestServer(app, dir, new Uri(app.Urls.First()), mllp, ownsDataDir: dataDir is null);
    }

    /// <summary>Waits until every stage has read its whole input (what GET /v1/pipeline calls caught up), failing the
    /// test after <paramref name="within"/> (default 90 s).</summary>
    public async Task WaitCaughtUpAsync(TimeSpan? within = null)
    {
        IPipelineView pipeline = _app.Services.GetRequiredService<IPipelineView>();
        var waited = System.Diagnostics.Stopwatch.StartNew();
        while (pipeline.Snapshot().Stages.Any(stage => stage.Lag > 0))
        {
            Assert.True(waited.Elapsed < (within ?? TimeSpan.FromSeconds(90)), $"the pipeline did not catch up within {(within ?? TimeSpan.FromSeconds(90)).TotalSeconds} s");
            await Task.Delay(50);
        }
    }

    public HttpClient Client(string? apiKey)
    {
        var client = new HttpClient { BaseAddress = Http };
        if (apiKey is not null)
        {
            client.DefaultRequestHeaders.Authorization = new AuthenticationHeaderValue("Bearer", apiKey);
        }
        return client;
    }

    public async ValueTask DisposeAsync()
    {
        await _app.StopAsync();
        await _app.DisposeAsync();
        if (!_ownsDataDir)
        {
            return;
        }
        try
        {
            Directory.Delete(DataDir, recursive: true);
        }
        catch (IOException)
        {
        }
    }
}
