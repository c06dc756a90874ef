using System.Buffers;
using System.Text;
using Sidep.Domain;
using Sidep.Ingestion;
using Sidep.Journal;
using Sidep.Pipeline;
using Sidep.Storage.Sqlite;

using Sidep.Tests;

namespace Sidep.Ingestion.Tests;

public class QuarantineTests
{
    private static readonly Lab s_lab = new("750000001", "Labo", ["LABO"], []);

    /// <summary>An HPRIM Santé file: one patient per accession, result code SCOV (local), value as given.</summary>
    private static ReadOnlySequence<byte> Hprim(params (string Accession, string Value)[] results)
    {
        var sb = new StringBuilder("H|~^\\&|F.HPR||LABO~LABO DEMO||ORU|||SIDEP~ANS||P|H2.2~C|202201101200\r\n");
        foreach ((string accession, string value) in results)
        {
            sb.Append($"P|1|{accession}P|||DURAND~PAUL||19700101|M\r\n")
              .Append($"OBR|1|{accession}~||SCOV~SARS-CoV-2~L|R||202201100815\r\n")
              .Append($"OBX|1|CE|SCOV~SARS-CoV-2 PCR~L||{value}|||N|||F\r\n");
        }
        sb.Append("L|1\r\n");
        return new ReadOnlySequence<byte>(Encoding.Latin1.GetBytes(sb.ToString()));
    }

    private static Task<SubmissionOutcome> Submit(IngestionService ingestion, ReadOnlySequence<byte> body) =>
        ingestion.SubmitAsync(s_lab, body, Formats.Hprim, "test", dryRun: false);

    private static readonly TranscodingRow s_scov = new("SCOV", "94500-6", "SARS-CoV-2 PCR");

    [Fact]
    public async Task An_unmapped_local_code_is_accepted_pending_mapping_and_not_counted()
    {
        using var dir = new TempDir();
        await using EmbeddedLog log = EmbeddedLog.Open(dir.Path, 4);
        var ingestion = new IngestionService(log);
        SubmissionReport report = (await Submit(ingestion, Hprim(("A1", "POS~Positif")))).Report;
        Assert.Equal(new ReportCounts(0, 0, 0, 0, 1), report.Counts);
        ItemReport item = Assert.Single(report.Items);
        Assert.Equal(ItemStatus.Quarantined, item.Status);
        Assert.Contains(item.Problems, p => p.Code == "NoLoinc" && p.Severity == "warning" && p.Message.Contains("/v1/labs/750000001/transcoding"));
        Assert.Equal(0, Enumerable.Range(0, 4).Sum(p => log.EndOffset(p))); // nothing on the result partitions
        QuarantineSummary q = Assert.Single(ingestion.QuarantineOf("750000001"));
        Assert.Equal(("SCOV", "SARS-CoV-2 PCR", 1), (q.LocalCode, q.Label, q.Count));
        Assert.Equal("A1", q.Examples[0].AccessionId);
    }

    [Fact]
    public async Task Adding_the_mapping_replays_the_quarantine_once_in_order_and_nothing_is_lost_or_doubled()
    {
        using var dir = new TempDir();
        await using (EmbeddedLog log = EmbeddedLog.Open(Path.Combine(dir.Path, "log"), 4))
        {
            var ingestion = new IngestionService(log);
            await Submit(ingestion, Hprim(("A1", "POS~Positif"), ("A2", "NEG~Négatif")));
            // A correction of A1 arrives while it still waits: it waits behind it.
            await Submit(ingestion, Hprim(("A1", "NEG~Négatif")));
            Assert.Equal(3, ingestion.QuarantineOf(null).Sum(q => q.Count));
        }
        // A restart keeps the quarantine.
        await using (EmbeddedLog log = EmbeddedLog.Open(Path.Combine(dir.Path, "log"), 4))
        using (StateStore store = StateStore.Open(dir.Path))
        {
            var ingestion = new IngestionService(log);
            Assert.Equal(3, ingestion.QuarantineOf(null).Sum(q => q.Count));
            Assert.Equal(3, await ingestion.MapAndReplayAsync("750000001", [s_scov]));
            Assert.Empty(ingestion.QuarantineOf(null));
            Assert.Equal(0, await ingestion.MapAndReplayAsync("750000001", [s_scov])); // once only
            List<JournalResults.Latest> rows = JournalResults.Of(log);
            Assert.Equal(2, rows.Count);
            JournalResults.Latest a1 = rows.Single(r => r.AccessionId == "A1");
            // In order: the positive first (version 1), then its correction (version 2) — the latest wins.
            Assert.Equal((2, "Negative", "94500-6"), (a1.Version, a1.Interpretation, a1.Loinc));
            Assert.Equal(("Negative", "94500-6"), (rows.Single(r => r.AccessionId == "A2").Interpretation, rows.Single(r => r.AccessionId == "A2").Loinc));
            // The same files sent again are now mapped on arrival and are duplicates of the replayed results.
            SubmissionReport again = (await Submit(ingestion, Hprim(("A2", "NEG~Négatif")))).Report;
            Assert.Equal(new ReportCounts(0, 0, 1, 0, 0), again.Counts);
        }
        // A restart after the replay neither replays again nor forgets.
        await using (EmbeddedLog log = EmbeddedLog.Open(Path.Combine(dir.Path, "log"), 4))
        {
            var ingestion = new IngestionService(log);
            Assert.Empty(ingestion.QuarantineOf(null));
            Assert.Equal(3, Enumerable.Range(0, 4).Sum(p => log.EndOffset(p))); // v1 A1, v1 A2, v2 A1
        }
    }

    [Fact]
    public async Task Resending_a_quarantined_result_is_a_duplicate_and_waits_once()
    {
        using var dir = new TempDir();
        await using EmbeddedLog log = EmbeddedLog.Open(dir.Path, 4);
        var ingestion = new IngestionService(log);
        await Submit(ingestion, Hprim(("A1", "POS~Positif")));
        SubmissionReport again = (await Submit(ingestion, Hprim(("A1", "POS~Positif")))).Report;
        Assert.Equal(new ReportCounts(0, 0, 1, 0, 0), again.Counts);
        Assert.Equal(1, ingestion.QuarantineOf(null).Single().Count);
    }

    [Fact]
    public async Task A_mapped_code_is_coded_to_LOINC_on_arrival()
    {
        using var dir = new TempDir();
        await using EmbeddedLog log = EmbeddedLog.Open(dir.Path, 4);
        var terminology = Terminology.CreateNational();
        terminology.Set("750000001", s_scov);
        var ingestion = new IngestionService(log, terminology: terminology);
        SubmissionReport report = (await Submit(ingestion, Hprim(("A1", "POS~Positif")))).Report;
        Assert.Equal(new ReportCounts(1, 0, 0, 0, 0), report.Counts);
        Assert.Equal("94500-6", report.Items[0].Loinc);
        Assert.Equal("positive", report.Items[0].Interpretation);
    }

    [Theory]
    [InlineData("DET~Détecté", "positive")]
    [InlineData("Ininterprétable", "indeterminate")]
    [InlineData("Non conforme", "unsatisfactory")]
    [InlineData("10828004~Positif~SCT", "positive")]
    public async Task Values_are_normalised_from_codes_and_French_text(string value, string expected)
    {
        using var dir = new TempDir();
        await using EmbeddedLog log = EmbeddedLog.Open(dir.Path, 4);
        var terminology = Terminology.CreateNational();
        terminology.Set("750000001", s_scov);
        SubmissionReport report = (await Submit(new IngestionService(log, terminology: terminology), Hprim(("A1", value)))).Report;
        Assert.Equal(expected, report.Items[0].Interpretation);
    }

    [Fact]
    public async Task An_unreadable_value_of_a_SARS_CoV_2_test_falls_back_to_the_flag_or_says_why()
    {
        using var dir = new TempDir();
        await using EmbeddedLog log = EmbeddedLog.Open(dir.Path, 4);
        var terminology = Terminology.CreateNational();
        terminology.Set("750000001", s_scov);
        var ingestion = new IngestionService(log, terminology: terminology);
        // "VOIR CR" is no result; the HPRIM flag N (normal) says negative.
        SubmissionReport flagged = (await Submit(ingestion, Hprim(("A1", "VOIR CR")))).Report;
        Assert.Equal("negative", flagged.Items[0].Interpretation);
        // Without a flag, a warning says what was expected.
        ReadOnlySequence<byte> noFlag = new(Encoding.Latin1.GetBytes(Encoding.Latin1.GetString(Hprim(("A2", "VOIR CR")).ToArray()).Replace("|||N|||F", "||||||F")));
        SubmissionReport unclear = (await Submit(ingestion, noFlag)).Report;
        Assert.Equal("notinterpreted", unclear.Items[0].Interpretation);
        ProblemReport why = unclear.Items[0].Problems.Single(p => p.Code == "UninterpretableValue");
        Assert.Contains("'VOIR CR'", why.Message);
        Assert.Contains("POSITIF", why.Message);
    }

    [Fact]
    public void Transcoding_tables_are_read_from_CSV_or_JSON_and_bad_rows_are_reported_with_their_line()
    {
        (List<TranscodingRow> rows, List<(int Line, string Problem)> problems) = Terminology.ParseTable(
            "local_code;loinc;label\nSCOV;94500-6;PCR SARS-CoV-2\nAGCOV;94558-4\nBAD;12345-6;wrong check digit\n;94500-6\n", json: false);
        Assert.Equal([new TranscodingRow("SCOV", "94500-6", "PCR SARS-CoV-2"), new TranscodingRow("AGCOV", "94558-4", null)], rows);
        Assert.Equal([4, 5], problems.Select(p => p.Line));
        (rows, problems) = Terminology.ParseTable("[{\"localCode\":\"SCOV\",\"loinc\":\"94500-6\"}]", json: true);
        Assert.Equal("94500-6", Assert.Single(rows).Loinc);
        (rows, _) = Terminology.ParseTable("{\"SCOV\":\"94500-6\",\"AGCOV\":\"94558-4\"}", json: true);
        Assert.Equal(2, rows.Count);
        (_, problems) = Terminology.ParseTable("{not json", json: true);
        Assert.Single(problems);
    }

    [Fact]
    public void The_national_value_set_is_shipped_with_Sidep()
    {
        Terminology t = Terminology.CreateNational();
        // The 26 national codes, and the 36 LIVD codes that are a qualitative SARS-CoV-2 result; 87 more LIVD codes are
        // known and not counted, each with why.
        Assert.Equal(26 + 36, t.ValueSet.Count);
        Assert.Equal(87, t.NotCounted.Count);
        Assert.Equal("RT-PCR/NAAT (probe)", t.ValueSet["94500-6"].Method);
        Assert.Contains("Serum, Plasma or Blood", t.ValueSet["94507-1"].Display); // a quoted CSV field
    }

    [Theory]
    [InlineData("94660-8", "Pcr", null)]          // SARS-CoV-2 RNA [Presence] in serum or plasma: a test, counted
    [InlineData("97097-0", "Antigen", null)]      // SARS-CoV-2 Ag [Presence], rapid immunoassay
    [InlineData("94745-7", "Other", "cycle threshold")] // a Ct value: a detail of a test, not a test
    [InlineData("95941-1", "Other", "multiplex")] // influenza A/B + SARS-CoV-2 + RSV panel
    [InlineData("94315-9", "Other", "SARS-related")] // pan-sarbecovirus E gene
    [InlineData("94547-7", "Serology", null)]     // national value set: antibodies, never counted
    public void LIVD_codes_count_when_they_are_a_qualitative_SARS_CoV_2_result_and_say_why_not_otherwise(string loinc, string kind, string? why)
    {
        Terminology t = Terminology.CreateNational();
        Assert.Equal(kind, t.KindOf(loinc).ToString());
        if (why is null)
        {
            Assert.False(t.NotCounted.ContainsKey(loinc));
        }
        else
        {
            Assert.Contains(why, t.NotCounted[loinc]);
        }
    }

    [Fact]
    public async Task A_multiplex_result_is_stored_and_the_lab_is_told_why_it_does_not_count()
    {
        using var dir = new TempDir();
        await using EmbeddedLog log = EmbeddedLog.Open(dir.Path, 4);
        var ingestion = new IngestionService(log);
        SubmissionReport report = (await ingestion.SubmitAsync(new Lab("750000001", "Labo", ["LABO"], []), Oru("MUX1", "95941-1"), "hl7v2", "test", false)).Report;
        ItemReport item = Assert.Single(report.Items);
        Assert.Equal(ItemStatus.Accepted, item.Status);
        ProblemReport warning = Assert.Single(item.Problems, p => p.Code == "InvalidField");
        Assert.Contains("does not count in the indicators — a multiplex code", warning.Message);
    }

    /// <summary>An HL7 v2 ORU^R01 whose OBX-3 is coded LN with the given code.</summary>
    private static ReadOnlySequence<byte> Oru(string accession, string loinc) => new(Encoding.ASCII.GetBytes(
        "MSH|^~\\&|APP|LABO^750000001|SIDEP|ANS|20260112093000+0100||ORU^R01^ORU_R01|M1|P|2.5\r" +
        "PID|1||42^^^LAB^PI||DURAND^PAUL||19700101|M\r" +
        $"OBR|1||{accession}|{loinc}^SARS-CoV-2^LN|||20260112081500+0100\r" +
        $"OBX|1|CWE|{loinc}^SARS-CoV-2^LN||260373001^Detected^SCT||||||F\r"));

    [Fact]
    public async Task A_LOINC_with_a_wrong_check_digit_is_not_counted_silently_it_waits_for_a_mapping_saying_which_digit_is_expected()
    {
        using var dir = new TempDir();
        await using EmbeddedLog log = EmbeddedLog.Open(dir.Path, 4);
        var ingestion = new IngestionService(log);
        SubmissionReport report = (await ingestion.SubmitAsync(s_lab, Oru("T1", "94500-7"), Formats.Hl7v2, "test", dryRun: false)).Report;
        ItemReport item = Assert.Single(report.Items);
        Assert.Equal(ItemStatus.Quarantined, item.Status);
        Assert.Contains(item.Problems, p => p.Severity == "warning" && p.Message.Contains("check digit is wrong", StringComparison.Ordinal)
            && p.Message.Contains("94500-6", StringComparison.Ordinal));
        Assert.Equal(("94500-7", 1), (Assert.Single(ingestion.QuarantineOf("750000001")).LocalCode, ingestion.QuarantineOf("750000001")[0].Count));

        // The lab (or the operator) maps the mistyped code: the result is replayed and counts.
        Assert.Equal(1, await ingestion.MapAndReplayAsync("750000001", [new TranscodingRow("94500-7", "94500-6", "typo")]));
        Assert.Equal(1, Enumerable.Range(0, 4).Sum(p => log.EndOffset(p)));
    }

    [Fact]
    public async Task A_valid_LOINC_outside_the_SARS_CoV_2_value_set_is_accepted_and_says_it_does_not_count()
    {
        using var dir = new TempDir();
        await using EmbeddedLog log = EmbeddedLog.Open(dir.Path, 4);
        var ingestion = new IngestionService(log);
        SubmissionReport report = (await ingestion.SubmitAsync(s_lab, Oru("T2", "2345-7"), Formats.Hl7v2, "test", dryRun: false)).Report; // glucose
        ItemReport item = Assert.Single(report.Items);
        Assert.Equal(ItemStatus.Accepted, item.Status);
        Assert.Contains(item.Problems, p => p.Severity == "warning" && p.Message.Contains("does not count in the indicators", StringComparison.Ordinal));
    }
}
