using System.Text;
using Sidep.Domain;
using Sidep.Journal;
using Sidep.Pipeline;
using Sidep.Tests;

namespace Sidep.Journal.Tests;

public class EmbeddedLogTests
{
    private static LogRecord Result(int partition, string text) => new(RecordKind.Result, partition, "k" + text, Encoding.UTF8.GetBytes(text));

    [Fact]
    public async Task Appended_records_are_read_back_in_partition_order_with_offsets()
    {
        using var dir = new TempDir();
        await using EmbeddedLog log = EmbeddedLog.Open(dir.Path, 4);
        await log.AppendAsync([Result(1, "a"), Result(2, "b"), Result(1, "c")]);
        List<LogEntry> p1 = log.Read(1, 0, 10);
        Assert.Equal(["a", "c"], p1.Select(e => Encoding.UTF8.GetString(e.Payload.Span)));
        Assert.Equal([0L, 1L], p1.Select(e => e.Offset));
        Assert.Equal(1, log.EndOffset(2));
        Assert.Equal("c", Encoding.UTF8.GetString(log.Read(1, 1, 10).Single().Payload.Span));
    }

    [Fact]
    public async Task Batches_read_whole_across_read_chunks_records_larger_than_a_chunk_and_submissions_between_them()
    {
        using var dir = new TempDir();
        await using EmbeddedLog log = EmbeddedLog.Open(dir.Path, 4);
        var random = new Random(3);
        var written = new List<(int Partition, string Text)>();
        for (int append = 0; append < 40; append++)
        {
            var records = new List<LogRecord> { new(RecordKind.Submission, -1, $"sub_{append}", new byte[random.Next(1, 200_000)]) };
            for (int i = 0; i < 30; i++)
            {
                // Mostly small, some larger than the 256 KiB read chunk.
                string text = $"{append}-{i}-" + new string((char)('a' + i % 26), random.Next(10) == 0 ? 300_000 : random.Next(1, 5_000));
                int partition = random.Next(4);
                records.Add(new LogRecord(RecordKind.Result, partition, $"k{append}-{i}", Encoding.UTF8.GetBytes(text)));
                written.Add((partition, text));
            }
            await log.AppendAsync(records);
        }
        List<string> inOrder = [.. Enumerable.Range(0, 10).SelectMany(b => log.ReadInJournalOrder(b * 120, 120)).Select(e => Encoding.UTF8.GetString(e.Payload.Span))];
        Assert.Equal(written.Select(w => w.Text), inOrder);
        for (int p = 0; p < 4; p++)
        {
            List<LogEntry> partition = log.Read(p, 0, 10_000);
            Assert.Equal(written.Where(w => w.Partition == p).Select(w => w.Text), partition.Select(e => Encoding.UTF8.GetString(e.Payload.Span)));
            Assert.Equal(Enumerable.Range(0, partition.Count).Select(i => (long)i), partition.Select(e => e.Offset));
        }
    }

    [Fact]
    public async Task Tens_of_thousands_of_records_read_back_in_order_across_the_index_chunks_and_after_a_restart()
    {
        using var dir = new TempDir();
        const int Records = 20_000; // the index holds positions in chunks of 8,192
        await using (EmbeddedLog log = EmbeddedLog.Open(dir.Path, 2))
        {
            for (int batch = 0; batch < Records / 500; batch++)
            {
                await log.AppendAsync([.. Enumerable.Range(batch * 500, 500).Select(i => Result(i % 2, i.ToString(System.Globalization.CultureInfo.InvariantCulture)))]);
            }
            AssertReadsAcrossChunks(log);
        }
        await using (EmbeddedLog reopened = EmbeddedLog.Open(dir.Path, 2))
        {
            AssertReadsAcrossChunks(reopened);
        }

        static void AssertReadsAcrossChunks(EmbeddedLog log)
        {
            Assert.Equal(Records, log.OrderedCount);
            Assert.Equal(Records / 2, log.EndOffset(0));
            // Ranges that start before a chunk's end and finish in the next one, in journal order and in a partition.
            Assert.Equal(Enumerable.Range(8_180, 30).Select(i => i.ToString(System.Globalization.CultureInfo.InvariantCulture)),
                log.ReadInJournalOrder(8_180, 30).Select(e => Encoding.UTF8.GetString(e.Payload.Span)));
            Assert.Equal(Enumerable.Range(16_370, 40).Select(i => i.ToString(System.Globalization.CultureInfo.InvariantCulture)),
                log.ReadInJournalOrder(16_370, 40).Select(e => Encoding.UTF8.GetString(e.Payload.Span)));
            List<LogEntry> odd = log.Read(1, 8_190, 5);
            Assert.Equal(Enumerable.Range(8_190, 5).Select(o => (2 * o + 1).ToString(System.Globalization.CultureInfo.InvariantCulture)),
                odd.Select(e => Encoding.UTF8.GetString(e.Payload.Span)));
            Assert.Equal(Enumerable.Range(8_190, 5).Select(o => (long)o), odd.Select(e => e.Offset));
            Assert.Equal(Records, log.ReadInJournalOrder(0, Records + 10).Count);
            Assert.Empty(log.ReadInJournalOrder(Records, 10));
        }
    }

    [Fact]
    public async Task A_key_longer_than_the_record_format_holds_is_refused_not_cut()
    {
        using var dir = new TempDir();
        await using EmbeddedLog log = EmbeddedLog.Open(dir.Path, 4);
        await Assert.ThrowsAsync<ArgumentOutOfRangeException>(() => log.AppendAsync([new LogRecord(RecordKind.Result, 0, new string('k', 70_000), "x"u8.ToArray())]));
        Assert.Equal(0, log.EndOffset(0));
    }

    [Fact]
    public async Task Reopening_the_journal_recovers_every_durable_record_and_submission()
    {
        using var dir = new TempDir();
        await using (EmbeddedLog log = EmbeddedLog.Open(dir.Path, 4))
        {
            await log.AppendAsync([new LogRecord(RecordKind.Submission, -1, "sub_1", "raw"u8.ToArray()), Result(3, "x")]);
        }
        await using EmbeddedLog reopened = EmbeddedLog.Open(dir.Path, 4);
        Assert.Equal(1, reopened.EndOffset(3));
        Assert.Equal("raw", Encoding.UTF8.GetString(reopened.ReadSubmission("sub_1")!.Value.Payload.Span));
    }

    [Fact]
    public async Task Concurrent_appends_share_fsyncs_through_group_commit()
    {
        using var dir = new TempDir();
        await using EmbeddedLog log = EmbeddedLog.Open(dir.Path, 8);
        Task[] appends = Enumerable.Range(0, 400).Select(i => Task.Run(() => log.AppendAsync([Result(i % 8, "r" + i)]))).ToArray();
        await Task.WhenAll(appends);
        Assert.Equal(400, Enumerable.Range(0, 8).Sum(p => log.EndOffset(p)));
        Assert.True(log.FlushCount < 400, $"{log.FlushCount} fsyncs for 400 appends");
    }

    [Fact]
    public void The_partition_of_a_key_is_stable()
    {
        using var dir = new TempDir();
        using var _ = new AsyncDisposer(EmbeddedLog.Open(dir.Path, 8), out EmbeddedLog log);
        Assert.Equal(log.PartitionOf("1955-01-08|F"), log.PartitionOf("1955-01-08|F"));
        Assert.InRange(log.PartitionOf("?|U"), 0, 7);
    }

    private sealed class AsyncDisposer : IDisposable
    {
        private readonly EmbeddedLog _log;
        public AsyncDisposer(EmbeddedLog log, out EmbeddedLog value) => value = _log = log;
        public void Dispose() => _log.DisposeAsync().AsTask().GetAwaiter().GetResult();
    }
}
