using System.Buffers;
using System.Text;
using BenchmarkDotNet.Attributes;
using BenchmarkDotNet.Columns;
using BenchmarkDotNet.Configs;
using BenchmarkDotNet.Reports;
using Sidep.Parsing;
using Sidep.Parsing.Hl7v2;

namespace Sidep.Benchmarks;

/// <summary>HL7 v2 parsing into the canonical model: the whole corpus, and a typical SARS-CoV-2 batch.
/// Throughput (MB/s) is computed from the bytes parsed per operation.</summary>
[MemoryDiagnoser]
[Config(typeof(ThroughputConfig))]
public class Hl7ParserBenchmarks : IMeasuredBytes
{
    private byte[] _corpus = [];
    private byte[] _batch = [];
    private ReadOnlySequence<byte> _batchSplit;
    private readonly Hl7v2Parser _parser = new();

    public static int CorpusBytes { get; private set; }
    public static int BatchBytes { get; private set; }

    [GlobalSetup]
    public void Setup()
    {
        string dir = FindCorpus();
        // Every corpus message, one after the other (the two CR-only files end without CR: add one).
        var corpus = new List<byte>();
        foreach (string f in Directory.GetFiles(dir, "*.hl7").OrderBy(f => f, StringComparer.Ordinal))
        {
            corpus.AddRange(File.ReadAllBytes(f));
            corpus.Add((byte)'\r');
        }
        _corpus = corpus.ToArray();
        CorpusBytes = _corpus.Length;

        _batch = SarsBatch.Build(1000, positiveEvery: 3);
        BatchBytes = _batch.Length;
        // As a pipe hands it over: 4 KiB buffer segments.
        _batchSplit = Segments.Of(_batch, 4096);
    }

    [Benchmark(Description = "corpus (12 files, span)")]
    public int Corpus() => Count(_parser.Parse(_corpus));

    [Benchmark(Baseline = true, Description = "1000-result SARS-CoV-2 batch (span)")]
    public int Batch() => Count(_parser.Parse(_batch));

    [Benchmark(Description = "1000-result batch (4 KiB segments)")]
    public int BatchSegmented() => Count(_parser.Parse(_batchSplit));

    private static int Count(ParsedSubmission s)
    {
        int n = 0;
        foreach (ParsedMessage m in s.Messages)
        {
            n += m.Items.Count;
        }
        return n;
    }

    private static string FindCorpus()
    {
        string? dir = AppContext.BaseDirectory;
        while (dir is not null && !File.Exists(Path.Combine(dir, "Sidep.sln")))
        {
            dir = Path.GetDirectoryName(dir);
        }
        return Path.GetFullPath(Path.Combine(dir ?? throw new InvalidOperationException("Sidep.sln not found"), "..", "shared", "corpus", "hl7v2"));
    }

    public int BytesOf(string method) => method == nameof(Corpus) ? CorpusBytes : BatchBytes;
}

internal static class Segments
{
    public static ReadOnlySequence<byte> Of(byte[] bytes, int size)
    {
        Segment first = new(bytes.AsMemory(0, Math.Min(size, bytes.Length)), 0);
        Segment last = first;
        for (int at = size; at < bytes.Length; at += size)
        {
            last = last.Append(bytes.AsMemory(at, Math.Min(size, bytes.Length - at)));
        }
        return new ReadOnlySequence<byte>(first, 0, last, last.Memory.Length);
    }

    private sealed class Segment : ReadOnlySequenceSegment<byte>
    {
        public Segment(ReadOnlyMemory<byte> memory, long index)
        {
            Memory = memory;
            RunningIndex = index;
        }

        public Segment Append(ReadOnlyMemory<byte> memory)
        {
            var next = new Segment(memory, RunningIndex + Memory.Length);
            Next = next;
            return next;
        }
    }
}
