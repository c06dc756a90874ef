using System.Buffers;
using System.Text;
using System.Text.Json;
using Sidep.Domain;
using Sidep.Parsing.Hprim;
using Sidep.Tests;

namespace Sidep.Parsing.Tests;

public class HprimTests
{
    private static ParsedSubmission Parse(byte[] bytes) => new HprimParser().Parse(bytes);

    private static ParsedSubmission Parse(string text, Encoding? encoding = null) => Parse((encoding ?? Encoding.Latin1).GetBytes(text));

    private static Timestamp Paris(int y, int mo, int d, int h, int mi, TimestampPrecision p = TimestampPrecision.Minute)
    {
        var clock = new DateTime(y, mo, d, h, mi, 0);
        return new Timestamp(new DateTimeOffset(clock, DateTimeText.AssumedZone.GetUtcOffset(clock)), p, false);
    }


    [Fact]
    public void An_HPRIM_file_behind_a_UTF8_byte_order_mark_is_read_as_without_it()
    {
        byte[] plain = Fixtures.HprimBytes("libHprim__HPRIMSParserTest_H2.1_ORU_with-A-continuation_CRLF.hpr");
        ParsedSubmission without = new HprimParser().Parse(plain), with = new HprimParser().Parse([0xEF, 0xBB, 0xBF, .. plain]);
        Assert.NotEmpty(without.Messages.SelectMany(x => x.Items));
        Assert.Equal(without.Messages.SelectMany(x => x.Items).Select(i => i.Result?.AccessionId),
            with.Messages.SelectMany(x => x.Items).Select(i => i.Result?.AccessionId));
        Assert.DoesNotContain(with.Diagnostics.Concat(with.Messages.SelectMany(x => x.Diagnostics)), d => d.Severity == Severity.Error);
    }

    [Fact]
    public void HPRIM_Sante_2_1_with_an_A_continuation_splitting_the_prescriber_field()
    {
        ParsedMessage m = Assert.Single(Parse(Fixtures.HprimBytes("libHprim__HPRIMSParserTest_H2.1_ORU_with-A-continuation_CRLF.hpr")).Messages);
        Assert.Equal("Test1.HPR", m.ControlId);
        Assert.Equal(["PO", "LABM"], m.SenderIds);
        Assert.Equal("H2.1", m.Version);
        Assert.Equal(3, m.Items.Count);
        LabResult tgo = m.Items[0].Result!;
        Assert.Equal("PO", tgo.LabId);
        Assert.Equal("idechantillo", tgo.AccessionId);
        Assert.Equal(new CodedValue("OT1", "TGO ADVIA", "L"), tgo.AnalysisAsSent);
        Assert.Null(tgo.Loinc); // HPRIM carries local codes: terminology maps them
        Assert.Equal(new ResultValue(Interpretation.NotInterpreted, "16"), tgo.Value);
        Assert.Equal("UI/l", tgo.Units);
        Assert.Equal("N", tgo.AbnormalFlag);
        Assert.Equal(ResultStatus.Final, tgo.Status);
        Assert.Equal(Paris(2012, 4, 28, 14, 12), tgo.SampledAt);
        Assert.Equal(Paris(2012, 4, 28, 14, 38), tgo.ResultedAt);
        Assert.Equal("PIT", tgo.Patient.BirthName);
        Assert.Equal("GAULLE", tgo.Patient.UsedName);
        Assert.Equal(["MARECHAL"], tgo.Patient.GivenNames);
        Assert.Equal(new PartialDate(1937, 3, 25), tgo.Patient.BirthDate);
        Assert.Equal(Sex.Female, tgo.Patient.Sex);
        Assert.Equal("398", tgo.Patient.LocalId);
        Assert.Equal(new Address("28 RUE DE LA PAIX", "PARIS", "75000", null, null), tgo.Patient.Address);
        // OBR.17 "PILO~DR PITO OLIV~L~TESTHP~Cliniq" continues on the A line with "ue HP~L".
        Assert.Equal(new Prescriber("PILO", null, "DR PITO OLIV", null), tgo.Prescriber);
        Assert.Equal("Anemie macrocytaire", tgo.Comment);
        LabResult ht = m.Items[1].Result!;
        Assert.Equal(new CodedValue("HT", "Hematocrite", "L"), ht.AnalysisAsSent);
        Assert.Equal("38.2", ht.Value.Raw);
        Assert.Equal("%", ht.Units);
        // A file reference (FIC) is not a result: ignored, and said so (not an error).
        Assert.True(m.Items[2].IsNotAResult);
        Diagnostic fic = m.Items[2].Diagnostics.Single(d => d.Severity == Severity.Information);
        Assert.Equal(DiagnosticCode.NotAResult, fic.Code);
        Assert.Equal(new SourcePosition("OBX", 8, 3, 0, 654), fic.Position);
        Assert.DoesNotContain(m.Diagnostics, d => d.Code == DiagnosticCode.MissingTrailer);
    }

    [Fact]
    public void HPRIM_Sante_2_2_with_CR_ends_repetitions_and_sub_components()
    {
        ParsedMessage m = Assert.Single(Parse(Fixtures.HprimBytes("libHprim__SimpleExample_H2.2_repetition-subcomponent_CR.hpr")).Messages);
        Assert.Equal(["code", "labo"], m.SenderIds);
        LabResult r = Assert.Single(m.Items).Result!;
        Assert.Equal("227dc251e1", r.AccessionId);
        Assert.Equal(new CodedValue("GR", "HEMATIES x1 000 000", "L"), r.AnalysisAsSent);
        Assert.Equal("3.98", r.Value.Raw);
        Assert.Equal("/mm3", r.Units);
        Assert.Equal("L", r.AbnormalFlag);
        Assert.Equal(Paris(2007, 5, 28, 17, 59), r.SampledAt);
        Assert.Equal("NOM", r.Patient.BirthName);
        Assert.Equal(["PRENOM", "AUTRE"], r.Patient.GivenNames);
        Assert.Equal(new PartialDate(1979, 1, 1), r.Patient.BirthDate);
        Assert.Equal(new Prescriber("MAB", null, "DR MAB OUL", null), r.Prescriber);
        Assert.Equal("toto", r.Comment);
        // The file has no L record; it ends with a line end, so nothing was cut: a warning only.
        Diagnostic noL = Assert.Single(m.Diagnostics);
        Assert.Equal(DiagnosticCode.MissingTrailer, noL.Code);
        Assert.Equal(Severity.Warning, noL.Severity);
    }

    [Fact]
    public void HPRIM_Medecin_header_and_LAB_block_are_read_with_comments_and_a_positioned_rejection()
    {
        ParsedSubmission s = Parse(Fixtures.HprimBytes("freemedforms__tst_hprim_test1_HPRIM-Medecin_LAB-block_CRLF.hpr"));
        Assert.Empty(s.Diagnostics);
        ParsedMessage m = Assert.Single(s.Messages);
        Assert.Equal("506232", m.ControlId);
        Assert.Equal(["C LabFake"], m.SenderIds);
        Assert.Equal(2, m.Items.Count);
        LabResult ige = m.Items[0].Result!;
        Assert.Equal(new CodedValue("IGET 000", "I.G.E Totales", "L"), ige.AnalysisAsSent);
        Assert.Equal("506232", ige.AccessionId);
        Assert.Equal("164", ige.Value.Raw);
        Assert.Equal("UI/ml", ige.Units);
        Assert.Equal("N", ige.AbnormalFlag);
        Assert.Equal(ResultStatus.Final, ige.Status);
        Assert.Equal(Paris(2013, 5, 22, 0, 0, TimestampPrecision.Day), ige.SampledAt);
        Assert.Equal("0000129610", ige.Patient.LocalId);
        Assert.Equal("FAKENAME", ige.Patient.BirthName);
        Assert.Equal(["FAKEFIRSTNAME"], ige.Patient.GivenNames);
        Assert.Equal(new PartialDate(2009, 12, 18), ige.Patient.BirthDate);
        Assert.Equal(new Address("1A RUE DU FOUR, BAILLEUL SIRE BERTHOULT", "BAILLEUL SIRE BERTHOULT", "62580", null, null), ige.Patient.Address);
        Assert.Null(ige.Patient.Ins); // line 8 is the insured's NIR, not the patient's INS
        Assert.StartsWith("Valeurs normales :", ige.Comment);
        Assert.EndsWith("adultes     :   0 a 100 UI/ml", ige.Comment);
        Diagnostic empty = m.Items[1].Diagnostics.Single();
        Assert.Equal(DiagnosticCode.MissingField, empty.Code);
        Assert.Equal(new SourcePosition("RES", 35, 5, 0, 1233), empty.Position);
    }

    [Fact]
    public void A_bare_RES_TEX_fragment_in_UTF8_is_read_and_refused_for_want_of_a_patient_header()
    {
        ParsedSubmission s = Parse(Fixtures.HprimBytes("hprimtool__dev-tools_test-file_RES-TEX-fragment.hpr"));
        Assert.Contains(s.Diagnostics, d => d.Code == DiagnosticCode.InvalidEncoding && d.Message.Contains("UTF-8"));
        ParsedMessage m = Assert.Single(s.Messages);
        Assert.True(m.IsRejected);
        Assert.Equal(DiagnosticCode.MissingPatient, m.Diagnostics.First(d => d.Severity == Severity.Error).Code);
        Assert.Equal(3, m.Items.Count);
        Assert.Equal([1, 2, 3], m.Items.Select(i => i.Position.Line));
    }

    private const string H = "H|~^\\&|LABO.HPR||750000001~LABO DEMO||ORU|||SIDEP~ANS||P|H2.2~C|202201101200\r\n";

    private static string Patient(string name, string sex, string accession, string code, string value) =>
        $"P|1|{accession}P|||{name}||19800101|{sex}||1 RUE A~~LYON~~69003\r\n" +
        $"OBR|1|{accession}~||{code}~SARS-CoV-2~L|R||202201100815\r\n" +
        $"OBX|1|CE|{code}~SARS-CoV-2 PCR~L||{value}|||N|||F|||202201101000\r\n";

    [Theory]
    [InlineData("202201101000", "ResultReported", "2022-01-10", "OBX.15, 2022-01-10")]
    [InlineData("", "Receipt", null, "the day Sidep received it")]
    public void Without_a_sample_date_the_result_counts_on_the_documented_fallback_and_the_lab_is_told_which(string analysed, string basis, string? day, string told)
    {
        string text = H + Patient("DUPONT~JEAN", "M", "A1", "SCOV", "POS~Positif").Replace("|R||202201100815", "|R||").Replace("|F|||202201101000", "|F|||" + analysed) + "L|1\r\n";
        ParsedItem item = Assert.Single(Assert.Single(Parse(text).Messages).Items);
        LabResult r = Assert.IsType<LabResult>(item.Result);
        Assert.Equal(Enum.Parse<SampleDateBasis>(basis), r.SampleDateBasis);
        Assert.Equal(day, r.SampledAt?.Date.ToString("yyyy-MM-dd", System.Globalization.CultureInfo.InvariantCulture));
        Diagnostic warning = Assert.Single(item.Diagnostics, d => d.Message.StartsWith("OBR.8 (sample date)", StringComparison.Ordinal));
        Assert.Equal((Severity.Warning, 8), (warning.Severity, warning.Position.Field));
        Assert.Contains(told, warning.Message);
    }

    [Fact]
    public void Several_patients_and_requests_in_one_file_each_get_their_results()
    {
        string text = H + Patient("DUPONT~JEAN", "M", "A1", "SCOV", "POS~Positif") + Patient("MARTIN~ANNE", "F", "A2", "SCOV", "NEG~Négatif") + "L|1\r\n";
        ParsedMessage m = Assert.Single(Parse(text).Messages);
        Assert.Empty(m.Diagnostics);
        Assert.Equal(2, m.Items.Count);
        Assert.Equal(("DUPONT", "A1", Interpretation.Positive), (m.Items[0].Result!.Patient.BirthName, m.Items[0].Result!.AccessionId, m.Items[0].Result!.Value.Interpretation));
        Assert.Equal(("MARTIN", "A2", Interpretation.Negative), (m.Items[1].Result!.Patient.BirthName, m.Items[1].Result!.AccessionId, m.Items[1].Result!.Value.Interpretation));
    }

    [Fact]
    public void Latin1_accents_in_names_are_decoded()
    {
        string text = H + Patient("LEFÈVRE~HÉLOÏSE", "F", "A1", "SCOV", "NEG~Négatif") + "L|1\r\n";
        ParsedSubmission s = Parse(text, Encoding.Latin1);
        Assert.Empty(s.Diagnostics);
        LabResult r = s.Messages[0].Items[0].Result!;
        Assert.Equal("LEFÈVRE", r.Patient.BirthName);
        Assert.Equal(["HÉLOÏSE"], r.Patient.GivenNames);
        Assert.Equal("Négatif", r.Value.Raw);
    }

    [Theory]
    [InlineData("~^\\&", '~', '^')]
    [InlineData("^~\\&", '^', '~')]
    [InlineData("\\^&~", '\\', '^')]
    public void Each_delimiter_variant_declared_in_the_H_record_is_honoured(string declared, char component, char repetition)
    {
        string text = (H + Patient("DUPONT~JEAN", "M", "A1", "SCOV", "POS~Positif") + "L|1\r\n")
            .Replace('~', '\u0001').Replace('^', '\u0002')
            .Replace('\u0001', component).Replace('\u0002', repetition)
            .Replace("H|" + "~^\\&".Replace('~', component).Replace('^', repetition), "H|" + declared);
        if (declared == "\\^&~")
        {
            // escape '&', sub-component '~': no escape or sub-component in this file's values
            text = text.Replace("H|\\^\\&", "H|\\^&~");
        }
        ParsedMessage m = Assert.Single(Parse(text).Messages);
        Assert.False(m.IsRejected, string.Join("; ", m.Diagnostics));
        LabResult r = Assert.Single(m.Items).Result!;
        Assert.Equal("DUPONT", r.Patient.BirthName);
        Assert.Equal(["JEAN"], r.Patient.GivenNames);
        Assert.Equal(new CodedValue("SCOV", "SARS-CoV-2 PCR", "L"), r.AnalysisAsSent);
        Assert.Equal(Interpretation.Positive, r.Value.Interpretation);
    }

    [Fact]
    public void A_file_cut_inside_its_last_record_without_L_rejects_only_that_record()
    {
        string text = H + Patient("DUPONT~JEAN", "M", "A1", "SCOV", "POS~Positif") + Patient("MARTIN~ANNE", "F", "A2", "SCOV", "NEG~Négatif");
        text = text[..^20]; // cut inside the last OBX
        ParsedMessage m = Assert.Single(Parse(text).Messages);
        Assert.Contains(m.Diagnostics, d => d.Code == DiagnosticCode.MissingTrailer);
        Assert.False(m.Items[0].IsRejected);
        Assert.Contains(m.Items[1].Diagnostics, d => d.Code == DiagnosticCode.TruncatedMessage);
    }

    [Fact]
    public void A_garbage_line_in_the_middle_is_rejected_with_its_line_and_the_other_records_are_kept()
    {
        string text = H + Patient("DUPONT~JEAN", "M", "A1", "SCOV", "POS~Positif") + "§§ garbage ### 123\r\n" + Patient("MARTIN~ANNE", "F", "A2", "SCOV", "NEG~Négatif") + "L|1\r\n";
        ParsedSubmission s = Parse(text);
        Diagnostic garbage = Assert.Single(s.Diagnostics);
        Assert.Equal(DiagnosticCode.NotHprim, garbage.Code);
        Assert.Equal(5, garbage.Position.Line);
        Assert.Equal(2, s.Messages[0].Items.Count(i => !i.IsRejected));
    }

    [Fact]
    public void Records_longer_than_220_characters_and_continuations_of_any_length_are_accepted()
    {
        string comment = new string('x', 300);
        string text = H + Patient("DUPONT~JEAN", "M", "A1", "SCOV", "POS~Positif") + "C|1|L|" + comment[..150] + "\r\nA|" + comment[150..] + "\r\nL|1\r\n";
        LabResult r = Parse(text).Messages[0].Items[0].Result!;
        Assert.Equal(comment, r.Comment);
    }

    [Fact]
    public void Not_HPRIM_is_said_so()
    {
        Diagnostic d = Assert.Single(Parse("hello world\r\n").Diagnostics);
        Assert.Equal(DiagnosticCode.NotHprim, d.Code);
    }

    [Theory]
    [InlineData("libHprim__HPRIMSParserTest_H2.1_ORU_with-A-continuation_CRLF.hpr")]
    [InlineData("freemedforms__tst_hprim_test1_HPRIM-Medecin_LAB-block_CRLF.hpr")]
    public void Input_split_at_every_byte_offset_parses_exactly_as_the_whole(string file)
    {
        byte[] bytes = Fixtures.HprimBytes(file);
        var parser = new HprimParser();
        string expected = Json(parser.Parse(bytes));
        for (int i = 1; i < bytes.Length; i++)
        {
            Assert.Equal(expected, Json(parser.Parse(BufferFactory.Split(bytes, i))));
        }
    }

    private static string Json(ParsedSubmission s) => JsonSerializer.Serialize(new
    {
        d = s.Diagnostics.Select(x => x.ToString()),
        m = s.Messages.Select(m => new { m.ControlId, d = m.Diagnostics.Select(x => x.ToString()), i = m.Items.Select(i => new { i.Position, i.Result, d = i.Diagnostics.Select(x => x.ToString()) }) }),
    });
}

public class HprimMedecinTests
{
    private static string Patient(string code, string name, string file, string result) =>
        $"{code}\r\n{name}\r\nJEAN\r\n1 RUE A\r\n\r\n69003 LYON\r\n01/02/1980\r\n1800269123456 12\r\n{file}\r\n10/01/2022\r\nLABO DEMO\r\nDR X\r\nCompte rendu\r\n" +
        $"****LAB****\r\nRES|PCR SARS-CoV-2|SCOV|A|{result}||||N|F\r\nTEX|Prélèvement nasopharyngé\r\n****FIN****\r\n";

    [Fact]
    public void A_file_with_several_patients_gives_one_message_and_its_results_per_patient()
    {
        string text = Patient("P1", "DUPONT", "F001", "POSITIF") + Patient("P2", "MARTIN", "F002", "NEGATIF") + "****FINFICHIER****\r\n";
        ParsedSubmission s = new Sidep.Parsing.Hprim.HprimParser().Parse(System.Text.Encoding.Latin1.GetBytes(text));
        Assert.Empty(s.Diagnostics);
        Assert.Equal(["F001", "F002"], s.Messages.Select(m => m.ControlId));
        LabResult first = s.Messages[0].Items.Single().Result!;
        LabResult second = s.Messages[1].Items.Single().Result!;
        Assert.Equal(("DUPONT", Interpretation.Positive, "F001"), (first.Patient.BirthName, first.Value.Interpretation, first.AccessionId));
        Assert.Equal(("MARTIN", Interpretation.Negative, "F002"), (second.Patient.BirthName, second.Value.Interpretation, second.AccessionId));
        Assert.Equal("Prélèvement nasopharyngé", second.Comment);
        Assert.Equal(new PartialDate(1980, 2, 1), second.Patient.BirthDate);
        Assert.Equal(new DateOnly(2022, 1, 10), second.SampledAt!.Value.Date);
        Assert.Equal(32, s.Messages[1].Items[0].Position.Line); // 17 lines per patient block; RES is its 15th
    }
}
