using BenchmarkDotNet.Attributes;
using BenchmarkDotNet.Engines;
using Sidep.Domain;
using Sidep.Journal;
using Sidep.Pipeline;
using Sidep.Storage.Sqlite;

namespace Sidep.Benchmarks;

/// <summary>
/// The embedded journal: how long opening it takes when it holds a peak day (2,280,000 results by default,
/// <c>SIDEP_BENCH_JOURNAL_RESULTS</c> to change it), and what a durable group append costs. The journal is written
/// once in the global setup as labs fill it: per submission, its raw bytes (4 KB) and ten results of 900 bytes, appended
/// a thousand records at a time. Opening it runs on a warm page cache (the files were just written).
/// Only <c>EmbeddedLog.Open(directory, partitions)</c> and <c>AppendAsync</c> are used, so the same file measures
/// earlier journal formats too.
/// </summary>
[MemoryDiagnoser]
[SimpleJob(RunStrategy.Monitoring, launchCount: 1, warmupCount: 1, iterationCount: 5)]
public class JournalBenchmarks
{
    private static readonly int s_results = int.TryParse(Environment.GetEnvironmentVariable("SIDEP_BENCH_JOURNAL_RESULTS"), out int n) ? n : 2_280_000;
    private string _full = "";
    private string _appendDir = "";
    private EmbeddedLog _appending = null!;
    private List<LogRecord> _group = [];

    [GlobalSetup]
    public void Setup()
    {
        _full = Directory.CreateTempSubdirectory("sidep-bench-journal-").FullName;
        byte[] raw = new byte[4096], result = new byte[900];
        new Random(1).NextBytes(raw);
        new Random(2).NextBytes(result);
        EmbeddedLog log = EmbeddedLog.Open(_full, 8);
        var records = new List<LogRecord>(1100);
        for (int i = 0; i < s_results; i++)
        {
            if (i % 10 == 0)
            {
                records.Add(new LogRecord(RecordKind.Submission, -1, $"sub_{i:D9}", raw));
            }
            records.Add(new LogRecord(RecordKind.Result, i % 8, $"750000001\u001FACC{i:D9}\u001F94500-6", result));
            if (records.Count >= 1000)
            {
                log.AppendAsync(records).GetAwaiter().GetResult();
                records = new List<LogRecord>(1100);
            }
        }
        log.AppendAsync(records).GetAwaiter().GetResult();
        log.DisposeAsync().AsTask().GetAwaiter().GetResult();

        _appendDir = Directory.CreateTempSubdirectory("sidep-bench-append-").FullName;
        _appending = EmbeddedLog.Open(_appendDir, 8);
        _group = [new LogRecord(RecordKind.Submission, -1, "sub", raw), .. Enumerable.Range(0, 100).Select(i => new LogRecord(RecordKind.Result, i % 8, $"k{i}", result))];
    }

    [GlobalCleanup]
    public void Cleanup()
    {
        _appending.DisposeAsync().AsTask().GetAwaiter().GetResult();
        Directory.Delete(_full, recursive: true);
        Directory.Delete(_appendDir, recursive: true);
    }

    /// <summary>Opening the journal of a peak day (what start-up waits for before anything else).</summary>
    [Benchmark(Description = "open a peak day's journal")]
    public long Open()
    {
        EmbeddedLog log = EmbeddedLog.Open(_full, 8);
        long results = Enumerable.Range(0, 8).Sum(p => log.EndOffset(p));
        log.DisposeAsync().AsTask().GetAwaiter().GetResult();
        return results;
    }

    /// <summary>One durable append of a submission and its 100 results (write, fsync, commit point).</summary>
    [Benchmark(Description = "append a submission and 100 results, durable")]
    public Task Append() => _appending.AppendAsync(_group);
}
