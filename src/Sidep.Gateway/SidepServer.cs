using Microsoft.AspNetCore.Builder;
using Microsoft.AspNetCore.Hosting;
using Microsoft.Extensions.DependencyInjection;
using Microsoft.Extensions.Hosting;
using Sidep.Ingestion;
using Sidep.Parsing.Hl7v2;
using Sidep.ServiceDefaults;
using Sidep.Storage.Embedded;

namespace Sidep.Gateway;

/// <summary>The distributed mode's backends: the stages' transport and store.</summary>
public sealed record DistributedBackends(Sidep.Transport.IStageTransport Transport, IStageStore Store);

/// <summary>Builds the server: the gateway (HTTP + MLLP) and, unless <see cref="GatewayOptions.RunStages"/> is off, the
/// pipeline's stages — on the embedded log and store, or on Kafka and PostgreSQL (the distributed mode).</summary>
public static class SidepServer
{
    /// <param name="customize">Last changes to the builder (tests add log and trace listeners).</param>
    /// <param name="distributed">The distributed mode's transport (Kafka) and store (PostgreSQL); null: the embedded mode.</param>
    public static WebApplication Build(GatewayOptions options, string[] urls, string[]? args = null, Action<WebApplicationBuilder>? customize = null,
        DistributedBackends? distributed = null)
    {
        WebApplicationBuilder builder = WebApplication.CreateSlimBuilder(new WebApplicationOptions { Args = args ?? [] });
        builder.WebHost.UseUrls(urls);
        builder.WebHost.ConfigureKestrel(k => k.Limits.MaxRequestBodySize = options.MaxBodyBytes + 1);
        builder.AddServiceDefaults("sidep", [IngestionService.ActivitySource.Name], [IngestionService.Meter.Name, StateStore.Meter.Name]);

        // The lab register and transcoding tables: the data directory's store in both modes.
        StateStore store = StateStore.Open(options.DataDirectory);
        Terminology terminology = Terminology.CreateNational();
        terminology.Load(store.ListTranscoding());
        builder.Services.AddSingleton(options);
        builder.Services.AddSingleton(store);
        builder.Services.AddSingleton<Backpressure>();
        builder.Services.AddSingleton<StageFailures>();
        var parserOptions = new Hl7ParserOptions { Production = options.Production };
        List<IAsyncDisposable> closing = [];
        if (distributed is null)
        {
            EmbeddedLog log = EmbeddedLog.Open(Path.Combine(options.DataDirectory, "log"), options.Partitions);
            EmbeddedLog matched = EmbeddedLog.Open(Path.Combine(options.DataDirectory, "matched"), options.Partitions);
            var topics = new Sidep.Transport.InProcessTransport(options.DataDirectory, options.Partitions);
            closing.AddRange([log, matched, topics]);
            builder.Services.AddSingleton(new IngestionService(log, parserOptions, terminology));
            builder.Services.AddSingleton(log);
            builder.Services.AddSingleton<IStageStore>(store);
            builder.Services.AddSingleton(new ResultStoreStage(log, store));
            builder.Services.AddSingleton(new IdentityStage(log, store, matched, sandbox: !options.Production, terminology: terminology));
            builder.Services.AddSingleton(new MatchedLog(matched));
            var indicators = new IndicatorStage(matched, store, terminology);
            builder.Services.AddSingleton(indicators);
            builder.Services.AddSingleton<IIndicatorReader>(indicators);
            builder.Services.AddSingleton<Sidep.Transport.IStageTransport>(topics);
            builder.Services.AddSingleton(new FanOutStage(matched, store, terminology, publish: topics));
            builder.Services.AddSingleton(new ResearchStage(matched, store, terminology, Pseudonyms.Parse(options.ResearchKeys ?? ResearchKeyFile(options.DataDirectory)),
                Path.Combine(options.DataDirectory, "research")));
            builder.Services.AddSingleton<IPipelineView, EmbeddedPipeline>();
            if (options.RunStages)
            {
                builder.Services.AddHostedService<ResultStoreWorker>();
                builder.Services.AddHostedService<IdentityWorker>();
                builder.Services.AddHostedService<IndicatorWorker>();
                builder.Services.AddHostedService<FanOutWorker>();
                builder.Services.AddHostedService<ResearchWorker>();
            }
        }
        else
        {
            (Sidep.Transport.IStageTransport transport, IStageStore stageStore) = distributed;
            builder.Services.AddSingleton(new IngestionService(new TransportJournal(transport), parserOptions, terminology));
            builder.Services.AddSingleton(transport);
            builder.Services.AddSingleton(stageStore);
            builder.Services.AddSingleton<IIndicatorReader>(new StoredIndicators(stageStore));
            builder.Services.AddSingleton<IPipelineView>(new DistributedPipeline(transport, stageStore));
            if (options.RunStages)
            {
                // As plain IHostedService singletons: AddHostedService keeps one registration per implementation type.
                Pseudonyms pseudonyms = Pseudonyms.Parse(options.ResearchKeys ?? ResearchKeyFile(options.DataDirectory));
                foreach (string name in DistributedStages.Names)
                {
                    builder.Services.AddSingleton<IHostedService>(sp => new StageService(async ct =>
                    {
                        using IStageWorker stage = DistributedStages.Create(name, transport, stageStore, terminology, sandbox: !options.Production, pseudonyms,
                            Path.Combine(options.DataDirectory, "research"));
                        await stage.RunAsync(ct).ConfigureAwait(false);
                    }, sp.GetRequiredService<StageFailures>()));
                }
            }
        }
        builder.Services.AddSingleton(TimeProvider.System);
        builder.Services.AddAgentAuthentication(options);
        builder.Services.AddSingleton<MllpListener>();
        builder.Services.AddHostedService(sp => sp.GetRequiredService<MllpListener>());

        customize?.Invoke(builder);
        WebApplication app = builder.Build();
        if (options.AgentSigningKey is not null)
        {
            app.UseAuthentication();
            app.UseAuthorization();
        }
        app.MapDefaultEndpoints();
        app.MapSubmissionsApi();
        app.MapTerminologyApi();
        app.MapLabsApi();
        app.MapPersonsApi();
        app.MapIndicatorsApi();
        app.MapCasesApi();
        app.MapResearchApi();
        app.MapPipelineApi();
        app.Lifetime.ApplicationStopped.Register(() =>
        {
            foreach (IAsyncDisposable c in closing)
            {
                c.DisposeAsync().AsTask().GetAwaiter().GetResult();
            }
            store.Dispose();
        });
        return app;
    }

    /// <summary>The research key kept in the data directory when none is configured: made once, readable by its owner only.</summary>
    private static string ResearchKeyFile(string dataDirectory)
    {
        string path = Path.Combine(dataDirectory, "secrets", "research-keys");
        if (!File.Exists(path))
        {
            Directory.CreateDirectory(Path.GetDirectoryName(path)!);
            File.WriteAllText(path, "k1=" + Convert.ToHexStringLower(System.Security.Cryptography.RandomNumberGenerator.GetBytes(32)));
            if (!OperatingSystem.IsWindows())
            {
                File.SetUnixFileMode(path, UnixFileMode.UserRead | UnixFileMode.UserWrite);
            }
        }
        return File.ReadAllText(path).Trim();
    }
}

/// <summary>Hosts a stage of the distributed pipeline; its failure stops the process loudly.</summary>
internal sealed class StageService(Func<CancellationToken, Task> run, StageFailures failures) : BackgroundService
{
    protected override Task ExecuteAsync(CancellationToken stoppingToken) => failures.Run(run, stoppingToken);
}

/// <summary>The first stage that failed, if any: the host stops (its default for a failed background service) and
/// `sidep serve` exits non-zero saying which.</summary>
public sealed class StageFailures
{
    private Exception? _first;

    public Exception? First => Volatile.Read(ref _first);

    internal Task Run(Func<CancellationToken, Task> stage, CancellationToken stoppingToken) => Task.Run(async () =>
    {
        try
        {
            await stage(stoppingToken).ConfigureAwait(false);
        }
        catch (Exception ex) when (!stoppingToken.IsCancellationRequested)
        {
            Interlocked.CompareExchange(ref _first, ex, null);
            throw;
        }
    }, stoppingToken);
}

/// <summary>Hosts the research stage of the embedded pipeline.</summary>
internal sealed class ResearchWorker(ResearchStage stage, StageFailures failures) : BackgroundService
{
    protected override Task ExecuteAsync(CancellationToken stoppingToken) => failures.Run(stage.RunAsync, stoppingToken);
}

/// <summary>Hosts the identity stage of the embedded pipeline.</summary>
internal sealed class IdentityWorker(IdentityStage stage, StageFailures failures) : BackgroundService
{
    protected override Task ExecuteAsync(CancellationToken stoppingToken) => failures.Run(stage.RunAsync, stoppingToken);
}

/// <summary>Hosts the fan-out stage (cases, notices) of the embedded pipeline.</summary>
internal sealed class FanOutWorker(FanOutStage stage, StageFailures failures) : BackgroundService
{
    protected override Task ExecuteAsync(CancellationToken stoppingToken) => failures.Run(stage.RunAsync, stoppingToken);
}

/// <summary>Hosts the indicator stage of the embedded pipeline.</summary>
internal sealed class IndicatorWorker(IndicatorStage stage, StageFailures failures) : BackgroundService
{
    protected override Task ExecuteAsync(CancellationToken stoppingToken) => failures.Run(stage.RunAsync, stoppingToken);
}

/// <summary>Hosts the result-store stage of the embedded pipeline.</summary>
internal sealed class ResultStoreWorker(ResultStoreStage stage, StageFailures failures) : BackgroundService
{
    protected override Task ExecuteAsync(CancellationToken stoppingToken) => failures.Run(stage.RunAsync, stoppingToken);
}
