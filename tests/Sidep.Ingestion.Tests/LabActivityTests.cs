using System.Buffers;
using System.Text;
using Sidep.Domain;
using Sidep.Journal;
using Sidep.Pipeline;
using Sidep.Storage.Sqlite;
using Sidep.Tests;

namespace Sidep.Ingestion.Tests;

/// <summary>The gateway's activity counts: what a submission adds, and what a failed write of them keeps.</summary>
public sealed class LabActivityTests
{
    private static readonly Lab s_lab = new("990000001", "Demo", ["LAB"], []);

    private static ReadOnlySequence<byte> Message(string accession, string status = "F") => new(Encoding.UTF8.GetBytes(
        "MSH|^~\\&|APP|LAB^990000001|SIDEP|ANS|20260112093000+0100||ORU^R01^ORU_R01|M" + accession + "|P|2.5\r" +
        "PID|1||42^^^LAB^PI||DURAND^PAUL||19700101|M\r" +
        $"OBR|1||{accession}|94500-6^SARS-CoV-2^LN|||20260112081500+0100\r" +
        $"OBX|1|CWE|94500-6^SARS-CoV-2^LN||260415000^Not detected^SCT||||||{status}\r"));

    /// <summary>A store whose activity writes fail (a stopped database, a full disk) until told otherwise.</summary>
    private sealed class FailingActivity(ILabActivityLog inner) : ILabActivityLog
    {
        public bool Failing { get; set; } = true;

        public void AddActivity(IReadOnlyList<LabHour> hours, IReadOnlyList<DelayCount> delays, IReadOnlyList<RejectionCount>? rejections = null)
        {
            if (Failing)
            {
                throw new IOException("the database is away");
            }
            inner.AddActivity(hours, delays, rejections);
        }

        public List<LabHour> LabHours(long fromHour, long toHour) => inner.LabHours(fromHour, toHour);
        public List<LabDay> LabDays(int fromDay, int toDay) => inner.LabDays(fromDay, toDay);
        public Dictionary<string, DateTimeOffset> LastReceived() => inner.LastReceived();
        public List<RejectionCount> Rejections(long fromHour, long toHour) => inner.Rejections(fromHour, toHour);
        public List<DelayCount> Delays(int fromDay, int toDay) => inner.Delays(fromDay, toDay);
    }

    [Fact]
    public async Task Counts_a_failed_write_could_not_store_are_kept_and_added_by_the_next_one()
    {
        using var dir = new TempDir();
        await using EmbeddedLog log = EmbeddedLog.Open(Path.Combine(dir.Path, "log"), 4);
        using StateStore store = StateStore.Open(dir.Path);
        var recorder = new LabActivityRecorder();
        var at = new DateTimeOffset(2026, 1, 14, 9, 30, 0, TimeSpan.Zero);
        var ingestion = new IngestionService(log) { Activity = recorder, Time = new Microsoft.Extensions.Time.Testing.FakeTimeProvider(at) };
        var failing = new FailingActivity(store);

        await ingestion.SubmitAsync(s_lab, Message("A1"), Formats.Hl7v2, "test", false);
        Assert.Throws<IOException>(() => recorder.Flush(failing));
        // More arrives while the store is away: nothing counted is dropped, nothing is written twice.
        await ingestion.SubmitAsync(s_lab, Message("A2"), Formats.Hl7v2, "test", false);
        await ingestion.SubmitAsync(s_lab, Message("A2"), Formats.Hl7v2, "test", false); // a duplicate
        Assert.Throws<IOException>(() => recorder.Flush(failing));
        failing.Failing = false;
        recorder.Flush(failing);
        recorder.Flush(failing); // nothing left: adds nothing

        LabHour hour = Assert.Single(store.LabHours(LabHour.HourOf(at), LabHour.HourOf(at) + 1));
        Assert.Equal((3, 2, 1, at), (hour.Received, hour.Stored, hour.Duplicates, hour.LastReceivedAt!.Value));
        // Both new results were sampled on 12 January and received on the 14th: two days late.
        Assert.Equal([new DelayCount(new DateOnly(2026, 1, 12).DayNumber, 2, 2)], store.Delays(0, int.MaxValue));
    }
}
