using System.Buffers;
using System.Text;
using Sidep.Ingestion;
using Sidep.Domain;
using Sidep.Journal;
using Sidep.Pipeline;
using Sidep.Storage.Sqlite;
using Sidep.Tests;

namespace Sidep.Ingestion.Tests;

public class IngestionTests
{
    private static readonly Lab s_lab = new("990000001", "Demo", ["SIDEP-DEMO", "LAB"], []);

    private static string Message(string value = "260415000^Not detected^SCT", string status = "F", string accession = "ACC1") =>
        "MSH|^~\\&|APP|LAB^990000001|SIDEP|ANS|20260112093000+0100||ORU^R01^ORU_R01|M1|P|2.5\r" +
        "PID|1||42^^^LAB^PI||DURAND^PAUL||19700101|M\r" +
        $"OBR|1||{accession}|94500-6^SARS-CoV-2^LN|||20260112081500+0100\r" +
        $"OBX|1|CWE|94500-6^SARS-CoV-2^LN||{value}||||||{status}\r";

    private static ReadOnlySequence<byte> Bytes(string s) => new(Encoding.UTF8.GetBytes(s));

    [Theory]
    [InlineData("X")]
    [InlineData("W")]
    [InlineData("D")]
    public async Task A_cancelled_result_is_reported_as_a_retraction_whether_new_or_a_later_version(string status)
    {
        using var dir = new TempDir();
        await using EmbeddedLog log = EmbeddedLog.Open(dir.Path, 4);
        var ingestion = new IngestionService(log);
        Assert.Equal(new ReportCounts(1, 0, 0, 0), (await ingestion.SubmitAsync(s_lab, Bytes(Message()), "hl7v2", "test", false)).Report.Counts);
        SubmissionReport cancelled = (await ingestion.SubmitAsync(s_lab, Bytes(Message(status: status)), "hl7v2", "test", false)).Report;
        Assert.Equal(ItemStatus.Retraction, Assert.Single(cancelled.Items).Status);
        Assert.Equal(new ReportCounts(0, 0, 0, 0, 0, 1), cancelled.Counts);
        Assert.Equal(2, cancelled.Items[0].Version);
        // A cancellation of a result never received is stored too (it may precede its original): still a retraction.
        SubmissionReport first = (await ingestion.SubmitAsync(s_lab, Bytes(Message(status: status, accession: "ACC2")), "hl7v2", "test", false)).Report;
        Assert.Equal(ItemStatus.Retraction, Assert.Single(first.Items).Status);
        Assert.Equal(3, Enumerable.Range(0, 4).Sum(p => log.EndOffset(p)));
    }

    [Fact]
    public async Task Resubmitting_the_same_result_is_a_duplicate_and_a_changed_one_a_correction()
    {
        using var dir = new TempDir();
        await using EmbeddedLog log = EmbeddedLog.Open(dir.Path, 4);
        var ingestion = new IngestionService(log);
        SubmissionReport first = (await ingestion.SubmitAsync(s_lab, Bytes(Message()), "hl7v2", "test", false)).Report;
        Assert.Equal(new ReportCounts(1, 0, 0, 0), first.Counts);
        Assert.Equal("990000001/ACC1/94500-6", first.Items[0].ResultKey);
        SubmissionReport again = (await ingestion.SubmitAsync(s_lab, Bytes(Message()), "hl7v2", "test", false)).Report;
        Assert.Equal(new ReportCounts(0, 0, 1, 0), again.Counts);
        SubmissionReport corrected = (await ingestion.SubmitAsync(s_lab, Bytes(Message("260373001^Detected^SCT", "C")), "hl7v2", "test", false)).Report;
        Assert.Equal(new ReportCounts(0, 0, 0, 1), corrected.Counts);
        Assert.Equal(2, corrected.Items[0].Version);
        Assert.Equal(2, Enumerable.Range(0, 4).Sum(p => log.EndOffset(p)));
    }

    [Fact]
    public async Task The_same_result_twice_in_one_submission_is_stored_once()
    {
        using var dir = new TempDir();
        await using EmbeddedLog log = EmbeddedLog.Open(dir.Path, 4);
        var ingestion = new IngestionService(log);
        SubmissionReport report = (await ingestion.SubmitAsync(s_lab, Bytes(Message() + Message()), "hl7v2", "test", false)).Report;
        Assert.Equal(new ReportCounts(1, 0, 1, 0), report.Counts);
    }

    [Fact]
    public async Task After_a_restart_a_resent_result_is_still_a_duplicate()
    {
        using var dir = new TempDir();
        await using (EmbeddedLog log = EmbeddedLog.Open(dir.Path, 4))
        {
            await new IngestionService(log).SubmitAsync(s_lab, Bytes(Message()), "hl7v2", "test", false);
        }
        await using EmbeddedLog reopened = EmbeddedLog.Open(dir.Path, 4);
        var ingestion = new IngestionService(reopened);
        Assert.Equal(1, Assert.IsType<JournalKeyIndex>(ingestion.Keys).Count);
        Assert.Equal(new ReportCounts(0, 0, 1, 0), (await ingestion.SubmitAsync(s_lab, Bytes(Message()), "hl7v2", "test", false)).Report.Counts);
    }

    [Fact]
    public async Task A_dry_run_stores_nothing()
    {
        using var dir = new TempDir();
        await using EmbeddedLog log = EmbeddedLog.Open(dir.Path, 4);
        var ingestion = new IngestionService(log);
        SubmissionReport report = (await ingestion.SubmitAsync(s_lab, Bytes(Message()), "hl7v2", "test", dryRun: true)).Report;
        Assert.Null(report.SubmissionId);
        Assert.False(report.Durable);
        Assert.Equal(1, report.Counts.Accepted);
        Assert.Equal(0, Enumerable.Range(0, 4).Sum(p => log.EndOffset(p)));
        Assert.Equal(new ReportCounts(1, 0, 0, 0), (await ingestion.SubmitAsync(s_lab, Bytes(Message()), "hl7v2", "test", false)).Report.Counts);
    }

    [Fact]
    public async Task A_lab_sending_as_another_facility_is_forbidden_and_nothing_is_stored()
    {
        using var dir = new TempDir();
        await using EmbeddedLog log = EmbeddedLog.Open(dir.Path, 4);
        var other = new Lab("130000002", "Other", [], []);
        SubmissionOutcome outcome = await new IngestionService(log).SubmitAsync(other, Bytes(Message()), "hl7v2", "test", false);
        Assert.Contains("130000002", outcome.Forbidden);
        Assert.Contains("MSH-4", outcome.Forbidden);
        Assert.Equal(0, Enumerable.Range(0, 4).Sum(p => log.EndOffset(p)));
    }

    [Fact]
    public async Task The_raw_submission_is_kept_with_its_hash_and_report()
    {
        using var dir = new TempDir();
        await using EmbeddedLog log = EmbeddedLog.Open(dir.Path, 4);
        var ingestion = new IngestionService(log);
        byte[] raw = Fixtures.Hl7Bytes("reportstream__batch_message_FHS-BHS_LF.hl7");
        var lab = new Lab("10D0876999", "Avante", [], []);
        SubmissionReport report = (await ingestion.SubmitAsync(lab, new ReadOnlySequence<byte>(raw), "hl7v2", "test", false)).Report;
        var stored = ingestion.GetSubmission(report.SubmissionId!)!.Value;
        Assert.Equal(raw, stored.Raw.ToArray());
        Assert.Equal(Convert.ToHexStringLower(System.Security.Cryptography.SHA256.HashData(raw)), stored.Meta.Sha256);
        Assert.Equal(2, stored.Meta.Report.Counts.Accepted);
    }

    [Fact]
    public async Task No_INS_is_said_where_the_INS_was_expected_PID_3_not_at_the_result()
    {
        using var dir = new TempDir();
        await using EmbeddedLog log = EmbeddedLog.Open(dir.Path, 4);
        SubmissionReport report = (await new IngestionService(log).SubmitAsync(s_lab, Bytes(Message()), "hl7v2", "test", false)).Report;
        ProblemReport missing = Assert.Single(Assert.Single(report.Items).Problems, p => p.Code == "MissingIns");
        Assert.Equal(("warning", "PID", 2, 3), (missing.Severity, missing.Segment, missing.Line, missing.Field));
        Assert.Equal(Message().IndexOf("PID|", StringComparison.Ordinal) + "PID|1|".Length + 1, missing.ByteOffset);
    }

    [Fact]
    public async Task The_report_is_written_once_the_journal_keeps_the_bytes_the_lab_is_answered_with_and_its_metadata_is_the_contract_s_JSON()
    {
        using var dir = new TempDir();
        await using EmbeddedLog log = EmbeddedLog.Open(dir.Path, 4);
        var ingestion = new IngestionService(log);
        byte[] raw = Encoding.UTF8.GetBytes(Message(accession: "ACC1") + Message(accession: "ACC2") + Message(accession: "ACC1"));
        SubmissionOutcome outcome = await ingestion.SubmitAsync(s_lab, new ReadOnlySequence<byte>(raw), "hl7v2", "test", false);
        Assert.Equal(System.Text.Json.JsonSerializer.SerializeToUtf8Bytes(outcome.Report, SidepJson.Default.SubmissionReport), outcome.ReportJson);

        // The record's metadata, unpacked, is byte for byte what the StoredSubmission contract writes.
        LogEntry entry = log.ReadSubmission(outcome.Report.SubmissionId!)!.Value;
        byte[] plain = K4os.Compression.LZ4.LZ4Pickler.Unpickle(entry.Payload.Span[4..]);
        int metaLength = BitConverter.ToInt32(plain, 0);
        (StoredSubmission meta, ReadOnlyMemory<byte> kept) = ingestion.GetSubmission(outcome.Report.SubmissionId!)!.Value;
        Assert.Equal(System.Text.Json.JsonSerializer.SerializeToUtf8Bytes(meta, SidepJson.Default.StoredSubmission), plain.AsSpan(4, metaLength).ToArray());
        Assert.Equal((2, 1), (meta.Report.Counts.Accepted, meta.Report.Counts.Duplicate));
        Assert.Equal(raw, kept.ToArray());

        // A dry run writes nothing, and its answer is written when answered.
        Assert.Empty((await ingestion.SubmitAsync(s_lab, new ReadOnlySequence<byte>(raw), "hl7v2", "test", true)).ReportJson);
    }

    [Fact]
    public async Task A_submission_is_kept_compressed_and_one_written_before_compression_is_still_read()
    {
        using var dir = new TempDir();
        await using EmbeddedLog log = EmbeddedLog.Open(dir.Path, 4);
        var ingestion = new IngestionService(log);
        byte[] raw = Encoding.UTF8.GetBytes(string.Concat(Enumerable.Range(0, 200).Select(i => Message(accession: $"ACC{i}"))));
        SubmissionReport report = (await ingestion.SubmitAsync(s_lab, new ReadOnlySequence<byte>(raw), "hl7v2", "test", false)).Report;
        Assert.Equal(200, report.Counts.Accepted);
        LogEntry entry = log.ReadSubmission(report.SubmissionId!)!.Value;
        byte[] reportJson = System.Text.Json.JsonSerializer.SerializeToUtf8Bytes(report, SidepJson.Default.SubmissionReport);
        Assert.True(entry.Payload.Length * 3 < raw.Length + reportJson.Length, $"{entry.Payload.Length} bytes kept for {raw.Length} raw + {reportJson.Length} of report");
        Assert.Equal(raw, ingestion.GetSubmission(report.SubmissionId!)!.Value.Raw.ToArray());

        // Written by an earlier release: [metadata length][metadata][raw], uncompressed.
        var stored = new StoredSubmission("sub_old", "990000001", "hl7v2", "http", DateTimeOffset.UnixEpoch, "00", report);
        byte[] meta = System.Text.Json.JsonSerializer.SerializeToUtf8Bytes(stored, SidepJson.Default.StoredSubmission);
        byte[] old = [.. BitConverter.GetBytes(meta.Length), .. meta, .. raw];
        (StoredSubmission oldMeta, ReadOnlyMemory<byte> oldRaw) = SubmissionRecords.Decode(old);
        Assert.Equal(("sub_old", 200), (oldMeta.Id, oldMeta.Report.Counts.Accepted));
        Assert.Equal(raw, oldRaw.ToArray());
        Assert.Throws<InvalidDataException>(() => SubmissionRecords.Decode(entry.Payload[..20]));
    }

    [Fact]
    public void A_submission_that_does_not_compress_is_kept_whole_byte_for_byte()
    {
        // Random bytes: LZ4's output is larger than its input, so the record's buffer grows past its first size.
        byte[] raw = new byte[3_000_000];
        new Random(17).NextBytes(raw);
        var report = new SubmissionReport("sub_random", DateTimeOffset.UnixEpoch, "990000001", "hl7v2", false, true, "00", raw.Length, new ReportCounts(0, 0, 0, 0),
            [], [], []);
        byte[] reportJson = System.Text.Json.JsonSerializer.SerializeToUtf8Bytes(report, SidepJson.Default.SubmissionReport);
        var stored = new StoredSubmission("sub_random", "990000001", "hl7v2", "http", DateTimeOffset.UnixEpoch, "00", report);

        byte[] record = SubmissionRecords.Encode(stored, reportJson, new ReadOnlySequence<byte>(raw));

        (StoredSubmission meta, ReadOnlyMemory<byte> back) = SubmissionRecords.Decode(record);
        Assert.Equal("sub_random", meta.Id);
        Assert.True(back.Span.SequenceEqual(raw));
    }

    [Fact]
    public async Task An_older_version_sent_again_is_a_duplicate_and_does_not_undo_the_newer_one_even_after_a_restart()
    {
        using var dir = new TempDir();
        string original = Message("260373001^Detected^SCT"), cancelled = Message("260373001^Detected^SCT", "X");
        async Task<SubmissionReport> Send(IngestionService ingestion, string message) =>
            (await ingestion.SubmitAsync(s_lab, Bytes(message), "hl7v2", "test", false)).Report;
        await using (EmbeddedLog log = EmbeddedLog.Open(Path.Combine(dir.Path, "log"), 4))
        {
            var ingestion = new IngestionService(log);
            Assert.Equal(new ReportCounts(1, 0, 0, 0), (await Send(ingestion, original)).Counts);
            Assert.Equal(new ReportCounts(0, 0, 0, 0, 0, 1), (await Send(ingestion, cancelled)).Counts); // version 2: retracted
            // The lab lost the first acknowledgement and sends the original again: nothing changes.
            SubmissionReport again = await Send(ingestion, original);
            Assert.Equal(new ReportCounts(0, 0, 1, 0), again.Counts);
            Assert.Equal(1, again.Items.Single().Version);
            Assert.Contains(again.Items.Single().Problems, p => p.Code == "Duplicate" && p.Message.Contains("version 2 supersedes it", StringComparison.Ordinal));
            Assert.Equal(2, log.OrderedCount);
        }
        await using (EmbeddedLog log = EmbeddedLog.Open(Path.Combine(dir.Path, "log"), 4))
        {
            var ingestion = new IngestionService(log); // the index rebuilt from the journal knows every version
            Assert.Equal(new ReportCounts(0, 0, 1, 0), (await Send(ingestion, original)).Counts);
            Assert.Equal(new ReportCounts(0, 0, 1, 0), (await Send(ingestion, cancelled)).Counts);
            SubmissionReport correction = await Send(ingestion, Message("260415000^Not detected^SCT", "C"));
            Assert.Equal((new ReportCounts(0, 0, 0, 1), 3), (correction.Counts, correction.Items.Single().Version));
            Assert.Equal(3, log.OrderedCount);
        }
    }

    [Fact]
    public void Lab_API_keys_are_stored_hashed_and_found_by_key()
    {
        using var dir = new TempDir();
        using StateStore store = StateStore.Open(dir.Path);
        string key = store.AddLab("990000001", "Demo", ["SIDEP-DEMO"], ["127.0.0.1"]);
        Assert.Equal("990000001", store.FindLabByApiKey(key)!.Finess);
        byte[] db = File.ReadAllBytes(Path.Combine(dir.Path, "sidep.db"));
        Assert.DoesNotContain(key, Encoding.ASCII.GetString(db));
    }
}
