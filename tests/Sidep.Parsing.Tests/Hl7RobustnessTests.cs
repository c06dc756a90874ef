using System.Buffers;
using System.Text;
using System.Text.Json;
using Sidep.Domain;
using Sidep.Parsing;
using Sidep.Parsing.Hl7v2;
using Sidep.Tests;

namespace Sidep.Parsing.Tests;

public class Hl7RobustnessTests
{
    private const string Msh = "MSH|^~\\&|APP|LAB^750000001^FINESS|SIDEP|ANS|20260112093000+0100||ORU^R01^ORU_R01|{0}|P|2.5";
    private const string Body = "PID|1||42^^^LAB^PI||DURAND^PAUL||19700101|M\rOBR|1||ACC{0}|94500-6^SARS-CoV-2^LN|||20260112081500+0100\rOBX|1|CWE|94500-6^SARS-CoV-2^LN||260415000^Not detected^SCT||||||F";

    private static string Message(int n) => string.Format(Msh, "M" + n) + "\r" + string.Format(Body, n) + "\r";

    private static ParsedSubmission Parse(string text) => new Hl7v2Parser().Parse(Encoding.UTF8.GetBytes(text));

    private static ParsedSubmission Parse(byte[] bytes) => new Hl7v2Parser().Parse(bytes);

    [Theory]
    [InlineData("20260113100000+0100", "", "ResultReported", "2026-01-13", "OBR-22, 2026-01-13")]
    [InlineData("20260113100000+0100", "20260112200000+0100", "ResultReported", "2026-01-12", "OBX-19, 2026-01-12")]
    [InlineData("", "", "Receipt", null, "the day Sidep received it")]
    public void Without_a_collection_date_the_result_counts_on_the_documented_fallback_and_the_lab_is_told_which(string obr22, string obx19, string basis, string? day, string told)
    {
        string text = string.Format(Msh, "M1") + "\rPID|1||42^^^LAB^PI||DURAND^PAUL||19700101|M\r" +
            "OBR|1||ACC1|94500-6^SARS-CoV-2^LN" + new string('|', 18) + obr22 + "\r" +
            "OBX|1|CWE|94500-6^SARS-CoV-2^LN||260415000^Not detected^SCT||||||F" + new string('|', 8) + obx19 + "\r";
        ParsedItem item = Assert.Single(Assert.Single(Parse(text).Messages).Items);
        LabResult r = Assert.IsType<LabResult>(item.Result);
        Assert.Equal(Enum.Parse<SampleDateBasis>(basis), r.SampleDateBasis);
        Assert.Equal(day, r.SampledAt?.Date.ToString("yyyy-MM-dd", System.Globalization.CultureInfo.InvariantCulture));
        Diagnostic warning = Assert.Single(item.Diagnostics, d => d.Message.StartsWith("no specimen collection date", StringComparison.Ordinal));
        Assert.Equal((Severity.Warning, "OBR", 7), (warning.Severity, warning.Position.Segment, warning.Position.Field));
        Assert.Contains(told, warning.Message);
    }

    [Fact]
    public void Empty_body_is_reported_as_empty()
    {
        Assert.Equal(DiagnosticCode.EmptyInput, Assert.Single(Parse("").Diagnostics).Code);
        Assert.Equal(DiagnosticCode.EmptyInput, Assert.Single(Parse(" \r\n\r\n").Diagnostics).Code);
    }

    [Fact]
    public void Non_HL7_bytes_are_reported_with_line_and_offset_without_echoing_them()
    {
        ParsedSubmission s = Parse("{\"resourceType\":\"Bundle\",\"secret\":\"DUPONT\"}\nsecond line");
        Assert.Empty(s.Messages);
        Assert.Equal(2, s.Diagnostics.Count);
        Assert.All(s.Diagnostics, d => Assert.Equal(DiagnosticCode.NotHl7, d.Code));
        Assert.Equal(new SourcePosition("?", 2, 0, 0, 44), s.Diagnostics[1].Position);
        Assert.DoesNotContain("DUPONT", s.Diagnostics[0].Message);
    }

    [Fact]
    public void Segments_before_any_MSH_are_reported_and_the_following_message_still_parses()
    {
        ParsedSubmission s = Parse("PID|1||42\r" + Message(1));
        Diagnostic d = Assert.Single(s.Diagnostics);
        Assert.Equal(DiagnosticCode.MissingMsh, d.Code);
        Assert.Equal("PID", d.Position.Segment);
        Assert.False(Assert.Single(s.Messages).IsRejected);
    }

    [Fact]
    public void Truncated_batch_without_its_trailer_rejects_the_last_message_as_cut()
    {
        string text = "FHS|^~\\&\rBHS|^~\\&\r" + Message(1) + Message(2)[..^40];
        ParsedSubmission s = Parse(text);
        Assert.Equal(2, s.Messages.Count);
        Assert.False(s.Messages[0].IsRejected);
        Assert.Contains(s.Messages[1].Diagnostics, d => d.Code == DiagnosticCode.TruncatedMessage);
    }

    [Fact]
    public void Message_cut_before_its_first_OBX_is_refused_as_truncated()
    {
        ParsedMessage m = Assert.Single(Parse(Message(1)[..^90]).Messages);
        Assert.Contains(m.Diagnostics, d => d.Code == DiagnosticCode.TruncatedMessage && d.Position.Line == 1);
    }

    [Theory]
    [InlineData("MSH|^^\\&|")]
    [InlineData("MSH|^~|")]
    [InlineData("MSH|A~\\&|")]
    [InlineData("MSH|^~\\&#$|")]
    public void Unknown_or_repeated_delimiters_refuse_the_message_at_MSH_2(string header)
    {
        ParsedMessage m = Assert.Single(Parse(header + "APP|LAB\rPID|1\r").Messages);
        Diagnostic d = Assert.Single(m.Diagnostics);
        Assert.Equal(DiagnosticCode.BadDelimiters, d.Code);
        Assert.Equal(2, d.Position.Field);
    }

    [Fact]
    public void Other_delimiters_declared_in_MSH_are_honoured_including_the_five_character_form()
    {
        string text = Message(1).Replace('|', '#').Replace("MSH#^~\\&#", "MSH#^~\\&!#");
        // '!' is the v2.7 truncation character; '#' the field separator.
        ParsedMessage m = Assert.Single(Parse(text).Messages);
        Assert.False(m.IsRejected, string.Join("; ", m.Diagnostics));
        Assert.Equal(Interpretation.Negative, Assert.Single(m.Items).Result!.Value.Interpretation);
    }

    [Fact]
    public void A_one_megabyte_segment_is_rejected_with_its_position_and_the_batch_goes_on()
    {
        string big = "NTE|1||" + new string('x', 1024 * 1024);
        string text = Message(1) + string.Format(Msh, "M2") + "\r" + big + "\r" + string.Format(Body, 2) + "\r" + Message(3);
        ParsedSubmission s = Parse(text);
        Assert.Equal(3, s.Messages.Count);
        Diagnostic d = Assert.Single(s.Messages[1].Diagnostics);
        Assert.Equal(DiagnosticCode.SegmentTooLong, d.Code);
        Assert.Equal(6, d.Position.Line);
        Assert.False(s.Messages[0].IsRejected);
        Assert.False(s.Messages[2].IsRejected);
    }

    [Fact]
    public void Ten_thousand_segments_in_one_message_are_refused_past_the_limit()
    {
        var sb = new StringBuilder(Message(1));
        for (int i = 0; i < 10_000; i++)
        {
            sb.Append("NTE|").Append(i).Append("||comment\r");
        }
        ParsedMessage m = Assert.Single(Parse(sb.ToString()).Messages);
        Diagnostic d = Assert.Single(m.Diagnostics);
        Assert.Equal(DiagnosticCode.TooManySegments, d.Code);
        Assert.Equal(5_001, d.Position.Line);
    }

    [Fact]
    public void Ten_thousand_segments_across_a_batch_are_all_read()
    {
        var sb = new StringBuilder();
        for (int i = 0; i < 2_500; i++)
        {
            sb.Append(Message(i));
        }
        ParsedSubmission s = Parse(sb.ToString());
        Assert.Equal(2_500, s.Messages.Count);
        Assert.All(s.Messages, m => Assert.False(m.Items[0].IsRejected));
    }

    [Fact]
    public void Invalid_UTF8_is_reported_with_its_offset_and_the_text_still_read()
    {
        byte[] bytes = Encoding.UTF8.GetBytes(Message(1).Replace("DURAND", "DUR\u00C9ND").Replace("2.5", "2.5|||||FRA|UNICODE UTF-8"));
        int at = Array.IndexOf(bytes, (byte)0xC3);
        bytes[at] = 0xFF; // broken lead byte
        ParsedMessage m = Assert.Single(Parse(bytes).Messages);
        Diagnostic d = Assert.Single(m.Diagnostics);
        Assert.Equal(DiagnosticCode.InvalidEncoding, d.Code);
        Assert.Equal(Severity.Warning, d.Severity);
        Assert.Equal(at, d.Position.ByteOffset);
        Assert.Contains('\uFFFD', m.Items[0].Result!.Patient.BirthName!);
    }

    [Fact]
    public void Undeclared_non_UTF8_text_is_read_as_ISO_8859_1_with_a_warning()
    {
        byte[] bytes = Encoding.Latin1.GetBytes(Message(1).Replace("DURAND", "H\u00C9LO\u00CFSE"));
        ParsedMessage m = Assert.Single(Parse(bytes).Messages);
        Assert.Equal(DiagnosticCode.InvalidEncoding, Assert.Single(m.Diagnostics).Code);
        Assert.Equal("H\u00C9LO\u00CFSE", m.Items[0].Result!.Patient.BirthName);
    }

    [Fact]
    public void ISO_8859_15_declared_in_MSH_18_decodes_the_euro_sign_and_oe_ligature()
    {
        byte[] bytes = Encoding.Latin1.GetBytes(Message(1).Replace("2.5", "2.5|||||FRA|8859/15").Replace("DURAND", "C\u00BDUR\u00A4"));
        ParsedMessage m = Assert.Single(Parse(bytes).Messages);
        Assert.Empty(m.Diagnostics);
        Assert.Equal("C\u0153UR\u20AC", m.Items[0].Result!.Patient.BirthName);
    }

    [Fact]
    public void UTF8_bytes_under_an_ISO_8859_1_declaration_are_read_as_UTF8_and_the_mismatch_is_said_at_MSH_18()
    {
        string text = Message(1).Replace("2.5", "2.5|||||FRA|8859/1").Replace("DURAND", "LEF\u00C8VRE");
        ParsedMessage m = Assert.Single(Parse(Encoding.UTF8.GetBytes(text)).Messages);
        Diagnostic mismatch = Assert.Single(m.Diagnostics);
        Assert.Equal((DiagnosticCode.InvalidEncoding, Severity.Warning, "MSH", 18, "8859/1"), (mismatch.Code, mismatch.Severity, mismatch.Position.Segment, mismatch.Position.Field, mismatch.Found));
        Assert.Equal("LEF\u00C8VRE", m.Items[0].Result!.Patient.BirthName);

        // The same name in ISO-8859-1 bytes, as declared: read as declared, nothing to say.
        ParsedMessage latin = Assert.Single(Parse(Encoding.Latin1.GetBytes(text)).Messages);
        Assert.Empty(latin.Diagnostics);
        Assert.Equal("LEF\u00C8VRE", latin.Items[0].Result!.Patient.BirthName);
    }

    [Fact]
    public void All_escape_sequences_are_decoded()
    {
        string text = Message(1).Replace("Not detected", "a\\F\\b\\S\\c\\T\\d\\R\\e\\E\\f\\X4F4B\\g\\.br\\h\\H\\i\\N\\j");
        ParsedMessage m = Assert.Single(Parse(text).Messages);
        Assert.Equal("a|b^c&d~e\\fOKg\nhij", m.Items[0].Result!.Value.Raw);
    }

    [Theory]
    [InlineData("a\\\\b", "a\\\\b")]
    [InlineData("a\\Xzz\\b", "a\\Xzz\\b")]
    [InlineData("a\\Q\\b", "a\\Q\\b")]
    [InlineData("end\\", "end\\")]
    public void Empty_unknown_or_unterminated_escapes_are_kept_as_sent(string sent, string expected)
    {
        ParsedMessage m = Assert.Single(Parse(Message(1).Replace("Not detected", sent)).Messages);
        Assert.Equal(expected, m.Items[0].Result!.Value.Raw);
    }

    [Fact]
    public void Batch_of_twenty_with_one_broken_message_accepts_nineteen_and_positions_the_broken_one()
    {
        var sb = new StringBuilder("FHS|^~\\&\rBHS|^~\\&\r");
        for (int i = 0; i < 20; i++)
        {
            sb.Append(i == 13 ? Message(i).Replace("|||20260112081500+0100", "|||2026-13-45") : Message(i));
        }
        sb.Append("BTS|20\rFTS|1\r");
        ParsedSubmission s = Parse(sb.ToString());
        Assert.Empty(s.Diagnostics);
        Assert.Equal(20, s.Messages.Count);
        Assert.Equal(19, s.Messages.Count(m => !m.Items[0].IsRejected));
        ParsedItem broken = s.Messages[13].Items[0];
        Diagnostic d = broken.Diagnostics.Single(x => x.Severity == Severity.Error);
        Assert.Equal(DiagnosticCode.InvalidDate, d.Code);
        Assert.Equal(new SourcePosition("OBR", 3 + 13 * 4 + 2, 7, 0, d.Position.ByteOffset), d.Position);
        string text = sb.ToString();
        Assert.Equal("2026-13-45", text.Substring((int)d.Position.ByteOffset, 10));
    }

    [Theory]
    [InlineData("\r")]
    [InlineData("\n")]
    [InlineData("\r\n")]
    public void CR_LF_and_CRLF_segment_ends_give_the_same_results(string end)
    {
        string text = (Message(1) + Message(2)).Replace("\r", end);
        ParsedSubmission s = Parse(text);
        Assert.Equal(2, s.Messages.Count);
        // Same results; only byte offsets move with the length of the line ends.
        Assert.Equal(ResultsOnly(Parse(Message(1) + Message(2))), ResultsOnly(s));
        Assert.Equal([4, 8], s.Messages.SelectMany(m => m.Items).Select(i => i.Position.Line).ToArray());
    }

    [Fact]
    public void Production_mode_refuses_test_INS_and_accepts_a_valid_NIR()
    {
        string withTest = Message(1).Replace("42^^^LAB^PI", "185057800608491^^^ASIP-SANTE-INS-NIR&1.2.250.1.213.1.4.10&ISO^INS");
        Assert.Contains(DiagnosticCode.TestIdentityInProduction,
            new Hl7v2Parser(new Hl7ParserOptions { Production = true }).Parse(Encoding.UTF8.GetBytes(withTest)).Messages[0].Items[0].Diagnostics.Select(d => d.Code));
        ParsedItem demo = Parse(withTest).Messages[0].Items[0];
        Assert.False(demo.IsRejected);
        Assert.Equal(new Ins("185057800608491", InsNumber.TestOid, InsKind.Test), demo.Result!.Patient.Ins);
        string nir = Message(1).Replace("42^^^LAB^PI", "185057800608491^^^ASIP-SANTE-INS-NIR&1.2.250.1.213.1.4.8&ISO^INS") + "";
        nir = nir.Replace("19700101|M", "19700101|M" + new string('|', 24) + "VALI");
        LabResult r = Parse(nir).Messages[0].Items[0].Result!;
        Assert.Equal(InsKind.Nir, r.Patient.Ins!.Kind);
        Assert.Equal(IdentityStatus.Validated, r.Patient.IdentityStatus);
    }

    public static TheoryData<string> SplitFiles() =>
    [
        "reportstream__batch_message_FHS-BHS_LF.hl7",
        "reportstream__hci_escape-T-X0d0a.hl7",
        "ans__CISIS_ORU_R01_v1.2_CR-bio_INS-NIR-oid-1.4.8.hl7",
        "reportstream__FLFHospital-SARSCOV2-20200317-0001.hl7",
    ];

    [Theory]
    [MemberData(nameof(SplitFiles))]
    public void Input_split_at_every_byte_offset_parses_exactly_as_the_whole(string file)
    {
        byte[] bytes = Fixtures.Hl7Bytes(file);
        var parser = new Hl7v2Parser();
        string expected = Results(parser.Parse(bytes));
        for (int i = 1; i < bytes.Length; i++)
        {
            ReadOnlySequence<byte> split = BufferFactory.Split(bytes, i);
            Assert.Equal(expected, Results(parser.Parse(split)));
        }
        Assert.Equal(expected, Results(parser.Parse(BufferFactory.OneBytePerSegment(bytes))));
    }

    [Fact]
    public void A_message_behind_a_UTF8_byte_order_mark_is_read_as_without_it_contiguous_or_segmented()
    {
        byte[] plain = Encoding.UTF8.GetBytes(Message(1) + Message(2));
        byte[] marked = [0xEF, 0xBB, 0xBF, .. plain];
        Assert.Equal(2, Parse(plain).Messages.Count);
        Assert.Equal(ResultsOnly(Parse(plain)), ResultsOnly(Parse(marked)));
        // Positions are the file's own bytes, the mark included, read whole or a byte at a time.
        Assert.Equal(3, Parse(marked).Messages[0].Position.ByteOffset);
        Assert.Equal(Results(Parse(marked)), Results(new Hl7v2Parser().Parse(BufferFactory.OneBytePerSegment(marked))));
    }

    private static string ResultsOnly(ParsedSubmission s) =>
        JsonSerializer.Serialize(s.Messages.SelectMany(m => m.Items).Select(i => new { i.Result, diagnostics = i.Diagnostics.Select(d => d.Code) }));

    private static string Results(ParsedSubmission s) => JsonSerializer.Serialize(new
    {
        submission = s.Diagnostics.Select(d => d.ToString()),
        messages = s.Messages.Select(m => new
        {
            m.ControlId,
            m.Position,
            diagnostics = m.Diagnostics.Select(d => d.ToString()),
            items = m.Items.Select(i => new { i.Position, i.Result, diagnostics = i.Diagnostics.Select(d => d.ToString()) }),
        }),
    });
}
