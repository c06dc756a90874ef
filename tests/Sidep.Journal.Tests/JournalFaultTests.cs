using System.Text;
using Sidep.Domain;
using Sidep.Journal;
using Sidep.Pipeline;
using Sidep.Tests;

namespace Sidep.Journal.Tests;

/// <summary>Write failures under the journal: every acknowledged append survives, nothing unacknowledged is half there,
/// and appends resume by themselves.</summary>
public class JournalFaultTests
{
    private static LogRecord Result(int partition, string text) => new(RecordKind.Result, partition, "k" + text, Encoding.UTF8.GetBytes(text));

    private static List<string> ReadAll(EmbeddedLog log) =>
        [.. Enumerable.Range(0, log.PartitionCount).SelectMany(p => log.Read(p, 0, 100_000)).Where(e => e.Kind != RecordKind.Lost)
            .Select(e => Encoding.UTF8.GetString(e.Payload.Span)).Order(StringComparer.Ordinal)];

    public static TheoryData<FaultPoint, FaultKind, string?, int> Faults()
    {
        var data = new TheoryData<FaultPoint, FaultKind, string?, int>();
        foreach (int nth in new[] { 1, 3 })
        {
            data.Add(FaultPoint.Write, FaultKind.NoSpace, ".seg", nth);
            data.Add(FaultPoint.Write, FaultKind.ShortWrite, ".seg", nth);
            data.Add(FaultPoint.Write, FaultKind.IoError, ".seg", nth);
            data.Add(FaultPoint.Flush, FaultKind.IoError, ".seg", nth);
            data.Add(FaultPoint.Write, FaultKind.ShortWrite, "commit", nth);
            data.Add(FaultPoint.Flush, FaultKind.IoError, "commit", nth);
            data.Add(FaultPoint.Open, FaultKind.NoSpace, ".seg", nth); // a segment roll that cannot create the next segment
            data.Add(FaultPoint.Write, FaultKind.NoSpace, ".idx", nth); // a roll that cannot write the sealed segment's index
        }
        return data;
    }

    [Theory]
    [MemberData(nameof(Faults))]
    public async Task Every_acknowledged_append_survives_a_failed_write_and_a_restart_and_nothing_unacknowledged_is_kept(
        FaultPoint point, FaultKind kind, string? only, int nth)
    {
        using var dir = new TempDir();
        var fs = new FaultyFileSystem { Only = only };
        var options = new JournalOptions { FileSystem = fs, SegmentBytes = 512 };
        var acknowledged = new List<string>();
        var refused = new List<string>();
        await using (EmbeddedLog log = EmbeddedLog.Open(dir.Path, 3, options))
        {
            for (int round = 0; round < 3; round++)
            {
                fs.Arm(point, kind, nth, sticky: round == 1);
                for (int i = 0; i < 12; i++)
                {
                    string[] texts = [$"r{round}-{i}-a", $"r{round}-{i}-b"];
                    try
                    {
                        await log.AppendAsync([.. texts.Select((t, j) => Result((i + j) % 3, t))]);
                        acknowledged.AddRange(texts);
                    }
                    catch (JournalUnavailableException ex)
                    {
                        Assert.Contains("nothing of this submission is stored", ex.Message);
                        refused.AddRange(texts);
                    }
                    if (round == 1 && i == 6)
                    {
                        fs.Clear(); // space comes back: appends resume by themselves
                    }
                }
                fs.Clear();
            }
            Assert.True(fs.Strikes > 0, "the fault never struck");
            Assert.NotEmpty(refused);
            Assert.Null(log.Unavailable);
            Assert.Equal(acknowledged.Order(StringComparer.Ordinal), ReadAll(log));
            // Offsets are dense: no number was given to a record that was not stored.
            Assert.Equal(acknowledged.Count, Enumerable.Range(0, 3).Sum(p => log.EndOffset(p)));
            Assert.Equal(acknowledged.Count, log.OrderedCount);
        }
        await using EmbeddedLog reopened = EmbeddedLog.Open(dir.Path, 3, new JournalOptions { SegmentBytes = 512 });
        Assert.Equal(acknowledged.Order(StringComparer.Ordinal), ReadAll(reopened));
        Assert.Equal(0, reopened.Recovery.TornBytesCut);
        Assert.Equal(acknowledged.Count, reopened.OrderedCount);
    }

    [Fact]
    public async Task A_journal_that_cannot_write_says_why_and_takes_appends_again_once_the_disk_has_room()
    {
        using var dir = new TempDir();
        var fs = new FaultyFileSystem();
        await using EmbeddedLog log = EmbeddedLog.Open(dir.Path, 2, new JournalOptions { FileSystem = fs });
        await log.AppendAsync([Result(0, "before")]);
        // The write fails, and so does the truncation that would return the file to its last acknowledged end.
        fs.Arm(FaultPoint.Write, FaultKind.NoSpace, sticky: true);
        await Assert.ThrowsAsync<JournalUnavailableException>(() => log.AppendAsync([Result(0, "refused")]));
        fs.Arm(FaultPoint.Open, FaultKind.NoSpace, sticky: true);
        await Assert.ThrowsAsync<JournalUnavailableException>(() => log.AppendAsync([Result(0, "refused too")]));
        Assert.Contains("No space left", log.Unavailable);
        fs.Clear();
        await log.AppendAsync([Result(1, "after")]);
        Assert.Null(log.Unavailable);
        Assert.Equal(["after", "before"], ReadAll(log));
    }

    [Fact]
    public async Task Concurrent_appends_during_failures_are_each_either_acknowledged_and_kept_or_refused_and_absent()
    {
        using var dir = new TempDir();
        var fs = new FaultyFileSystem { Only = ".seg" };
        var acknowledged = new System.Collections.Concurrent.ConcurrentBag<string>();
        await using (EmbeddedLog log = EmbeddedLog.Open(dir.Path, 4, new JournalOptions { FileSystem = fs, SegmentBytes = 8192 }))
        {
            Task[] senders = [.. Enumerable.Range(0, 8).Select(s => Task.Run(async () =>
            {
                for (int i = 0; i < 40; i++)
                {
                    if (s == 0 && i % 10 == 0)
                    {
                        fs.Arm(i % 20 == 0 ? FaultPoint.Flush : FaultPoint.Write, i % 20 == 0 ? FaultKind.IoError : FaultKind.ShortWrite);
                    }
                    string text = $"s{s}-{i}";
                    try
                    {
                        await log.AppendAsync([Result(i % 4, text)]);
                        acknowledged.Add(text);
                    }
                    catch (JournalUnavailableException)
                    {
                    }
                }
            }))];
            await Task.WhenAll(senders);
            Assert.True(fs.Strikes > 0);
            Assert.Equal(acknowledged.Order(StringComparer.Ordinal), ReadAll(log));
        }
        await using EmbeddedLog reopened = EmbeddedLog.Open(dir.Path, 4);
        Assert.Equal(acknowledged.Order(StringComparer.Ordinal), ReadAll(reopened));
    }
}
