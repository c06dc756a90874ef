using Microsoft.AspNetCore.Builder;
using Microsoft.AspNetCore.Hosting;
using Microsoft.Extensions.DependencyInjection;
using Microsoft.Extensions.Hosting;
using Microsoft.Extensions.Logging;
using Sidep.Journal;
using Sidep.Parsing.Hl7v2;
using Sidep.ServiceDefaults;
using Sidep.Storage.Sqlite;

namespace Sidep.Host;

/// <summary>The distributed mode's backends: the stages' transport and store, and what every gateway shares: the
/// result-key index, the INS placement (which partition a result with an INS goes to), the lab register and the
/// transcoding tables.</summary>
public sealed record DistributedBackends(Sidep.Transport.IStageTransport Transport, IStageStore Store, IResultKeyIndex Keys, ILabRegister Labs,
    IPartitionRouter Router);

/// <summary>
/// The composition root: builds a server — the gateway (HTTP + MLLP, <see cref="SidepGateway"/>) and, unless
/// <see cref="GatewayOptions.RunStages"/> is off, the pipeline's stages — over the embedded backends
/// (<see cref="AddSidepEmbedded"/>: the journal, the in-process transport, SQLite) or the distributed ones
/// (<see cref="AddSidepDistributed"/>: Kafka and PostgreSQL). Nothing else in Sidep names a backend.
/// </summary>
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
        builder.AddServiceDefaults("sidep", [IngestionService.ActivitySource.Name], [.. SidepGateway.MeterNames, StateStore.Meter.Name, JournalMetrics.Meter.Name, Sidep.Storage.Postgres.PostgresStore.Meter.Name]);

        // Nominative data and secrets: the data directory and everything in it are its owner's only.
        List<string> permissionWarnings = DataDirectory.Prepare(options.DataDirectory);
        Composition composition = distributed is null ? builder.AddSidepEmbedded(options) : builder.AddSidepDistributed(options, distributed);
        builder.AddSidepGateway(options);
        customize?.Invoke(builder);
        WebApplication app;
        try
        {
            app = builder.Build();
        }
        catch
        {
            composition.Close();
            throw;
        }
        ILogger startup = app.Services.GetRequiredService<ILoggerFactory>().CreateLogger("Sidep.Startup");
        permissionWarnings.ForEach(w => startup.LogWarning("{Warning}", w));
        composition.Started(app, startup);
        app.MapSidepGateway();
        app.Lifetime.ApplicationStopped.Register(composition.Close);
        return app;
    }

    /// <summary>What a mode opened: told when the server has started (to log and watch it) and when it has stopped (to close it).</summary>
    private sealed class Composition(Action<WebApplication, ILogger>? started, Action close)
    {
        public void Started(WebApplication app, ILogger startup) => started?.Invoke(app, startup);

        public void Close() => close();
    }

    /// <summary>
    /// The embedded mode: the journal in the data directory is the system of record and the stages' input (its global
    /// order, one partition); their output topics are in process; each stage's rows are in a SQLite file of its own
    /// beside <c>sidep.db</c> (the lab register, transcoding tables, cases, audit).
    /// </summary>
    private static Composition AddSidepEmbedded(this WebApplicationBuilder builder, GatewayOptions options)
    {
        RefuseEarlierLayout(options.DataDirectory);
        EmbeddedStores stores = EmbeddedStores.Open(options.DataDirectory);
        EmbeddedLog log;
        Sidep.Transport.InProcessTransport topics;
        try
        {
            var journalOptions = new JournalOptions { SegmentBytes = options.JournalSegmentBytes, FileSystem = options.JournalFileSystem ?? OsJournalFileSystem.Instance };
            log = EmbeddedLog.Open(Path.Combine(options.DataDirectory, "log"), options.Partitions, journalOptions);
        }
        catch
        {
            stores.Dispose();
            throw;
        }
        topics = new Sidep.Transport.InProcessTransport(Path.Combine(options.DataDirectory, "pipeline"), partitions: 1,
            new Dictionary<string, EmbeddedLog> { [StageTopics.Results] = log });
        void Close()
        {
            topics.DisposeAsync().AsTask().GetAwaiter().GetResult();
            log.DisposeAsync().AsTask().GetAwaiter().GetResult();
            stores.Dispose();
        }
        try
        {
            CheckPositions(new PipelineView(topics, stores.Reads, TimeSpan.Zero, liveEnds: true), log);
            builder.Services.AddSingleton(stores);
            builder.Services.AddSingleton(stores.Main);
            // The system of record: every result's versions (what the stages read).
            builder.Services.AddSingleton<IResultJournal>(log);
            builder.Services.AddSingleton<StorageFaults>(SqliteStorageFaults.Instance);
            // The journal's end read at every submission, the stages' positions at most 50 ms old.
            builder.Services.AddSingleton<IPipelineView>(new PipelineView(topics, stores.Reads, TimeSpan.FromMilliseconds(50), liveEnds: true));
            (Terminology terminology, Pseudonyms pseudonyms, _) = AddShared(builder, options, stores.Main, topics, stores.Reads);
            builder.Services.AddSingleton(sp => new IngestionService(log, ParserOptions(options), terminology)
            {
                Activity = sp.GetRequiredService<LabActivityRecorder>(),
                Time = options.Clock,
            });
            // The identity stage holds every partition of its input (one), so the gateway asks it the identity questions.
            AddStages(builder, options, topics, terminology, pseudonyms, stores.ForStage, holdsEveryPartition: true);
        }
        catch
        {
            Close();
            throw;
        }
        return new Composition((app, startup) =>
        {
            JournalRecovery r = log.Recovery;
            startup.LogInformation("journal {Directory}: {Segments} segments, {Records} records, opened in {Milliseconds} ms", log.DirectoryPath, r.Segments, r.Records,
                (long)r.Elapsed.TotalMilliseconds);
            if (r.TornBytesCut > 0 || r.UnacknowledgedRecordsKept > 0)
            {
                startup.LogWarning("journal {Directory}: a torn tail past the last acknowledged point was cut ({Bytes} bytes, never acknowledged); " +
                    "{Kept} whole records written but never acknowledged were kept (a resend of them is a duplicate)", log.DirectoryPath, r.TornBytesCut, r.UnacknowledgedRecordsKept);
            }
            if (r.Lost > 0)
            {
                startup.LogWarning("journal {Directory}: {Lost} results were moved aside by journal repair; their numbers are kept, their content is gone", log.DirectoryPath, r.Lost);
            }
            app.Services.GetRequiredService<StorageHealth>().Watch(() => log.Unavailable is string why ? $"journal {Path.GetFileName(log.DirectoryPath)}: {why}" : null);
        }, Close);
    }

    /// <summary>
    /// The distributed mode: results go to Kafka's results topic (placed by INS), every gateway shares the result-key
    /// index, the lab register and the transcoding tables in PostgreSQL; the stages run here too unless this process is
    /// a gateway only (<see cref="GatewayOptions.RunStages"/>), as workers over the topics' partitions.
    /// </summary>
    private static Composition AddSidepDistributed(this WebApplicationBuilder builder, GatewayOptions options, DistributedBackends distributed)
    {
        (Sidep.Transport.IStageTransport transport, IStageStore store) = (distributed.Transport, distributed.Store);
        builder.Services.AddSingleton<StorageFaults>(StorageFaults.Files);
        // Both read at most a second old (a broker and a database away).
        builder.Services.AddSingleton<IPipelineView>(new PipelineView(transport, store, TimeSpan.FromSeconds(1), liveEnds: false));
        (Terminology terminology, Pseudonyms pseudonyms, long mark) = AddShared(builder, options, distributed.Labs, transport, store);
        builder.Services.AddSingleton(sp => new IngestionService(new TransportJournal(transport), ParserOptions(options), terminology, distributed.Keys, distributed.Router)
        {
            Activity = sp.GetRequiredService<LabActivityRecorder>(),
            Time = options.Clock,
        });
        // Mappings added through another gateway (after the ones loaded at start) reach this one, and replay what it
        // holds in quarantine.
        builder.Services.AddHostedService(sp => new TranscodingFollower(distributed.Labs, sp.GetRequiredService<IngestionService>(), mark,
            sp.GetRequiredService<ILogger<TranscodingFollower>>()));
        AddStages(builder, options, transport, terminology, pseudonyms, _ => store, holdsEveryPartition: false);
        return new Composition(null, () => { });
    }

    private static Hl7ParserOptions ParserOptions(GatewayOptions options) => new() { Production = options.Production };

    /// <summary>What both modes register alike: the lab register, the national terminology with the labs' mappings, the
    /// transport and store the gateway reads, the pseudonyms, the indicators' reader.</summary>
    /// <returns>The terminology, the research pseudonyms, and the mark of the last transcoding change loaded.</returns>
    private static (Terminology, Pseudonyms, long Mark) AddShared(WebApplicationBuilder builder, GatewayOptions options, ILabRegister labs, Sidep.Transport.IStageTransport transport,
        IStageStore store)
    {
        Terminology terminology = Terminology.CreateNational();
        List<TranscodingChange> mappings = labs.TranscodingChangedAfter(-1);
        terminology.Load(mappings.Select(m => (m.Lab, m.Row)));
        builder.Services.AddSingleton(labs);
        builder.Services.AddSingleton(transport);
        builder.Services.AddSingleton(store);
        Pseudonyms pseudonyms = Pseudonyms.Parse(options.ResearchKeys ?? ResearchKeyFile(options.DataDirectory));
        builder.Services.AddSingleton(pseudonyms);
        builder.Services.AddSingleton<IIndicatorReader>(new StoredIndicators(store));
        builder.Services.AddSingleton<StageFailures>();
        return (terminology, pseudonyms, mappings.Count == 0 ? 0 : mappings.Max(m => m.Mark));
    }

    /// <summary>
    /// The stages, one body of code for both modes. Where this process holds every partition of the identity stage's
    /// input (embedded), the gateway asks that stage the identity questions; elsewhere (the distributed mode's match
    /// workers hold the index by partition) it keeps its own copy, replayed from their input.
    /// </summary>
    private static void AddStages(WebApplicationBuilder builder, GatewayOptions options, Sidep.Transport.IStageTransport transport, Terminology terminology,
        Pseudonyms pseudonyms, Func<string, IStageStore> storeOf, bool holdsEveryPartition)
    {
        bool personIndex = false;
        if (options.RunStages)
        {
            foreach (string name in Stages.Names)
            {
                IStageWorker stage = Stages.Create(name, transport, storeOf(name), terminology, sandbox: !options.Production, pseudonyms,
                    Path.Combine(options.DataDirectory, "research"), holdsEveryPartition, options.PersonKey);
                if (stage is IdentityStage identity && holdsEveryPartition)
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
            builder.Services.AddSingleton<IPersonIndex>(new PersonIndexFollower(transport, sandbox: !options.Production));
        }
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
            catch (Exception ex) when (!stoppingToken.IsCancellationRequested && health.Faults.IsStorageUnavailable(ex))
            {
                health.Failed(name, ex);
                if (System.Diagnostics.Stopwatch.GetElapsedTime(started) > 4 * pause)
                {
                    pause = s_firstPause; // it had been running well since the last failure: a new episode
                }
                logger.LogWarning("stage {Stage} cannot write ({Reason}); it pauses {Pause} s and goes on from what its store holds", name, health.Faults.Describe(ex), pause.TotalSeconds);
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
