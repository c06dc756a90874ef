using Microsoft.AspNetCore.Builder;
using Microsoft.AspNetCore.Hosting;
using Microsoft.AspNetCore.Routing;
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

/// <summary>The distributed mode's backends: the stages' transport and store, and what every gateway shares: the
/// result-key index, the INS placement (which partition a result with an INS goes to), the lab register and the
/// transcoding tables.</summary>
public sealed record DistributedBackends(Sidep.Transport.IStageTransport Transport, IStageStore Store, IResultKeyIndex Keys, ILabRegister Labs,
    IPartitionRouter Router);

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
        // ASP.NET Core's own request logs (eight lines a request at Information) only from Warning on, unless the
        // configuration says otherwise (Logging__LogLevel__Microsoft.AspNetCore=Information): at a peak day's rate they
        // cost more than the request they describe.
        builder.Configuration.Sources.Insert(0, new Microsoft.Extensions.Configuration.Memory.MemoryConfigurationSource
        {
            InitialData = new Dictionary<string, string?> { ["Logging:LogLevel:Microsoft.AspNetCore"] = "Warning" },
        });
        builder.WebHost.UseUrls(urls);
        builder.WebHost.ConfigureKestrel(k => k.Limits.MaxRequestBodySize = options.MaxBodyBytes + 1);
        builder.AddServiceDefaults("sidep", [IngestionService.ActivitySource.Name], [IngestionService.Meter.Name, StateStore.Meter.Name, JournalMetrics.Meter.Name, MllpListener.Meter.Name, LabHealthMonitor.MeterName]);

        // Nominative data and secrets: the data directory and everything in it are its owner's only.
        List<string> permissionWarnings = DataDirectory.Prepare(options.DataDirectory);
        // The lab register and transcoding tables: the data directory's sidep.db in the embedded mode (each stage's rows
        // in a file of its own beside it); PostgreSQL in the distributed mode, shared by every gateway.
        if (distributed is null)
        {
            RefuseEarlierLayout(options.DataDirectory);
        }
        EmbeddedStores? stores = distributed is null ? EmbeddedStores.Open(options.DataDirectory) : null;
        ILabRegister labs = (ILabRegister?)stores?.Main ?? distributed!.Labs;
        Terminology terminology = Terminology.CreateNational();
        List<TranscodingChange> mappings = labs.TranscodingChangedAfter(-1);
        terminology.Load(mappings.Select(m => (m.Lab, m.Row)));
        builder.Services.AddSingleton(options);
        builder.Services.AddSingleton(labs);
        // What labs send, counted at the gateway and added to the store every few seconds: lab health, data freshness.
        // Read through CurrentLabActivity: with this gateway's pending counts.
        var activity = new LabActivityRecorder();
        builder.Services.AddSingleton(activity);
        builder.Services.AddSingleton<ILabActivityLog>(new CurrentLabActivity(labs, activity));
        builder.Services.AddSingleton<LabHealthMonitor>();
        builder.Services.AddHostedService<LabActivityFlusher>();
        if (stores is not null)
        {
            builder.Services.AddSingleton(stores.Main);
        }
        builder.Services.AddSingleton<Backpressure>();
        builder.Services.AddSingleton<StageFailures>();
        builder.Services.AddSingleton<StorageHealth>();
        builder.Services.AddHealthChecks().AddCheck<StorageHealth>("storage");
        var parserOptions = new Hl7ParserOptions { Production = options.Production };
        List<IAsyncDisposable> closing = [];
        List<EmbeddedLog> journals = [];
        Pseudonyms pseudonyms = Pseudonyms.Parse(options.ResearchKeys ?? ResearchKeyFile(options.DataDirectory));
        Sidep.Transport.IStageTransport transport;
        IStageStore stageStore;
        if (distributed is null)
        {
            // The embedded mode: the stages read the journal itself (its global order, one partition) and write their
            // output topics in process; the data directory's SQLite store holds their rows.
            var journalOptions = new JournalOptions { SegmentBytes = options.JournalSegmentBytes, FileSystem = options.JournalFileSystem ?? OsJournalFileSystem.Instance };
            EmbeddedLog log;
            try
            {
                log = EmbeddedLog.Open(Path.Combine(options.DataDirectory, "log"), options.Partitions, journalOptions);
            }
            catch
            {
                stores?.Dispose();
                throw;
            }
            var topics = new Sidep.Transport.InProcessTransport(Path.Combine(options.DataDirectory, "pipeline"), partitions: 1,
                new Dictionary<string, EmbeddedLog> { [StageTopics.Results] = log });
            journals.Add(log);
            closing.AddRange([topics, log]);
            try
            {
                CheckPositions(new PipelineView(topics, stores!.Reads, TimeSpan.Zero, liveEnds: true), log);
            }
            catch
            {
                topics.DisposeAsync().AsTask().GetAwaiter().GetResult();
                log.DisposeAsync().AsTask().GetAwaiter().GetResult();
                stores?.Dispose();
                throw;
            }
            builder.Services.AddSingleton(new IngestionService(log, parserOptions, terminology) { Activity = activity, Time = options.Clock });
            (transport, stageStore) = (topics, stores.Reads);
            builder.Services.AddSingleton(stores);
        }
        else
        {
            (transport, stageStore) = (distributed.Transport, distributed.Store);
            builder.Services.AddSingleton(new IngestionService(new TransportJournal(transport), parserOptions, terminology, distributed.Keys, distributed.Router)
            {
                Activity = activity,
                Time = options.Clock,
            });
            // Mappings added through another gateway reach this one, and replay what it holds in quarantine.
            long mark = mappings.Count == 0 ? 0 : mappings.Max(m => m.Mark);
            builder.Services.AddHostedService(sp => new TranscodingFollower(labs, sp.GetRequiredService<IngestionService>(), mark,
                sp.GetRequiredService<ILogger<TranscodingFollower>>()));
        }
        builder.Services.AddSingleton(transport);
        builder.Services.AddSingleton(stageStore);
        builder.Services.AddSingleton(pseudonyms);
        builder.Services.AddSingleton<IIndicatorReader>(new StoredIndicators(stageStore));
        // Embedded: the journal's end read at every submission, the stages' positions at most 50 ms old; distributed: both
        // at most a second old (a broker and a database away).
        builder.Services.AddSingleton<IPipelineView>(distributed is null
            ? new PipelineView(transport, stageStore, TimeSpan.FromMilliseconds(50), liveEnds: true)
            : new PipelineView(transport, stageStore, TimeSpan.FromSeconds(1), liveEnds: false));
        bool personIndex = false;
        if (options.RunStages)
        {
            // One body of stage code for both modes. In the embedded mode the identity stage holds every partition of its
            // input (one), so the gateway asks it the identity questions; in the distributed mode the index is spread
            // over the match workers, and the gateway asks its own copy (below).
            foreach (string name in Stages.Names)
            {
                IStageWorker stage = Stages.Create(name, transport, stores?.ForStage(name) ?? stageStore, terminology, sandbox: !options.Production, pseudonyms,
                    Path.Combine(options.DataDirectory, "research"), holdsEveryPartition: distributed is null, options.PersonKey);
                if (stage is IdentityStage identity && distributed is null)
                {
                    identity.RestoreEveryPartition();
                    builder.Services.AddSingleton<IPersonIndex>(identity);
                    personIndex = true;
                }
                // As plain IHostedService singletons: AddHostedService keeps one registration per implementation type.
                builder.Services.AddSingleton<IHostedService>(sp => new StageService(name, stage, sp.GetRequiredService<StageFailures>()));
            }
        }
        if (!personIndex)
        {
            // The identity questions (prior positive, review queue, oppositions) where no identity stage runs in this
            // process (the distributed mode's match workers hold the index by partition, elsewhere): the gateway keeps
            // its own copy, replayed from their input.
            builder.Services.AddSingleton<IPersonIndex>(new PersonIndexFollower(transport, sandbox: !options.Production));
        }
        builder.Services.AddSingleton(TimeProvider.System);
        builder.Services.AddSidepAccess(options);
        builder.Services.AddPriorPositiveLimit(options);
        builder.Services.AddOpenApi(o => o.AddOperationTransformer(ApiDescriptions.DescribeRequestBody).AddDocumentTransformer((document, _, _) =>
        {
            document.Info.Title = "Sidep";
            document.Info.Description = "The national pipeline of laboratory test results: labs submit (HL7 v2, HPRIM, FHIR R4; MLLP too), contact " +
                "tracers read new positives, epidemiologists read the indicators, operators watch the labs and the pipeline. The console is at /console/.";
            return Task.CompletedTask;
        }));
        builder.Services.AddSingleton<MllpListener>();
        builder.Services.AddHostedService(sp => sp.GetRequiredService<MllpListener>());

        customize?.Invoke(builder);
        WebApplication app = builder.Build();
        ILogger startup = app.Services.GetRequiredService<ILoggerFactory>().CreateLogger("Sidep.Startup");
        permissionWarnings.ForEach(w => startup.LogWarning("{Warning}", w));
        StorageHealth storageHealth = app.Services.GetRequiredService<StorageHealth>();
        app.Services.GetRequiredService<LabHealthMonitor>(); // its metric, from the start
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
        app.UseAuthorization(); // each endpoint's policy names its schemes (Access)
        app.UseRateLimiter();
        app.MapDefaultEndpoints(metricsPolicy: SidepPolicies.Operator);
        app.MapConsole();
        // Every API endpoint is described in the OpenAPI document from one table (ApiDescriptions).
        RouteGroupBuilder api = app.MapGroup("");
        ((IEndpointConventionBuilder)api).Add(ApiDescriptions.Describe);
        api.MapSubmissionsApi();
        api.MapTerminologyApi();
        api.MapLabsApi();
        api.MapLabHealthApi();
        api.MapPersonsApi();
        api.MapIndicatorsApi();
        api.MapCasesApi();
        api.MapResearchApi();
        api.MapPipelineApi();
        app.Lifetime.ApplicationStopped.Register(() =>
        {
            foreach (IAsyncDisposable c in closing)
            {
                c.DisposeAsync().AsTask().GetAwaiter().GetResult();
            }
            stores?.Dispose();
        });
        return app;
    }

    /// <summary>Refuses to start when a stage's stored position is past the end of the journal (or topic) it reads: the
    /// journal then lacks records the stages had read (a journal replaced by an older copy, or deleted), and going on
    /// would skip what is appended next under the numbers already consumed.</summary>
    private static void CheckPositions(PipelineView pipeline, EmbeddedLog log)
    {
        List<JournalDamage> damage = [.. pipeline.PastTheEnd().Select(p => new JournalDamage(log.DirectoryPath, 0, 0,
            $"the {p.Stage} stage has read {p.Position} records of {p.Topic} (partition {p.Partition}), but it holds {p.End}", 0, 0, p.Position - p.End))];
        if (damage.Count > 0)
        {
            throw new JournalCorruptException(Path.GetDirectoryName(log.DirectoryPath)!, damage);
        }
    }

    /// <summary>
    /// A data directory written before the stages became one pipeline (a separate "matched" log, positions per stage
    /// rather than per partition) is refused with what to do, rather than counted twice: its revisions and cases were
    /// made by the earlier stages, and the new ones would make them again from the journal.
    /// </summary>
    private static void RefuseEarlierLayout(string dataDirectory)
    {
        if (Directory.Exists(Path.Combine(dataDirectory, "matched")))
        {
            throw new InvalidOperationException($"{dataDirectory} was written by an earlier Sidep (a separate 'matched' log): its stage rows cannot be " +
                "carried over. Start with a new data directory and send the results again (or keep the earlier version to read this one).");
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

/// <summary>Hosts a stage of the pipeline (see <see cref="StageFailures"/> for what its failures do).</summary>
internal sealed class StageService(string name, IStageWorker stage, StageFailures failures) : BackgroundService
{
    protected override Task ExecuteAsync(CancellationToken stoppingToken) => failures.Run(name, stage.RunAsync, stoppingToken);

    public override void Dispose()
    {
        stage.Dispose();
        base.Dispose();
    }
}

/// <summary>
/// Runs the stages. A stage that meets storage it cannot write (a full disk, an I/O error, a read-only file system, the
/// journal refusing appends) pauses, backs off (1 s, doubling, at most 30 s), and goes on by itself from what its store
/// holds (the runner forgets the state of a batch whose write failed and reads it again): nothing acknowledged is lost, nothing is counted twice. Any other failure is a bug or
/// damage: the first one is kept, the host stops (its default for a failed background service) and `sidep serve` exits
/// non-zero saying which.
/// </summary>
public sealed class StageFailures(StorageHealth health, ILogger<StageFailures> logger)
{
    private static readonly TimeSpan s_firstPause = TimeSpan.FromSeconds(1), s_longestPause = TimeSpan.FromSeconds(30);
    private Exception? _first;

    public Exception? First => Volatile.Read(ref _first);

    internal Task Run(string name, Func<CancellationToken, Task> stage, CancellationToken stoppingToken) => Task.Run(async () =>
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
        }
    }, stoppingToken);
}
