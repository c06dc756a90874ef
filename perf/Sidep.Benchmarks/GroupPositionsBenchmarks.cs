using System.Text.Json;
using BenchmarkDotNet.Attributes;
using Sidep.Transport;

namespace Sidep.Benchmarks;

/// <summary>What a stage pays to commit its input position in the in-process transport, the way it does now (a consumer's
/// <see cref="IStageConsumer.Commit"/>: one write in place into a two-slot file kept open) and, as the reference, the way
/// it did before (the positions as JSON written to a file aside, then renamed over the old one).</summary>
[MemoryDiagnoser]
public class GroupPositionsBenchmarks
{
    private string _dir = "";
    private InProcessTransport _transport = null!;
    private IStageConsumer _consumer = null!;
    private IncomingMessage[] _message = [];
    private readonly long[] _positions = new long[8];
    private long _offset;

    [GlobalSetup]
    public void Setup()
    {
        _dir = Directory.CreateTempSubdirectory("sidep-bench-positions-").FullName;
        _transport = new InProcessTransport(_dir, partitions: 8);
        _consumer = _transport.Subscribe("topic", "group");
        _message = [new IncomingMessage("topic", 3, 0, "k", ReadOnlyMemory<byte>.Empty, new Dictionary<string, string>())];
    }

    [GlobalCleanup]
    public void Cleanup()
    {
        _consumer.Dispose();
        _transport.DisposeAsync().AsTask().GetAwaiter().GetResult();
        Directory.Delete(_dir, recursive: true);
    }

    [Benchmark(Description = "commit: two-slot file written in place")]
    public void Commit()
    {
        _message[0] = _message[0] with { Offset = _offset++ };
        _consumer.Commit(_message);
    }

    [Benchmark(Baseline = true, Description = "before: JSON written aside and renamed")]
    public void JsonRenamed()
    {
        _positions[3] = _offset++;
        string path = Path.Combine(_dir, "renamed.json");
        File.WriteAllBytes(path + ".tmp", JsonSerializer.SerializeToUtf8Bytes(_positions));
        File.Move(path + ".tmp", path, overwrite: true);
    }
}
