using Microsoft.AspNetCore.Builder;
using Microsoft.AspNetCore.Hosting;
using Microsoft.Extensions.DependencyInjection;
using Microsoft.Extensions.Hosting;
using Sidep.Ingestion;
using Sidep.Parsing.Hl7v2;
using Sidep.ServiceDefaults;
using Sidep.Storage.Embedded;

namespace Sidep.Gateway;

/// <summary>Builds the embedded-mode server: gateway (HTTP + MLLP), durable log, state store and the store stage.</summary>
public static class SidepServer
{
    /// <param name="customize">Last changes to the builder (tests add log and trace listeners).</param>
    public static WebApplication Build(GatewayOptions options, string[] urls, string[]? args = null, Action<WebApplicationBuilder>? customize = null)
    {
        WebApplicationBuilder builder = WebApplication.CreateSlimBuilder(new WebApplicationOptions { Args = args ?? [] });
        builder.WebHost.UseUrls(urls);
        builder.WebHost.ConfigureKestrel(k => k.Limits.MaxRequestBodySize = options.MaxBodyBytes + 1);
        builder.AddServiceDefaults("sidep", [IngestionService.ActivitySource.Name], [IngestionService.Meter.Name]);

        EmbeddedLog log = EmbeddedLog.Open(Path.Combine(options.DataDirectory, "log"), options.Partitions);
        StateStore store = StateStore.Open(options.DataDirectory);
        Terminology terminology = Terminology.CreateNational();
        terminology.Load(store.ListTranscoding());
        var ingestion = new IngestionService(log, new Hl7ParserOptions { Production = options.Production }, terminology);
        builder.Services.AddSingleton(options);
        builder.Services.AddSingleton(log);
        builder.Services.AddSingleton(store);
        builder.Services.AddSingleton(ingestion);
        builder.Services.AddSingleton(new ResultStoreStage(log, store));
        EmbeddedLog matched = EmbeddedLog.Open(Path.Combine(options.DataDirectory, "matched"), options.Partitions);
        builder.Services.AddSingleton(new IdentityStage(log, store, matched, sandbox: !options.Production, terminology: terminology));
        builder.Services.AddSingleton(new MatchedLog(matched));
        builder.Services.AddSingleton<Backpressure>();
        builder.Services.AddSingleton(new IndicatorStage(matched, store, terminology));
        var topics = new Sidep.Transport.InProcessTransport(options.DataDirectory, options.Partitions);
        builder.Services.AddSingleton<Sidep.Transport.IStageTransport>(topics);
        builder.Services.AddSingleton(new FanOutStage(matched, store, terminology, publish: topics));
        builder.Services.AddSingleton(new ResearchStage(matched, store, terminology, Pseudonyms.Parse(options.ResearchKeys ?? ResearchKeyFile(options.DataDirectory)),
            Path.Combine(options.DataDirectory, "research")));
        builder.Services.AddSingleton(TimeProvider.System);
        builder.Services.AddAgentAuthentication(options);
        builder.Services.AddSingleton<MllpListener>();
        builder.Services.AddHostedService(sp => sp.GetRequiredService<MllpListener>());
        if (options.RunStages)
        {
            builder.Services.AddHostedService<ResultStoreWorker>();
            builder.Services.AddHostedService<IdentityWorker>();
            builder.Services.AddHostedService<IndicatorWorker>();
            builder.Services.AddHostedService<FanOutWorker>();
            builder.Services.AddHostedService<ResearchWorker>();
        }

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
        app.MapPersonsApi();
        app.MapIndicatorsApi();
        app.MapCasesApi();
        app.MapResearchApi();
        app.MapPipelineApi();
        app.Lifetime.ApplicationStopped.Register(() =>
        {
            log.DisposeAsync().AsTask().GetAwaiter().GetResult();
            matched.DisposeAsync().AsTask().GetAwaiter().GetResult();
            topics.DisposeAsync().AsTask().GetAwaiter().GetResult();
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

/// <summary>Hosts the research stage of the embedded pipeline.</summary>
internal sealed class ResearchWorker(ResearchStage stage) : BackgroundService
{
    protected override Task ExecuteAsync(CancellationToken stoppingToken) => Task.Run(() => stage.RunAsync(stoppingToken), stoppingToken);
}

/// <summary>Hosts the identity stage of the embedded pipeline.</summary>
internal sealed class IdentityWorker(IdentityStage stage) : BackgroundService
{
    protected override Task ExecuteAsync(CancellationToken stoppingToken) => Task.Run(() => stage.RunAsync(stoppingToken), stoppingToken);
}

/// <summary>Hosts the fan-out stage (cases, notices) of the embedded pipeline.</summary>
internal sealed class FanOutWorker(FanOutStage stage) : BackgroundService
{
    protected override Task ExecuteAsync(CancellationToken stoppingToken) => Task.Run(() => stage.RunAsync(stoppingToken), stoppingToken);
}

/// <summary>Hosts the indicator stage of the embedded pipeline.</summary>
internal sealed class IndicatorWorker(IndicatorStage stage) : BackgroundService
{
    protected override Task ExecuteAsync(CancellationToken stoppingToken) => Task.Run(() => stage.RunAsync(stoppingToken), stoppingToken);
}

/// <summary>Hosts the result-store stage of the embedded pipeline.</summary>
internal sealed class ResultStoreWorker(ResultStoreStage stage) : BackgroundService
{
    protected override Task ExecuteAsync(CancellationToken stoppingToken) => Task.Run(() => stage.RunAsync(stoppingToken), stoppingToken);
}
