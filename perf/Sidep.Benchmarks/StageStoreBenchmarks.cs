using System.Buffers.Binary;
using System.Text;
using BenchmarkDotNet.Attributes;
using BenchmarkDotNet.Engines;
using LightningDB;
using RocksDbSharp;
using Sidep.Pipeline;
using Sidep.Storage.Sqlite;

namespace Sidep.Benchmarks;

/// <summary>
/// What a stage pays to keep its per-result state: one batch of 1,000 research rows (the heaviest stage row: key,
/// person, version, sample date and ≈ 330 bytes of fields) and the stage's position, in one commit that is durable
/// across a crash of the process but not of the machine (stage state is recomputable from the journal). Each store
/// already holds 300,000 rows (<c>SIDEP_BENCH_STAGE_ROWS</c>), and keeps the two lookups the research stage needs (rows
/// by sample date, by person): SQLite through Sidep's own <c>StateStore.ApplyResearch</c> (WAL, synchronous NORMAL,
/// two secondary indexes); LMDB (LightningDB, NoSync) and RocksDB (WAL without fsync) with the row under its key and two
/// index keys (date|key, person|key) in the same transaction or write batch.
/// </summary>
[MemoryDiagnoser]
[SimpleJob(RunStrategy.Monitoring, launchCount: 1, warmupCount: 5, iterationCount: 40)]
public class StageStoreBenchmarks
{
    private const int Batch = 1000;
    private static readonly int s_rows = int.TryParse(Environment.GetEnvironmentVariable("SIDEP_BENCH_STAGE_ROWS"), out int n) ? n : 300_000;
    private static readonly string s_fields = "{\"ageYears\":41,\"sex\":\"Female\",\"departement\":\"69\",\"commune\":\"69383\",\"sampleDate\":\"2026-12-01\"," +
        "\"sampleDateBasis\":\"collection\",\"resultDate\":\"2026-12-02\",\"loinc\":\"94500-6\",\"method\":\"RT-PCR\",\"result\":\"Positive\"," +
        "\"labDepartement\":\"69\",\"symptomatic\":true,\"daysFromOnset\":2,\"housing\":\"Private\",\"healthCareWorker\":false}";
    private readonly byte[] _fieldBytes = Encoding.UTF8.GetBytes(s_fields);
    private string _dir = "";
    private StateStore _sqlite = null!;
    private LightningEnvironment _lmdb = null!;
    private LightningDatabase _lmdbDb = null!;
    private RocksDb _rocks = null!;
    private readonly WriteOptions _rocksWrite = new WriteOptions().SetSync(false);
    private long _next;

    [GlobalSetup]
    public void Setup()
    {
        // LightningDB's own liblmdb needs glibc 2.38; Debian 12 has 2.36: use Debian's liblmdb0 (apt) when it does not load.
        System.Runtime.InteropServices.NativeLibrary.SetDllImportResolver(typeof(LightningEnvironment).Assembly, (name, assembly, path) =>
            System.Runtime.InteropServices.NativeLibrary.TryLoad(name, assembly, path, out IntPtr handle)
            || System.Runtime.InteropServices.NativeLibrary.TryLoad("liblmdb.so.0", out handle) ? handle : IntPtr.Zero);
        _dir = Directory.CreateTempSubdirectory("sidep-bench-stage-").FullName;
        _sqlite = StateStore.Open(_dir, "research.db", 128);
        _lmdb = new LightningEnvironment(Path.Combine(_dir, "lmdb"), new EnvironmentConfiguration { MapSize = 8L << 30 });
        _lmdb.Open(EnvironmentOpenFlags.NoSync);
        using (LightningTransaction tx = _lmdb.BeginTransaction())
        {
            _lmdbDb = tx.OpenDatabase(configuration: new DatabaseConfiguration { Flags = DatabaseOpenFlags.Create });
            tx.Commit();
        }
        _rocks = RocksDb.Open(new DbOptions().SetCreateIfMissing(true), Path.Combine(_dir, "rocks"));
        while (_next < s_rows)
        {
            long from = _next;
            Sqlite();
            _next = from;
            Lmdb();
            _next = from;
            Rocks();
        }
    }

    [GlobalCleanup]
    public void Cleanup()
    {
        _sqlite.Dispose();
        _lmdbDb.Dispose();
        _lmdb.Dispose();
        _rocks.Dispose();
        Directory.Delete(_dir, recursive: true);
    }

    private ResearchRowRecord Row(long i) =>
        new(i.ToString("x32", System.Globalization.CultureInfo.InvariantCulture), i % 900_000, 1, $"2026-12-{1 + i % 28:D2}", s_fields);

    [Benchmark(Baseline = true, Description = "SQLite (StateStore.ApplyResearch)")]
    public void Sqlite()
    {
        var changes = new List<ResearchChange>(Batch);
        for (int i = 0; i < Batch; i++)
        {
            changes.Add(new ResearchUpsert(Row(_next++)));
        }
        _sqlite.ApplyResearch("research", _next, changes);
    }

    [Benchmark(Description = "LMDB (LightningDB)")]
    public void Lmdb()
    {
        using LightningTransaction tx = _lmdb.BeginTransaction();
        WriteBatchOfRows((key, value) => tx.Put(_lmdbDb, key, value));
        tx.Commit();
    }

    [Benchmark(Description = "RocksDB")]
    public void Rocks()
    {
        using var batch = new WriteBatch();
        WriteBatchOfRows((key, value) => batch.Put(key, value));
        _rocks.Write(batch, _rocksWrite);
    }

    private delegate void Put(ReadOnlySpan<byte> key, ReadOnlySpan<byte> value);

    /// <summary>A batch of rows, each under its key with its two index keys, then the position: the same puts for every
    /// key-value store, into its transaction or write batch.</summary>
    private void WriteBatchOfRows(Put put)
    {
        Span<byte> key = stackalloc byte[1 + 16];
        Span<byte> index = stackalloc byte[1 + 10 + 16];
        byte[] value = new byte[8 + 4 + 10 + _fieldBytes.Length];
        for (int i = 0; i < Batch; i++)
        {
            ResearchRowRecord r = Row(_next++);
            Encode(r, key, index, value);
            put(key, value);
            put(index, []);
            IndexByPerson(r, key, index);
            put(index[..25], []);
        }
        put("position/research"u8, BitConverter.GetBytes(_next));
    }

    /// <summary>The row under 'r' + its 16-byte key; the date index 'd' + date + key.</summary>
    private void Encode(ResearchRowRecord r, Span<byte> key, Span<byte> index, byte[] value)
    {
        key[0] = (byte)'r';
        UInt128 k = UInt128.Parse(r.Key, System.Globalization.NumberStyles.HexNumber, System.Globalization.CultureInfo.InvariantCulture);
        BinaryPrimitives.WriteUInt128BigEndian(key[1..], k);
        BinaryPrimitives.WriteInt64LittleEndian(value, r.PersonId);
        BinaryPrimitives.WriteInt32LittleEndian(value.AsSpan(8), r.Version);
        Encoding.ASCII.GetBytes(r.SampleDate, value.AsSpan(12));
        _fieldBytes.CopyTo(value.AsSpan(22));
        index[0] = (byte)'d';
        Encoding.ASCII.GetBytes(r.SampleDate, index[1..]);
        key[1..].CopyTo(index[11..]);
    }

    /// <summary>The person index 'p' + person (8 bytes) + key.</summary>
    private static void IndexByPerson(ResearchRowRecord r, Span<byte> key, Span<byte> index)
    {
        index[0] = (byte)'p';
        BinaryPrimitives.WriteInt64BigEndian(index[1..], r.PersonId);
        key[1..].CopyTo(index[9..]);
    }
}
