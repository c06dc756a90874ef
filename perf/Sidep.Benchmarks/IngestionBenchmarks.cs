using System.Buffers;
using BenchmarkDotNet.Attributes;
using Sidep.Ingestion;
using Sidep.Domain;
using Sidep.Journal;
using Sidep.Pipeline;
using Sidep.Storage.Sqlite;

namespace Sidep.Benchmarks;

/// <summary>The durable ingestion path of the embedded mode, as a lab's submission goes through it: parse, check,
/// content hash, decide the version, serialise, append raw submission and results to the journal and fsync.
/// Each operation alternates between two contents of the same 100 results, so every result is a new version
/// (a correction) and goes the whole way to disk; nothing is short-cut as a duplicate.</summary>
[MemoryDiagnoser]
public class IngestionBenchmarks
{
    private const int Results = 100;
    private readonly ReadOnlySequence<byte>[] _contents = new ReadOnlySequence<byte>[2];
    private readonly Lab _lab = new("750000001", "Bench", ["LABO"], []);
    private string _dir = "";
    private EmbeddedLog _log = null!;
    private IngestionService _ingestion = null!;
    private int _turn;

    [GlobalSetup]
    public void Setup()
    {
        _dir = Directory.CreateTempSubdirectory("sidep-bench-").FullName;
        _log = EmbeddedLog.Open(_dir, 8);
        _ingestion = new IngestionService(_log);
        _contents[0] = new ReadOnlySequence<byte>(SarsBatch.Build(Results, positiveEvery: 3));
        _contents[1] = new ReadOnlySequence<byte>(SarsBatch.Build(Results, positiveEvery: 2));
    }

    [GlobalCleanup]
    public void Cleanup()
    {
        _log.DisposeAsync().AsTask().GetAwaiter().GetResult();
        Directory.Delete(_dir, recursive: true);
    }

    /// <summary>One submission of 100 results, acknowledged once durable (one fsync).</summary>
    [Benchmark(Description = "submit 100 results, durable (1 writer)")]
    public async Task<int> Submit()
    {
        SubmissionOutcome outcome = await _ingestion.SubmitAsync(_lab, _contents[_turn++ & 1], "hl7v2", "bench", dryRun: false);
        return outcome.Report.Counts.Correction + outcome.Report.Counts.Accepted;
    }

    /// <summary>Eight labs' submissions at once: group commit shares fsyncs between them.</summary>
    [Benchmark(Description = "8 concurrent submissions of 100 results")]
    public async Task<int> SubmitConcurrently()
    {
        ReadOnlySequence<byte> content = _contents[_turn++ & 1];
        Task<SubmissionOutcome>[] all = new Task<SubmissionOutcome>[8];
        for (int i = 0; i < all.Length; i++)
        {
            // The same 100 keys: the eight decisions are serialised, the fsyncs are not.
            all[i] = Task.Run(() => _ingestion.SubmitAsync(_lab, content, "hl7v2", "bench", dryRun: false));
        }
        int n = 0;
        foreach (SubmissionOutcome o in await Task.WhenAll(all))
        {
            n += o.Report.Counts.Accepted + o.Report.Counts.Correction + o.Report.Counts.Duplicate;
        }
        return n;
    }
}
