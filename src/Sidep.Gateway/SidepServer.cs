using Microsoft.AspNetCore.Builder;
using Microsoft.AspNetCore.Hosting;
using Microsoft.Extensions.DependencyInjection;
using Microsoft.Extensions.Hosting;
using Microsoft.Extensions.Logging;
using Sidep.Ingestion;
using Sidep.Parsing.Hl7v2;
using Sidep.ServiceDefaults;
using Sidep.Domain;
using Sidep.Journal;
using Sidep.Pipeline;
using Sidep.Storage.Sqlite;

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
        if (options.Problems() is [_, ..] problems)
        {
            throw new ArgumentException(string.Join("; ", problems));
        }
        WebApplicationBuilder builder = WebApplication.CreateSlimBuilder(new WebApplicationOptions { Args = args ?? [] });
        builder.WebHost.UseUrls(urls);
        builder.WebHost.ConfigureKestrel(k => k.Limits.MaxRequestBodySize = options.MaxBodyBytes + 1);
        builder.AddServiceDefaults("sidep", [IngestionService.ActivitySource.Name], [IngestionService.Meter.Name, StateStore.Meter.Name, JournalMetrics.Meter.Name, MllpListener.Meter.Name]);

        // Nominative data and secrets: the data directory and everything in it are its owner's only.
        List<string> permissionWarnings = DataDirectory.Prepare(options.DataDirectory);
        // The lab register and transcoding tables: the data directory's store in both modes.
        StateStore store = StateStore.Open(options.DataDirectory);
        Terminology terminology = Terminology.CreateNational();
        terminology.Load(store.ListTranscoding());
        builder.Services.AddSingleton(options);
        builder.Services.AddSingleton(store);
        builder.Services.AddSingleton<Backpressure>();
        builder.Services.AddSingleton<StageFailures>();
        builder.Services.AddSingleton<StorageHealth>();
        builder.Services.AddHealthChecks().AddCheck<StorageHealth>("storage");
        var parserOptions = new Hl7ParserOptions { Production = options.Production };
        List<IAsyncDisposable> closing = [];
        List<EmbeddedLog> journals = [];
        if (distributed is null)
        {
            var journalOptions = new JournalOptions { SegmentBytes = options.JournalSegmentBytes, FileSystem = options.JournalFileSystem ?? OsJournalFileSystem.Instance };
            EmbeddedLog log = EmbeddedLog.Open(Path.Combine(options.DataDirectory, "log"), options.Partitions, journalOptions);
            EmbeddedLog matched;
            try
            {
                matched = EmbeddedLog.Open(Path.Combine(options.DataDirectory, "matched"), options.Partitions, journalOptions);
            }
            catch
            {
                log.DisposeAsync().AsTask().GetAwaiter().GetResult();
                store.Dispose();
                throw;
            }
            journals.AddRange([log, matched]);
            try
            {
                CheckPositions(store, log, matched);
            }
            catch
            {
                log.DisposeAsync().AsTask().GetAwaiter().GetResult();
                matched.DisposeAsync().AsTask().GetAwaiter().GetResult();
                store.Dispose();
                throw;
            }
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
                    builder.Services.AddSingleton<IHostedService>(sp => new StageService(name, async ct =>
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
        builder.Services.AddPriorPositiveLimit(options);
        builder.Services.AddSingleton<MllpListener>();
        builder.Services.AddHostedService(sp => sp.GetRequiredService<MllpListener>());

        customize?.Invoke(builder);
        WebApplication app = builder.Build();
        ILogger startup = app.Services.GetRequiredService<ILoggerFactory>().CreateLogger("Sidep.Startup");
        permissionWarnings.ForEach(w => startup.LogWarning("{Warning}", w));
        StorageHealth storageHealth = app.Services.GetRequiredService<StorageHealth>();
        foreach (EmbeddedLog journal in journals)
        {
            JournalRecovery r = journal.Recovery;
            startup.LogInformation("journal {Directory}: {Segments} segments, {Records} records, opened in {Milliseconds} ms", journal.DirectoryPath, r.Segments, r.Records,
                (long)r.Elapsed.TotalMilliseconds);
            if (r.TornBytesCut > 0 || r.UnacknowledgedRecordsKept > 0)
            {
                startup.LogWarning("journal {Directory}: a torn tail past the last acknowledged point was cut ({Bytes} bytes, never acknowledged); " +
                    "{Kept} whole records written but never acknowledged were kept (a resend of them is a duplicate)", journal.DirectoryPath, r.TornBytesCut, r.UnacknowledgedRecordsKept);
            }
            if (r.Lost > 0)
            {
                startup.LogWarning("journal {Directory}: {Lost} results were moved aside by journal repair; their numbers are kept, their content is gone", journal.DirectoryPath, r.Lost);
            }
            storageHealth.Watch(() => journal.Unavailable is string why ? $"journal {Path.GetFileName(journal.DirectoryPath)}: {why}" : null);
        }
        StorageHealth.UseStorageUnavailableAnswers(app);
        if (options.AgentSigningKey is not null)
        {
            app.UseAuthentication();
            app.UseAuthorization();
        }
        app.UseRateLimiter();
        app.MapDefaultEndpoints(metricsAllowed: http => Operator.Allows(http, options));
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

    /// <summary>Refuses to start when a stage's stored position is past the end of the journal it reads: the journal then
    /// lacks records the stages had read (a journal replaced by an older copy, or deleted), and going on would skip
    /// what is appended next under the numbers already consumed.</summary>
    private static void CheckPositions(StateStore store, EmbeddedLog log, EmbeddedLog matched)
    {
        var damage = new List<JournalDamage>();
        void Check(EmbeddedLog journal, string stage, long position, long end, string of)
        {
            if (position > end)
            {
                damage.Add(new JournalDamage(journal.DirectoryPath, 0, 0, $"the {stage} stage has read {position} {of}, but the journal holds {end}", 0, 0, position - end));
            }
        }
        for (int p = 0; p < log.PartitionCount; p++)
        {
            Check(log, ResultStoreStage.ConsumerName, store.GetOffset(ResultStoreStage.ConsumerName, p), log.EndOffset(p), $"results of partition {p}");
        }
        Check(log, IdentityStage.ConsumerName, store.GetOffset(IdentityStage.ConsumerName, -1), log.OrderedCount, "results");
        foreach (string stage in new[] { IndicatorStage.ConsumerName, FanOutStage.ConsumerName, ResearchStage.ConsumerName })
        {
            Check(matched, stage, store.GetOffset(stage, -1), matched.OrderedCount, "matched results");
        }
        if (damage.Count > 0)
        {
            throw new JournalCorruptException(Path.GetDirectoryName(log.DirectoryPath)!, damage);
        }
    }

    /// <summary>The research key kept in the data directory when none is configured: made once, readable by its owner only.</summary>
    private static string ResearchKeyFile(string dataDirectory)
    {
        string path = Path.Combine(dataDirectory, "secrets", "research-keys");
        if (!File.Exists(path))
        {
            DataDirectory.CreateOwnerOnly(Path.GetDirectoryName(path)!);
            var create = new FileStreamOptions { Mode = FileMode.CreateNew, Access = FileAccess.Write };
            if (!OperatingSystem.IsWindows())
            {
                create.UnixCreateMode = UnixFileMode.UserRead | UnixFileMode.UserWrite; // restricted from the first byte
            }
            using var file = new StreamWriter(new FileStream(path, create));
            file.Write("k1=" + Convert.ToHexStringLower(System.Security.Cryptography.RandomNumberGenerator.GetBytes(32)));
            file.Flush();
            file.BaseStream.Flush();
        }
        return File.ReadAllText(path).Trim();
    }
}

/// <summary>Hosts a stage of the distributed pipeline; its failure stops the process loudly.</summary>
internal sealed class StageService(string name, Func<CancellationToken, Task> run, StageFailures failures) : BackgroundService
{
    protected override Task ExecuteAsync(CancellationToken stoppingToken) => failures.Run(name, run, restore: null, stoppingToken);
}

/// <summary>
/// Runs the stages. A stage that meets storage it cannot write (a full disk, an I/O error, a read-only file system, the
/// journal refusing appends) pauses, backs off (1 s, doubling, at most 30 s), restores its state from what its store
/// holds, and goes on by itself: nothing acknowledged is lost, nothing is counted twice. Any other failure is a bug or
/// damage: the first one is kept, the host stops (its default for a failed background service) and `sidep serve` exits
/// non-zero saying which.
/// </summary>
public sealed class StageFailures(StorageHealth health, ILogger<StageFailures> logger)
{
    private static readonly TimeSpan s_firstPause = TimeSpan.FromSeconds(1), s_longestPause = TimeSpan.FromSeconds(30);
    private Exception? _first;

    public Exception? First => Volatile.Read(ref _first);

    internal Task Run(string name, Func<CancellationToken, Task> stage, Action? restore, CancellationToken stoppingToken) => Task.Run(async () =>
    {
        TimeSpan pause = s_firstPause;
        while (true)
        {
            long started = System.Diagnostics.Stopwatch.GetTimestamp();
            try
            {
                await stage(stoppingToken).ConfigureAwait(false);
                return;
            }
            catch (Exception ex) when (!stoppingToken.IsCancellationRequested && StorageFaults.IsStorageUnavailable(ex))
            {
                health.Failed(name, ex);
                if (System.Diagnostics.Stopwatch.GetElapsedTime(started) > 4 * pause)
                {
                    pause = s_firstPause; // it had been running well since the last failure: a new episode
                }
                logger.LogWarning("stage {Stage} cannot write ({Reason}); it pauses {Pause} s and goes on from what its store holds", name, StorageFaults.Describe(ex), pause.TotalSeconds);
            }
            catch (Exception ex) when (!stoppingToken.IsCancellationRequested)
            {
                Interlocked.CompareExchange(ref _first, ex, null);
                throw;
            }
            await Task.Delay(pause, stoppingToken).ConfigureAwait(false);
            pause = TimeSpan.FromTicks(Math.Min(pause.Ticks * 2, s_longestPause.Ticks));
            try
            {
                restore?.Invoke();
            }
            catch (Exception ex) when (!stoppingToken.IsCancellationRequested && StorageFaults.IsStorageUnavailable(ex))
            {
                health.Failed(name, ex); // tried again after the next pause
            }
        }
    }, stoppingToken);
}

/// <summary>Hosts the research stage of the embedded pipeline.</summary>
internal sealed class ResearchWorker(ResearchStage stage, StageFailures failures) : BackgroundService
{
    protected override Task ExecuteAsync(CancellationToken stoppingToken) => failures.Run("research", stage.RunAsync, stage.Restore, stoppingToken);
}

/// <summary>Hosts the identity stage of the embedded pipeline.</summary>
internal sealed class IdentityWorker(IdentityStage stage, StageFailures failures) : BackgroundService
{
    protected override Task ExecuteAsync(CancellationToken stoppingToken) => failures.Run("identity", stage.RunAsync, stage.Restore, stoppingToken);
}

/// <summary>Hosts the fan-out stage (cases, notices) of the embedded pipeline.</summary>
internal sealed class FanOutWorker(FanOutStage stage, StageFailures failures) : BackgroundService
{
    protected override Task ExecuteAsync(CancellationToken stoppingToken) => failures.Run("fan-out", stage.RunAsync, stage.Restore, stoppingToken);
}

/// <summary>Hosts the indicator stage of the embedded pipeline.</summary>
internal sealed class IndicatorWorker(IndicatorStage stage, StageFailures failures) : BackgroundService
{
    protected override Task ExecuteAsync(CancellationToken stoppingToken) => failures.Run("indicators", stage.RunAsync, stage.Restore, stoppingToken);
}

/// <summary>Hosts the result-store stage of the embedded pipeline (it keeps no state but its store's).</summary>
internal sealed class ResultStoreWorker(ResultStoreStage stage, StageFailures failures) : BackgroundService
{
    protected override Task ExecuteAsync(CancellationToken stoppingToken) => failures.Run("result-store", stage.RunAsync, restore: null, stoppingToken);
}
