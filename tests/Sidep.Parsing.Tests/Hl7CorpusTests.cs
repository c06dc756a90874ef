using Sidep.Domain;
using Sidep.Parsing;
using Sidep.Parsing.Hl7v2;
using Sidep.Tests;

namespace Sidep.Parsing.Tests;

public class Hl7CorpusTests
{
    private static ParsedSubmission Parse(string file) => new Hl7v2Parser().Parse(Fixtures.Hl7Bytes(file));

    public static TheoryData<string> CorpusFiles()
    {
        var data = new TheoryData<string>();
        foreach (string f in Fixtures.Hl7Files)
        {
            data.Add(Path.GetFileName(f));
        }
        return data;
    }

    [Theory]
    [MemberData(nameof(CorpusFiles))]
    public void Every_corpus_file_parses_and_every_item_is_a_result_a_positioned_rejection_or_ignored_as_not_a_result(string file)
    {
        ParsedSubmission s = Parse(file);
        Assert.NotEmpty(s.Messages);
        foreach (ParsedMessage m in s.Messages)
        {
            foreach (Diagnostic d in m.Diagnostics)
            {
                Assert.True(d.Position.Line >= 1);
                Assert.False(string.IsNullOrWhiteSpace(d.Message));
            }
            if (m.IsRejected)
            {
                continue;
            }
            Assert.NotEmpty(m.Items);
            foreach (ParsedItem item in m.Items)
            {
                if (item.IsNotAResult)
                {
                    Diagnostic why = Assert.Single(item.Diagnostics, d => d.Severity == Severity.Information);
                    Assert.Equal(DiagnosticCode.NotAResult, why.Code);
                    Assert.True(why.Position.ByteOffset > 0);
                    Assert.Equal("OBX", why.Position.Segment);
                }
                else if (item.IsRejected)
                {
                    Diagnostic error = Assert.Single(item.Diagnostics.Where(d => d.Severity == Severity.Error).Take(1));
                    Assert.True(error.Position.Line >= 1);
                    Assert.True(error.Position.ByteOffset > 0);
                    Assert.NotEqual("", error.Position.Segment);
                }
                else
                {
                    Assert.NotNull(item.Result);
                    Assert.NotNull(item.Result!.Loinc);
                    Assert.NotNull(item.Result.SampledAt);
                }
            }
        }
    }

    [Fact]
    public void CareEvolution_antigen_result_is_read_field_by_field()
    {
        ParsedMessage m = Assert.Single(Parse("reportstream__CE-20200415-0001_CR.hl7").Messages);
        Assert.Equal("20210408181556.d542f884-9598-eb11-aa9d-9b0caef93d5a", m.ControlId);
        Assert.Equal(["CAREEVOLUTION", "00Z0000024"], m.SenderIds);
        Assert.Equal("NE", m.AcceptAckType);
        LabResult r = Assert.Single(m.Items).Result!;
        Assert.Equal("00Z0000024", r.LabId);
        Assert.Equal("d542f884-9598-eb11-aa9d-9b0caef93d5a", r.AccessionId);
        Assert.Equal("95209-3", r.Loinc);
        Assert.Equal(new CodedValue("95209-3", "SARS-CoV+SARS-CoV-2 (COVID-19) Ag [Presence] in Respiratory specimen by Rapid immunoassay", "LN"), r.AnalysisAsSent);
        Assert.Equal(new ResultValue(Interpretation.Positive, "Detected", "260373001", "SCT"), r.Value);
        Assert.Equal(ResultStatus.Final, r.Status);
        Assert.Equal("30014613339373_DIT", r.Method);
        Assert.Equal(new CodedValue("697989009", "Anterior nares swab", "SCT"), r.SpecimenType);
        Assert.Equal(DateTimeOffset.Parse("2021-04-08T14:09:23-04:00"), r.SampledAt!.Value.Value);
        Assert.True(r.SampledAt.Value.TimeZoneGiven);
        Assert.Equal(TimestampPrecision.Second, r.SampledAt.Value.Precision);
        Assert.Equal("Fortune", r.Patient.BirthName);
        Assert.Equal(["Jeremy"], r.Patient.GivenNames);
        Assert.Equal(new PartialDate(1955, 1, 8), r.Patient.BirthDate);
        Assert.Equal(Sex.Female, r.Patient.Sex);
        Assert.Null(r.Patient.Ins);
        Assert.Equal("d542f884-9598-eb11-aa9d-9b0caef93d5a", r.Patient.LocalId);
        Assert.Equal(new Address("None", "Asheville", "99999", "47065", "USA"), r.Patient.Address);
        Assert.Equal("5555555555", r.Patient.Phone);
        Assert.False(r.Context.Symptomatic);
        Assert.Equal("1955-01-08|F", r.PartitionKey);
    }

    [Fact]
    public void Florida_hospital_result_takes_LOINC_from_the_alternate_identifier_and_assumes_the_time_zone()
    {
        LabResult r = Assert.Single(Assert.Single(Parse("reportstream__FLFHospital-SARSCOV2-20200317-0001.hl7").Messages).Items).Result!;
        Assert.Equal(new CodedValue("SARS2", "SARS-CoV-2", "LAB_IN"), r.AnalysisAsSent);
        Assert.Equal("94500-6", r.Loinc);
        Assert.Equal(Interpretation.Negative, r.Value.Interpretation);
        Assert.Equal("NEGATIVE", r.Value.Raw);
        Assert.Equal("FLH", r.LabId);
        Assert.Equal("2107662558", r.AccessionId);
        // No offset sent: Europe/Paris assumed, and said so.
        Assert.False(r.SampledAt!.Value.TimeZoneGiven);
        Assert.Equal(new DateTime(2021, 3, 17, 11, 50, 59), r.SampledAt.Value.Value.DateTime);
        Assert.Equal(TimeSpan.FromHours(1), r.SampledAt.Value.Value.Offset);
        Assert.Equal("X7TEST", r.Patient.BirthName);
        Assert.Equal(new PartialDate(1963, 2, 2), r.Patient.BirthDate);
        Assert.Equal(Sex.Female, r.Patient.Sex);
        Assert.Equal(new Prescriber("Z9PHYSICIAN", null, "zModel", "Physician"), r.Prescriber);
        // \.br\ escapes become line breaks in the NTE comment.
        Assert.Contains("management decisions. Negative results must be combined", r.Comment);
        Assert.Contains("epidemiological information.\n\nThis test has been authorized", r.Comment);
    }

    [Fact]
    public void FHS_BHS_batch_with_LF_ends_gives_two_messages_with_their_ask_at_order_entry_context()
    {
        ParsedSubmission s = Parse("reportstream__batch_message_FHS-BHS_LF.hl7");
        Assert.Empty(s.Diagnostics);
        Assert.Equal(2, s.Messages.Count);
        LabResult first = Assert.Single(s.Messages[0].Items).Result!;
        Assert.Equal("0cba76f5-35e0-4a28-803a-2f31308aae9b", first.AccessionId);
        Assert.Equal("94558-4", first.Loinc);
        Assert.Equal(Interpretation.Negative, first.Value.Interpretation);
        Assert.Equal("Buckridge", first.Patient.BirthName);
        Assert.Equal(["Kareem", "Millie"], first.Patient.GivenNames);
        Assert.Equal("roscoe.wilkinson@email.com", first.Patient.Email);
        Assert.True(first.Context.HealthCareWorker);
        Assert.True(first.Context.FirstTest);
        Assert.False(first.Context.Symptomatic);
        Assert.Equal(HousingType.Private, first.Context.Housing);
        Assert.Equal(new Prescriber("1629082607", "2.16.840.1.113883.3.249", "Eddin", "Husam"), first.Prescriber);
        Assert.Equal("CareStart COVID-19 Antigen test_Access Bio, Inc._EUA", first.Method);
        LabResult second = Assert.Single(s.Messages[1].Items).Result!;
        Assert.Equal("Keeling", second.Patient.BirthName);
        Assert.Equal(Sex.Male, second.Patient.Sex);
        Assert.Equal(19, s.Messages[1].Items[0].Position.Line);
    }

    [Fact]
    public void ANS_CI_SIS_message_reads_French_identity_traits_and_ignores_its_document_and_metadata_as_not_results()
    {
        ParsedMessage m = Assert.Single(Parse("ans__CISIS_ORU_R01_v1.2_CR-bio_INS-NIR-oid-1.4.8.hl7").Messages);
        Assert.Equal("015", m.ControlId);
        Assert.Equal(12, m.Items.Count);
        Assert.False(m.IsRejected);
        // Not errors: the embedded CDA report (OBX 1, ED) and the CI-SIS document metadata (MetaDMPMSS: MASQUE_PS,
        // DESTDMP, COMP_LOT…) are not laboratory results; each is ignored and says why, at its OBX.
        Assert.All(m.Items, i => Assert.True(i.IsNotAResult));
        Assert.All(m.Items, i => Assert.DoesNotContain(i.Diagnostics, d => d.Severity == Severity.Error));
        Diagnostic ed = m.Items[0].Diagnostics.Single(d => d.Code == DiagnosticCode.NotAResult);
        Assert.Equal((Severity.Information, new SourcePosition("OBX", 6, 2, 0, 782)), (ed.Severity, ed.Position));
        Diagnostic flag = m.Items[1].Diagnostics.Single(d => d.Code == DiagnosticCode.NotAResult);
        Assert.Equal(("OBX", 8, 3, "MASQUE_PS"), (flag.Position.Segment, flag.Position.Line, flag.Position.Field, flag.Found));
        Assert.Contains("CI-SIS document metadata", flag.Message);
        Assert.Equal(["MASQUE_PS", "INVISIBLE_PATIENT", "INVISIBLE_REPRESENTANTS_LEGAUX", "CONNEXION_SECRETE", "MODIF_CONFIDENTIALITYCODE", "DESTDMP",
            "DESTMSSANTEPS", "DESTMSSANTEPAT", "CORPSMAIL_PS", "COMP_LOT", "COMP_LOT"], m.Items.Skip(1).Select(i => i.Diagnostics.Single(d => d.Code == DiagnosticCode.NotAResult).Found));
    }

    [Fact]
    public void Escapes_T_and_X0d0a_are_decoded_and_numeric_values_keep_their_units()
    {
        ParsedMessage m = Assert.Single(Parse("reportstream__hci_escape-T-X0d0a.hl7").Messages);
        Assert.Equal(4, m.Items.Count);
        LabResult a1c = m.Items[0].Result!;
        Assert.Equal("55454-3", a1c.Loinc);
        Assert.Equal(new ResultValue(Interpretation.NotInterpreted, "5.8"), a1c.Value);
        Assert.Equal("mg/dL", a1c.Units);
        Assert.Equal("Interpretation: \r\nNormal <5.7\r\nPrediabetes: 5.7-6.4\r\nDiabetic: &#8805;6.5", a1c.Comment);
        Assert.Equal("232270000212", a1c.AccessionId);
        Assert.Equal(Interpretation.Positive, m.Items[1].Result!.Value.Interpretation); // "Reactive"
        Assert.Equal(Interpretation.Negative, m.Items[3].Result!.Value.Interpretation); // "Non-Reactive"
    }

    [Fact]
    public void Twenty_message_batch_yields_twenty_corrected_results_in_order()
    {
        ParsedSubmission s = Parse("reportstream__sample-batch-pdi-20210608-0001_20msgs_CR.hl7");
        Assert.Equal(20, s.Messages.Count);
        Assert.All(s.Messages, m => Assert.False(Assert.Single(m.Items).IsRejected));
        LabResult first = s.Messages[0].Items[0].Result!;
        Assert.Equal(ResultStatus.Corrected, first.Status);
        Assert.Equal(Interpretation.Positive, first.Value.Interpretation); // 840539006, COVID-19 disease
        Assert.Equal("380604", first.AccessionId);
        Assert.Equal(new DateOnly(2021, 6, 4), first.SampledAt!.Value.Date);
        Assert.Equal(new DateOnly(2021, 6, 6), first.Context.SymptomOnset);
        Assert.Equal(Sex.Unknown, first.Patient.Sex);
        Assert.Equal("2607595016", first.Patient.Phone);
    }

    [Fact]
    public void Sully_message_rejects_results_without_status_and_reads_nursing_home_residence()
    {
        ParsedMessage m = Assert.Single(Parse("reportstream__CA-20211001-sully.hl7").Messages);
        Assert.Equal(3, m.Items.Count);
        LabResult r = m.Items[0].Result!;
        Assert.Equal(Interpretation.Positive, r.Value.Interpretation);
        Assert.Equal("445c148beb2f4a", r.AccessionId);
        Assert.True(r.Context.HealthCareWorker);
        Assert.False(r.Context.Symptomatic); // 95419-8 = N comes first; a listed symptom does not overturn it
        Assert.Equal(HousingType.NursingHome, r.Context.Housing);
        Assert.False(r.Context.Pregnant);
        Assert.True(r.Context.Hospitalised);
        foreach ((ParsedItem item, int line) in new[] { (m.Items[1], 9), (m.Items[2], 10) })
        {
            Diagnostic d = item.Diagnostics.Single(x => x.Severity == Severity.Error);
            Assert.Equal(DiagnosticCode.MissingResultStatus, d.Code);
            Assert.Equal(line, d.Position.Line);
            Assert.Equal(11, d.Position.Field);
        }
    }

    [Fact]
    public void MSH_only_message_is_refused_with_the_missing_facility_and_no_result()
    {
        ParsedMessage m = Assert.Single(Parse("reportstream__MSH18-repeated-UTF-8~UNICODE.hl7").Messages);
        Assert.True(m.IsRejected);
        Assert.Contains(m.Diagnostics, d => d.Code == DiagnosticCode.MissingField && d.Position.Field == 4);
        Assert.Empty(m.Items);
    }
}
