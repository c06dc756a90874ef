using System.Text;
using Sidep.Domain;
using Sidep.Parsing.Fhir;
using Sidep.Tests;

namespace Sidep.Parsing.Tests;

public class FhirTests
{
    private static ParsedSubmission Parse(byte[] json) => new FhirParser().Parse(json);

    private static ParsedSubmission Parse(string json) => Parse(Encoding.UTF8.GetBytes(json));

    [Fact]
    public void ReportStream_message_bundle_result_is_read_field_by_field_with_its_ask_at_order_entry_context()
    {
        ParsedMessage m = Assert.Single(Parse(Fixtures.FhirBytes("reportstream__sample_AL_20240624-0001_bundle.json")).Messages);
        ParsedItem item = Assert.Single(m.Items); // entries 12–16 are ask-at-order-entry answers, not results
        Assert.Equal("Bundle.entry[11].resource", item.Position.Segment);
        LabResult r = item.Result!;
        Assert.Equal("12D4567890", r.LabId);
        Assert.Equal(["12D4567890"], m.SenderIds);
        Assert.Equal("80ed36a0-4bd1-42c3-bb56-81ea4ac1e75a", r.AccessionId);
        Assert.Equal(new CodedValue("94500-6", "COVID-19", "LN"), r.AnalysisAsSent);
        Assert.Equal("94500-6", r.Loinc);
        Assert.Equal(new ResultValue(Interpretation.Positive, "Detected", "260373001", "SCT"), r.Value);
        Assert.Equal("A", r.AbnormalFlag);
        Assert.Equal("CareStart COVID-19 MDx RT-PCR", r.Method);
        Assert.Equal(new CodedValue("258500001", "Nasopharyngeal swab", "SCT"), r.SpecimenType);
        Assert.Equal(DateTimeOffset.Parse("2024-06-05T18:39:58+00:00"), r.SampledAt!.Value.Value);
        Assert.True(r.SampledAt.Value.TimeZoneGiven);
        Assert.Equal(ResultStatus.Final, r.Status);
        Assert.Equal(("Granger", new PartialDate(1990, 7, 21), Sex.Female), (r.Patient.BirthName, r.Patient.BirthDate, r.Patient.Sex));
        Assert.Equal(["Hermione"], r.Patient.GivenNames);
        Assert.Equal(new Address("53 Buttonwood Ave", "Brooklyn", "11224", null, "USA"), r.Patient.Address);
        Assert.Equal("(212) 555 1234", r.Patient.Phone);
        Assert.Equal(new PatientContext { Symptomatic = true, SymptomOnset = new DateOnly(2024, 6, 1), Housing = HousingType.OtherCollective, HealthCareWorker = true, Pregnant = false },
            r.Context);
    }

    [Fact]
    public void OTC_message_bundle_reads_the_same_test_as_its_HL7_twin()
    {
        LabResult r = Assert.Single(Assert.Single(Parse(Fixtures.FhirBytes("reportstream__valid_mars_OTC_bundle.json")).Messages).Items).Result!;
        Assert.Equal("dba7572cc6334f1ea0744c5f235c823e", r.AccessionId); // as in reportstream__marsotcelr_valid_OTC-home-test.hl7
        Assert.Equal("94558-4", r.Loinc);
        Assert.Equal(Interpretation.Positive, r.Value.Interpretation);
        Assert.Equal(new CodedValue("697989009", "Anterior nares swab", "SCT"), r.SpecimenType);
        Assert.Equal(DateTimeOffset.Parse("2024-04-03T12:00:00-04:00"), r.SampledAt!.Value.Value);
        Assert.Equal("02139", r.Patient.Address!.PostalCode);
        Assert.Equal("Note", r.Comment);
    }

    [Fact]
    public void DEMIS_document_bundle_reads_the_result_with_a_LOINC_answer_code_and_warns_about_the_missing_accession()
    {
        ParsedItem item = Assert.Single(Assert.Single(Parse(Fixtures.FhirBytes("demis__71-cvdp-erstmeldung_NotificationBundleLaboratory.json")).Messages).Items);
        LabResult r = item.Result!;
        Assert.Equal("94660-8", r.Loinc);
        Assert.Equal(new ResultValue(Interpretation.Positive, "Detected", "LA11882-0", "http://loinc.org"), r.Value);
        Assert.Equal("POS", r.AbnormalFlag);
        Assert.Equal(("Tester", Sex.Male), (r.Patient.BirthName, r.Patient.Sex));
        Assert.Equal(new DateOnly(2021, 3, 4), r.SampledAt!.Value.Date);
        Diagnostic warning = item.Diagnostics.Single(d => d.Code == DiagnosticCode.MissingField);
        Assert.Equal(Severity.Warning, warning.Severity);
        Assert.Equal("Bundle.entry[7].resource.specimen", warning.Position.Segment);
    }

    [Fact]
    public void A_bare_Patient_is_refused_as_holding_no_result()
    {
        ParsedMessage m = Assert.Single(Parse(Fixtures.FhirBytes("frcore__Patient_avec_INSNIR_logique_test-oid-1.4.10.json")).Messages);
        Diagnostic d = Assert.Single(m.Diagnostics);
        Assert.Equal(DiagnosticCode.NotAResult, d.Code);
        Assert.Equal("Patient", d.Found);
    }

    [Theory]
    [InlineData(",\"specimen\":{\"reference\":\"urn:uuid:spm\"},\"issued\":\"2022-01-12T09:00:00+01:00\"", "SpecimenReceived", "2022-01-11", "Specimen.receivedTime, 2022-01-11")]
    [InlineData(",\"issued\":\"2022-01-12T09:00:00+01:00\"", "ResultReported", "2022-01-12", "issued, 2022-01-12")]
    [InlineData("", "Receipt", null, "the day Sidep received it")]
    public void Without_a_sample_time_the_result_counts_on_the_documented_fallback_and_the_lab_is_told_which(string extra, string basis, string? day, string told)
    {
        string observation = Observation("urn:uuid:pat", extra).Replace("\"effectiveDateTime\":\"2022-01-10T08:15:00+01:00\",", "");
        const string specimen = """{"resourceType":"Specimen","id":"s1","accessionIdentifier":{"value":"ACC-1"},"receivedTime":"2022-01-11T14:00:00+01:00"}""";
        string json = $$"""{"resourceType":"Bundle","type":"collection","entry":[{"fullUrl":"urn:uuid:obs","resource":{{observation}}},{"fullUrl":"urn:uuid:pat","resource":{{Patient}}},{"fullUrl":"urn:uuid:spm","resource":{{specimen}}}]}""";
        ParsedItem item = Assert.Single(Assert.Single(Parse(json).Messages).Items);
        LabResult r = Assert.IsType<LabResult>(item.Result);
        Assert.Equal(Enum.Parse<SampleDateBasis>(basis), r.SampleDateBasis);
        Assert.Equal(day, r.SampledAt?.Date.ToString("yyyy-MM-dd", System.Globalization.CultureInfo.InvariantCulture));
        Diagnostic warning = Assert.Single(item.Diagnostics, d => d.Message.StartsWith("no sample time", StringComparison.Ordinal));
        Assert.Equal(Severity.Warning, warning.Severity);
        Assert.Contains(told, warning.Message);
        Assert.Equal("Bundle.entry[0].resource.effective[x]", warning.Position.Segment);
    }

    private static string Observation(string subject, string extra = "", string status = "final") =>
        $$"""{"resourceType":"Observation","id":"o1","status":"{{status}}","code":{"coding":[{"system":"http://loinc.org","code":"94500-6"}]},"subject":{"reference":"{{subject}}"},"effectiveDateTime":"2022-01-10T08:15:00+01:00","valueCodeableConcept":{"coding":[{"system":"http://snomed.info/sct","code":"260415000","display":"Non détecté"}]},"identifier":[{"value":"ACC-1"}]{{extra}}}""";

    private const string Patient = """{"resourceType":"Patient","id":"p1","identifier":[{"system":"urn:oid:1.2.250.1.213.1.4.8","value":"185057800608491"}],"name":[{"use":"official","family":"DURAND","given":["PAUL"]}],"gender":"male","birthDate":"1970-01-01","address":[{"line":["1 rue A"],"city":"LYON","postalCode":"69003"}]}""";

    [Theory]
    [InlineData("message")]
    [InlineData("transaction")]
    [InlineData("batch")]
    [InlineData("collection")]
    public void Each_bundle_type_with_urn_uuid_references_is_read(string type)
    {
        string json = $$"""{"resourceType":"Bundle","type":"{{type}}","entry":[{"fullUrl":"urn:uuid:obs","resource":{{Observation("urn:uuid:pat")}}},{"fullUrl":"urn:uuid:pat","resource":{{Patient}}}]}""";
        LabResult r = Assert.Single(Assert.Single(Parse(json).Messages).Items).Result!;
        Assert.Equal("DURAND", r.Patient.BirthName);
        Assert.Equal(new Ins("185057800608491", InsNumber.NirOid, InsKind.Nir), r.Patient.Ins);
        Assert.Equal("ACC-1", r.AccessionId);
        Assert.Equal(Interpretation.Negative, r.Value.Interpretation);
    }

    [Fact]
    public void A_field_read_only_when_unset_leaves_nothing_unread_and_every_later_field_is_read()
    {
        // effectivePeriod after effectiveDateTime, a quantity's code after its unit, a second interpretation coding,
        // a second note: each is kept out (the first wins) but must still be read past, or the fields after it are lost.
        string observation = """{"resourceType":"Observation","id":"o9","status":"final","effectiveDateTime":"2022-01-10T08:15:00+01:00","effectivePeriod":{"start":"2022-01-09T08:00:00+01:00"},"valueQuantity":{"value":12.5,"unit":"UI/mL","code":"[IU]/mL","system":"http://unitsofmeasure.org"},"interpretation":[{"coding":[{"code":"H"},{"code":"A"}]}],"code":{"coding":[{"system":"http://loinc.org","code":"94505-5"}]},"subject":{"reference":"urn:uuid:pat"},"identifier":[{"value":"ACC-9"}],"note":[{"text":"first"},{"text":"second"}]}""";
        string json = $$"""{"resourceType":"Bundle","type":"collection","entry":[{"fullUrl":"urn:uuid:obs","resource":{{observation}}},{"fullUrl":"urn:uuid:pat","resource":{{Patient}}}]}""";
        LabResult r = Assert.Single(Assert.Single(Parse(json).Messages).Items).Result!;
        Assert.Equal(("UI/mL", "H", "94505-5", "ACC-9", "first\nsecond"), (r.Units, r.AbnormalFlag, r.Loinc, r.AccessionId, r.Comment));
        Assert.Equal(DateTimeOffset.Parse("2022-01-10T08:15:00+01:00"), r.SampledAt!.Value.Value);
        Assert.Equal("DURAND", r.Patient.BirthName);
    }

    [Theory]
    [InlineData("Patient/p1")]
    [InlineData("http://lab.example.fr/fhir/Patient/p1")]
    public void Relative_and_absolute_references_resolve(string reference)
    {
        string json = $$"""{"resourceType":"Bundle","type":"collection","entry":[{"resource":{{Observation(reference)}}},{"fullUrl":"http://lab.example.fr/fhir/Patient/p1","resource":{{Patient}}}]}""";
        Assert.Equal("DURAND", Assert.Single(Parse(json).Messages[0].Items).Result!.Patient.BirthName);
    }

    [Fact]
    public void A_single_Observation_with_its_Patient_contained_is_read_and_FR_Core_identity_traits_come_with_it()
    {
        string frCore = Encoding.UTF8.GetString(Fixtures.FhirBytes("frcore__Patient_avec_INSNIR_logique_test-oid-1.4.10.json"));
        string json = Observation("#6106172", extra: $",\"contained\":[{frCore}]");
        LabResult r = Assert.Single(Assert.Single(Parse(json).Messages).Items).Result!;
        Assert.Equal(new Ins("162126587913677", InsNumber.TestOid, InsKind.Test), r.Patient.Ins);
        Assert.Equal(IdentityStatus.Validated, r.Patient.IdentityStatus);
        Assert.Equal("SAYEH", r.Patient.BirthName);
        Assert.Equal(["FEIXA"], r.Patient.GivenNames); // the official name, not the usual one
        Assert.Equal("65217", r.Patient.BirthplaceCode);
        Assert.Equal(new PartialDate(1962, 12, 27), r.Patient.BirthDate);
        Assert.Equal("85d23799c1", r.Patient.LocalId);
    }

    [Fact]
    public void A_DiagnosticReport_with_its_Observations_and_Patient_contained_is_read()
    {
        string observation = Observation("#p1").Replace("\"id\":\"o1\"", "\"id\":\"o1\"").Replace(",\"identifier\":[{\"value\":\"ACC-1\"}]", "");
        string json = "{\"resourceType\":\"DiagnosticReport\",\"status\":\"final\",\"identifier\":[{\"value\":\"DR-7\"}],\"result\":[{\"reference\":\"#o1\"}]," +
            "\"contained\":[" + Patient + "," + observation + "]}";
        ParsedItem item = Assert.Single(Assert.Single(Parse(json).Messages).Items);
        Assert.Equal("DiagnosticReport.contained[1]", item.Position.Segment);
        Assert.Equal("DR-7", item.Result!.AccessionId); // the report's identifier stands for the accession
        Assert.Equal("DURAND", item.Result.Patient.BirthName);
    }

    [Fact]
    public void An_Observation_without_its_Patient_is_rejected_with_the_expression_of_subject()
    {
        string json = """{"resourceType":"Bundle","type":"collection","entry":[{"resource":{"resourceType":"Organization","id":"x"}},{"resource":""" + Observation("Patient/missing") + "}]}";
        ParsedItem item = Assert.Single(Parse(json).Messages[0].Items);
        Diagnostic d = item.Diagnostics.Single(x => x.Severity == Severity.Error);
        Assert.Equal(DiagnosticCode.MissingPatient, d.Code);
        Assert.Equal("Bundle.entry[1].resource.subject", d.Position.Segment);
        Assert.Equal("Patient/missing", d.Found);
        Assert.Equal(json.IndexOf("\"subject\"", StringComparison.Ordinal), d.Position.ByteOffset);
    }

    [Theory]
    [InlineData("entered-in-error", ResultStatus.Cancelled)]
    [InlineData("amended", ResultStatus.Corrected)]
    [InlineData("corrected", ResultStatus.Corrected)]
    [InlineData("preliminary", ResultStatus.Preliminary)]
    public void Statuses_map_to_retractions_and_corrections(string status, ResultStatus expected)
    {
        string json = Observation("#p1", extra: $",\"contained\":[{Patient}]", status: status);
        Assert.Equal(expected, Parse(json).Messages[0].Items[0].Result!.Status);
    }

    [Fact]
    public void A_bundle_of_5000_entries_is_read()
    {
        var sb = new StringBuilder("""{"resourceType":"Bundle","type":"batch","entry":[""");
        for (int i = 0; i < 2500; i++)
        {
            if (i > 0) sb.Append(',');
            sb.Append($$"""{"fullUrl":"urn:uuid:o{{i}}","resource":{{Observation($"urn:uuid:p{i}").Replace("ACC-1", $"ACC-{i}")}}},{"fullUrl":"urn:uuid:p{{i}}","resource":{{Patient}}}""");
        }
        sb.Append("]}");
        ParsedMessage m = Assert.Single(Parse(sb.ToString()).Messages);
        Assert.Equal(2500, m.Items.Count(i => i.Result is not null));
        Assert.Equal("ACC-2499", m.Items[^1].Result!.AccessionId);
    }

    private static string BundleOf(int observations, bool indented)
    {
        var sb = new StringBuilder("""{"resourceType":"Bundle","type":"batch","entry":[""");
        for (int i = 0; i < observations; i++)
        {
            sb.Append(i > 0 ? "," : "").Append(indented ? "\n  " : "");
            sb.Append($$"""{"fullUrl":"urn:uuid:o{{i}}","resource":{{Observation("urn:uuid:pat").Replace("ACC-1", $"ACC-{i}")}}}""");
        }
        sb.Append($$""",{"fullUrl":"urn:uuid:pat","resource":{{Patient}}}]}""");
        return sb.ToString();
    }

    [Theory]
    [InlineData(10)]
    [InlineData(100)]
    [InlineData(1_000)]
    [InlineData(10_000)]
    public void Positions_of_every_result_cost_one_pass_over_the_bundle_whatever_its_size(int observations)
    {
        // Machine-written JSON is one line: the line of each result used to be counted from the bundle's start, a pass
        // per result (a bundle of 3,000 observations was slower than Firely).
        byte[] json = Encoding.UTF8.GetBytes(BundleOf(observations, indented: false));
        var index = new Sidep.Parsing.Fhir.Internals.ResourceIndex();
        index.Build(json);
        var message = new ParsedMessage { ControlId = null, SenderIds = [], Position = new SourcePosition("Bundle", 1, 0, 0, 0), ByteLength = json.Length };
        var mapper = new Sidep.Parsing.Fhir.Internals.BundleMapper(json, index, message);
        mapper.Map();
        Assert.Equal(observations, message.Items.Count(i => i.Result is not null));
        Assert.InRange(mapper.PositionBytes, 1, 2L * json.Length);
    }

    [Fact]
    public void A_bundle_behind_a_UTF8_byte_order_mark_is_read()
    {
        byte[] json = Encoding.UTF8.GetBytes(BundleOf(3, indented: true));
        ParsedMessage m = Assert.Single(Parse([0xEF, 0xBB, 0xBF, .. json]).Messages);
        Assert.Equal(3, m.Items.Count(i => i.Result is not null));
    }

    [Fact]
    public void Positions_counted_as_the_reader_advances_are_the_lines_counted_from_the_start()
    {
        byte[] json = Encoding.UTF8.GetBytes(BundleOf(50, indented: true));
        ParsedMessage m = Assert.Single(new FhirParser().Parse(json).Messages);
        Assert.Equal(50, m.Items.Count);
        Assert.All(m.Items, i => Assert.Equal(Contiguous.LineOf(json, (int)i.Position.ByteOffset), i.Position.Line));
        Assert.Equal(2, m.Items[0].Position.Line);
        Assert.Equal(51, m.Items[^1].Position.Line);

        // Back and forth, with carriage returns only: the same lines as counted from the start.
        byte[] text = Encoding.ASCII.GetBytes(string.Concat(Enumerable.Range(0, 200).Select(i => $"line {i}\r")));
        var counter = new LineCounter();
        var random = new Random(3);
        for (int k = 0; k < 500; k++)
        {
            int offset = random.Next(text.Length + 1);
            Assert.Equal(Contiguous.LineOf(text, offset), counter.LineOf(text, offset));
        }
    }

    [Fact]
    public void Deeply_nested_JSON_is_refused_with_a_clear_bounded_error()
    {
        string json = """{"resourceType":"Bundle","entry":[""" + string.Concat(Enumerable.Repeat("[", 10_000)) + string.Concat(Enumerable.Repeat("]", 10_000)) + "]}";
        Diagnostic d = Assert.Single(Parse(json).Diagnostics);
        Assert.Equal(DiagnosticCode.InvalidJson, d.Code);
        Assert.Contains("deeper than 64", d.Message);
    }

    [Fact]
    public void Invalid_JSON_is_reported_at_its_line_and_byte()
    {
        string json = "{\n  \"resourceType\": \"Bundle\",\n  \"type\": \"batch\",\n  \"entry\": [ { \"resource\": { \"resourceType\": \"Observation\" , } oops ] }\n}";
        Diagnostic d = Assert.Single(Parse(json).Diagnostics);
        Assert.Equal(DiagnosticCode.InvalidJson, d.Code);
        Assert.Equal(4, d.Position.Line);
        Assert.Equal(json.IndexOf("oops", StringComparison.Ordinal), d.Position.ByteOffset);
    }

    [Fact]
    public void Local_codes_without_LOINC_are_left_to_terminology()
    {
        string json = Observation("#p1", extra: $",\"contained\":[{Patient}]").Replace("\"system\":\"http://loinc.org\",\"code\":\"94500-6\"", "\"system\":\"urn:oid:1.2.250.1.999\",\"code\":\"SCOV\"");
        LabResult r = Parse(json).Messages[0].Items[0].Result!;
        Assert.Null(r.Loinc);
        Assert.Equal("SCOV", r.AnalysisAsSent.Code);
    }

    [Fact]
    public void Input_split_at_every_byte_offset_parses_exactly_as_the_whole()
    {
        byte[] bytes = Fixtures.FhirBytes("reportstream__sample_AL_20240624-0001_bundle.json");
        var parser = new FhirParser();
        string expected = System.Text.Json.JsonSerializer.Serialize(parser.Parse(bytes).Messages[0].Items[0].Result);
        for (int i = 1; i < bytes.Length; i += 97)
        {
            Assert.Equal(expected, System.Text.Json.JsonSerializer.Serialize(parser.Parse(BufferFactory.Split(bytes, i)).Messages[0].Items[0].Result));
        }
    }
}
