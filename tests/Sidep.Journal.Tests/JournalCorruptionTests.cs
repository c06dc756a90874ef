using System.Text;
using Sidep.Domain;
using Sidep.Journal;
using Sidep.Pipeline;
using Sidep.Tests;

namespace Sidep.Journal.Tests;

/// <summary>Damage to the journal's files: found, reported with where and what lies beyond, never silently "repaired";
/// only a torn tail past the last acknowledged point is cut; repair moves damage aside and keeps everything else.</summary>
public class JournalCorruptionTests
{
    private static LogRecord Result(int partition, string text) => new(RecordKind.Result, partition, $"990000001\u001FACC-{text}\u001F94500-6", Encoding.UTF8.GetBytes(text));

    /// <summary>Ten appends of a submission and two results each; returns the segment file and where each record starts.</summary>
    private static async Task<(string Segment, List<long> Starts)> WriteAsync(string directory)
    {
        await using (EmbeddedLog log = EmbeddedLog.Open(directory, 2))
        {
            for (int i = 0; i < 10; i++)
            {
                await log.AppendAsync([new LogRecord(RecordKind.Submission, -1, $"sub_{i}", Encoding.UTF8.GetBytes($"raw {i}")), Result(0, $"{i}a"), Result(1, $"{i}b")]);
            }
        }
        string segment = Path.Combine(directory, "0000000000.seg");
        byte[] bytes = File.ReadAllBytes(segment);
        var starts = new List<long>();
        for (long at = 32; at < bytes.Length; at += 12 + BitConverter.ToInt32(bytes, (int)at + 4))
        {
            starts.Add(at);
        }
        Assert.Equal(30, starts.Count);
        return (segment, starts);
    }

    private static void Flip(string path, long at)
    {
        using var f = new FileStream(path, FileMode.Open, FileAccess.ReadWrite);
        f.Position = at;
        int b = f.ReadByte();
        f.Position = at;
        f.WriteByte((byte)(b ^ 0x5A));
    }

    [Theory]
    [InlineData(15, 20, "a byte in the middle of a record's payload")]
    [InlineData(15, 1, "a byte of a record's header")]
    public async Task A_damaged_record_in_the_middle_refuses_start_up_and_repair_moves_it_aside_keeping_the_rest(int record, int byteInRecord, string _)
    {
        using var dir = new TempDir();
        (string segment, List<long> starts) = await WriteAsync(dir.Path);
        long damagedAt = starts[record];
        Flip(segment, damagedAt + byteInRecord);
        byte[] damaged = File.ReadAllBytes(segment);

        JournalCorruptException refused = Assert.Throws<JournalCorruptException>(() => EmbeddedLog.Open(dir.Path, 2));
        JournalDamage damage = Assert.Single(refused.Damage);
        Assert.Equal(segment, damage.File);
        Assert.Equal(damagedAt, damage.Offset);
        Assert.Equal(starts[record + 1] - damagedAt, damage.Length);
        Assert.Equal(30 - record - 1, damage.RecordsBeyond);
        Assert.Contains(segment, refused.Message);
        Assert.Equal(damaged, File.ReadAllBytes(segment)); // nothing was changed

        JournalVerifyReport verify = JournalTool.Verify(dir.Path);
        Assert.False(verify.Clean);
        Assert.Equal(damage, Assert.Single(verify.Damage).Damage);

        (JournalVerifyReport repaired, IReadOnlyList<string> movedTo) = JournalTool.Repair(dir.Path);
        // Record 15 is the fifth append's submission (records go submission, a, b): sub_5.
        if (byteInRecord >= 12)
        {
            Assert.Contains(repaired.Damage[0].Held, h => h.ToString() == "submission sub_5");
        }
        string aside = Assert.Single(movedTo);
        Assert.Equal(damage.Length, new FileInfo(aside).Length);
        Assert.True(JournalTool.Verify(dir.Path).Clean);

        await using EmbeddedLog log = EmbeddedLog.Open(dir.Path, 2);
        Assert.Null(log.ReadSubmission("sub_5"));
        Assert.NotNull(log.ReadSubmission("sub_6"));
        Assert.Equal(10, log.EndOffset(0));
        Assert.Equal(Enumerable.Range(0, 10).Select(i => $"{i}a"), log.Read(0, 0, 100).Select(e => Encoding.UTF8.GetString(e.Payload.Span)));
        await log.AppendAsync([Result(0, "after")]);
        Assert.Equal(10, log.Read(0, 10, 1).Single().Offset);
    }

    [Fact]
    public async Task A_damaged_result_keeps_its_number_and_reads_as_lost_after_repair()
    {
        using var dir = new TempDir();
        (string segment, List<long> starts) = await WriteAsync(dir.Path);
        Flip(segment, starts[4] + 30); // the second append's first result: partition 0, offset 1, sequence 2
        JournalCorruptException refused = Assert.Throws<JournalCorruptException>(() => EmbeddedLog.Open(dir.Path, 2));
        Assert.Equal((2L, 2L), refused.Damage[0].Results); // 0a, 0b, then 1a: the third result of the journal's order
        Assert.Contains("holding results #2 to #2", refused.Message);
        (JournalVerifyReport report, _) = JournalTool.Repair(dir.Path);
        Assert.Equal((2L, 2L), report.Damage[0].Damage.Results);
        Assert.Contains(report.Damage[0].Held, h => h.ToString() == "result lab 990000001, accession ACC-1a, test 94500-6");

        await using EmbeddedLog log = EmbeddedLog.Open(dir.Path, 2);
        List<LogEntry> partition = log.Read(0, 0, 100);
        Assert.Equal(10, partition.Count);
        Assert.Equal(RecordKind.Lost, partition[1].Kind);
        Assert.Equal(["0a", "2a"], new[] { partition[0], partition[2] }.Select(e => Encoding.UTF8.GetString(e.Payload.Span)));
        Assert.Equal(RecordKind.Lost, log.ReadInJournalOrder(2, 1).Single().Kind);
        Assert.Equal(1, log.Recovery.Lost);
        Assert.DoesNotContain(log.ReadAllResults(), e => e.Key.Contains("ACC-1a", StringComparison.Ordinal));
    }

    [Fact]
    public async Task A_damaged_last_record_refuses_start_up_it_was_acknowledged()
    {
        using var dir = new TempDir();
        (string segment, List<long> starts) = await WriteAsync(dir.Path);
        Flip(segment, new FileInfo(segment).Length - 1);
        JournalCorruptException refused = Assert.Throws<JournalCorruptException>(() => EmbeddedLog.Open(dir.Path, 2));
        Assert.Equal(starts[^1], Assert.Single(refused.Damage).Offset);
        Assert.Equal(0, refused.Damage[0].RecordsBeyond);
    }

    [Fact]
    public async Task A_tail_cut_inside_the_last_acknowledged_record_refuses_start_up_and_repair_keeps_the_numbering()
    {
        using var dir = new TempDir();
        (string segment, List<long> starts) = await WriteAsync(dir.Path);
        long whole = new FileInfo(segment).Length;
        using (var f = new FileStream(segment, FileMode.Open))
        {
            f.SetLength(whole - 10);
        }
        JournalCorruptException refused = Assert.Throws<JournalCorruptException>(() => EmbeddedLog.Open(dir.Path, 2));
        Assert.Contains(refused.Damage, d => d.Offset == starts[^1]);
        Assert.Contains(refused.Damage, d => d.Reason.Contains("bytes before the last acknowledged point", StringComparison.Ordinal) && d.MissingRecords == 1);
        Assert.Equal(whole - 10, new FileInfo(segment).Length);

        JournalTool.Repair(dir.Path);
        await using EmbeddedLog log = EmbeddedLog.Open(dir.Path, 2);
        // The last result (partition 1, offset 9) is lost, its number kept: the stages' positions still hold.
        Assert.Equal(10, log.EndOffset(1));
        Assert.Equal(RecordKind.Lost, log.Read(1, 9, 1).Single().Kind);
        await log.AppendAsync([Result(1, "after")]);
        Assert.Equal(10, log.Read(1, 10, 1).Single().Offset);
    }

    [Fact]
    public async Task A_tail_cut_at_a_record_boundary_refuses_start_up_acknowledged_records_are_missing()
    {
        using var dir = new TempDir();
        (string segment, List<long> starts) = await WriteAsync(dir.Path);
        using (var f = new FileStream(segment, FileMode.Open))
        {
            f.SetLength(starts[^3]); // the whole last append (three records) gone
        }
        JournalCorruptException refused = Assert.Throws<JournalCorruptException>(() => EmbeddedLog.Open(dir.Path, 2));
        JournalDamage damage = Assert.Single(refused.Damage);
        Assert.Equal(3, damage.MissingRecords);
        Assert.Equal(starts[^3], damage.Offset);
        Assert.Equal((18L, 19L), damage.Results); // the last append's two results
        JournalVerifyReport verify = JournalTool.Verify(dir.Path);
        Assert.Equal(3, Assert.Single(verify.Damage).Damage.MissingRecords);
    }

    [Fact]
    public async Task A_torn_tail_past_the_last_acknowledged_point_is_cut_and_reported_and_appends_go_on_after_it()
    {
        using var dir = new TempDir();
        (string segment, _) = await WriteAsync(dir.Path);
        long whole = new FileInfo(segment).Length;
        using (var f = new FileStream(segment, FileMode.Append))
        {
            f.Write([0xE5, 0x1D, 0xEB, 0x01, 0x40, 0, 0, 0, 1, 2]); // a header promising 64 bytes that never came
        }
        Assert.True(JournalTool.Verify(dir.Path).Clean); // past the commit point: torn, not damage
        await using EmbeddedLog log = EmbeddedLog.Open(dir.Path, 2);
        Assert.Equal(10, log.Recovery.TornBytesCut);
        Assert.Equal(whole, new FileInfo(segment).Length);
        await log.AppendAsync([Result(0, "after")]);
        Assert.Equal("after", Encoding.UTF8.GetString(log.Read(0, 10, 1).Single().Payload.Span));
    }

    [Fact]
    public async Task Damage_found_after_start_up_is_reported_when_read_never_returned()
    {
        using var dir = new TempDir();
        (string segment, List<long> starts) = await WriteAsync(dir.Path);
        await using EmbeddedLog log = EmbeddedLog.Open(dir.Path, 2);
        Flip(segment, starts[1] + 25);
        JournalCorruptException ex = Assert.Throws<JournalCorruptException>(() => log.Read(0, 0, 10));
        Assert.Equal(starts[1], ex.Damage[0].Offset);
        Assert.NotNull(log.Unavailable);
    }
}
