using System.Text.Json;
using Sidep.Domain;
using Sidep.Parsing.Hl7v2;
using Sidep.Tests;

namespace Sidep.Parsing.Tests;

/// <summary>Every field of every result of these corpus files, written by hand from the segments.</summary>
public class Hl7FieldByFieldTests
{
    private static readonly JsonSerializerOptions s_json = new() { WriteIndented = true };

    private static LabResult Only(string file)
    {
        ParsedMessage m = Assert.Single(new Hl7v2Parser().Parse(Fixtures.Hl7Bytes(file)).Messages);
        return Assert.Single(m.Items).Result!;
    }

    private static void Same(LabResult expected, LabResult actual) =>
        Assert.Equal(JsonSerializer.Serialize(expected, s_json), JsonSerializer.Serialize(actual, s_json));

    private static Timestamp At(string iso, TimestampPrecision precision, bool zoneGiven) => new(DateTimeOffset.Parse(iso), precision, zoneGiven);

    private static readonly Prescriber s_ellume = new("ELLUME", "2.16.840.1.113883.4.6", null, null);

    [Fact]
    public void Ellume_home_test_2021_every_field()
    {
        Same(new LabResult
        {
            LabId = "2.16.840.1.113883.9.265",
            AccessionId = "1e837a04-7d87-4498-ac86-1476354ed257",
            SpecimenId = "1e837a04-7d87-4498-ac86-1476354ed257",
            // OBX-3 as sent: the sender put "LN" in the text and the result code in the coding system.
            AnalysisAsSent = new CodedValue("94558-4", "LN", "260415000"),
            Loinc = "94558-4",
            Method = "Ellume COVID-19 Home Test",
            Value = new ResultValue(Interpretation.Negative, "Not detected", "260415000", "SCT"),
            AbnormalFlag = "N",
            Units = null,
            SpecimenType = new CodedValue("871810001", null, null),
            SampledAt = At("2021-03-16T00:00:00+01:00", TimestampPrecision.Minute, false),
            ResultedAt = At("2021-03-16T00:00:00+01:00", TimestampPrecision.Minute, false),
            Status = ResultStatus.Final,
            Patient = new PatientIdentity
            {
                LocalId = "LT-306",
                BirthName = "FAKE_LAST_NAME",
                GivenNames = ["FAKE_FIRST_NAME"],
                Sex = Sex.Unknown,
                Address = new Address(null, "SANDY", "84093", null, null),
            },
            Prescriber = s_ellume,
            Comment = "Presumptive Negative Test for SARS-CoV-2 (no antigen detected)",
        }, Only("reportstream__EHT-20210316-0001.hl7"));
    }

    [Fact]
    public void Ellume_home_test_2022_every_field()
    {
        Same(new LabResult
        {
            LabId = "2.16.840.1.113883.9.265",
            AccessionId = "5ff18d7a-f32b-43b2-b814-590b8844fab3",
            SpecimenId = "5ff18d7a-f32b-43b2-b814-590b8844fab3",
            AnalysisAsSent = new CodedValue("94558-4", "SARS-CoV-2 (COVID-19) Ag [Presence]in Respiratory specimen by Rapid immunoassay", "LN"),
            Loinc = "94558-4",
            Method = "Ellume COVID-19 Home Test",
            Value = new ResultValue(Interpretation.Negative, "Not detected", "260415000", "SCT"),
            AbnormalFlag = "N",
            SpecimenType = new CodedValue("871810001", null, "SCT"),
            SampledAt = At("2022-01-19T00:00:00-05:00", TimestampPrecision.Second, true),
            ResultedAt = At("2022-01-19T00:00:00-05:00", TimestampPrecision.Second, true),
            Status = ResultStatus.Final,
            Patient = new PatientIdentity
            {
                LocalId = "LT-1645108",
                BirthName = "BALL",
                GivenNames = ["MADISON"],
                BirthDate = new PartialDate(1999, 1, 6),
                Sex = Sex.Unknown,
                Address = new Address("1941 S PIERPONT", "MESA", "85206", null, null),
                Phone = "7147434108",
            },
            Prescriber = s_ellume,
            Comment = "Presumptive Negative Test for SARS-CoV-2 (no antigen detected)",
        }, Only("reportstream__LP-covid-19-20220124002222_CR.hl7"));
    }

    [Fact]
    public void Over_the_counter_self_test_every_field()
    {
        Same(new LabResult
        {
            LabId = "00Z0000024",
            AccessionId = "dba7572cc6334f1ea0744c5f235c823e",
            SpecimenId = "dba7572cc6334f1ea0744c5f235c823e",
            AnalysisAsSent = new CodedValue("94558-4", "SARS-CoV-2 (COVID-19) Ag [Presence] in Respiratory specimen by Rapid immunoassay", "LN"),
            Loinc = "94558-4",
            Method = "BinaxNOW COVID-19 Antigen Self Test_Abbott Diagnostics Scarborough, Inc._EUA",
            Value = new ResultValue(Interpretation.Positive, "Detected", "260373001", "SCT"),
            AbnormalFlag = "A",
            SpecimenType = new CodedValue("697989009", "Anterior nares swab (specimen)", "SCT"),
            SampledAt = At("2024-04-03T12:00:00-04:00", TimestampPrecision.Second, true),
            // OBX-19 has no offset: Paris time assumed (summer time on 3 April 2024).
            ResultedAt = At("2024-04-03T12:00:00+02:00", TimestampPrecision.Second, false),
            Status = ResultStatus.Final,
            Patient = new PatientIdentity
            {
                LocalId = "8be6fa3710374dcebe0174e0fd5a1a7c",
                Sex = Sex.Unknown,
                Address = new Address(null, null, "02139", null, "USA"),
                Phone = "1111111111",
            },
            Prescriber = new Prescriber(null, null, null, "SA.OTCSelfReport"),
            // The age-at-collection OBX is an ask-at-order-entry answer (OBX-29 QST), not a second result.
            Comment = "BinaxNOW COVID-19 Antigen Self Test_Abbott Diagnostics Scarborough, Inc._EUA",
        }, Only("reportstream__marsotcelr_valid_OTC-home-test.hl7"));
    }

    [Fact]
    public void Winchester_House_batch_result_every_field()
    {
        Same(new LabResult
        {
            LabId = "05D2222542",
            AccessionId = "1234d1d1-95fe-462c-8ac6-46728dba581c",
            SpecimenId = "1234d1d1-95fe-462c-8ac6-46728dba581c",
            AnalysisAsSent = new CodedValue("94558-4", "SARS-CoV-2 (COVID-19) Ag [Presence] in Respiratory specimen by Rapid immunoassay", "LN"),
            Loinc = "94558-4",
            Method = "BD Veritor System for Rapid Detection of SARS-CoV-2",
            Value = new ResultValue(Interpretation.Negative, "Not detected", "260415000", "SCT"),
            AbnormalFlag = "N",
            SpecimenType = new CodedValue("445297001", "Swab of internal nose", "SCT"),
            SampledAt = At("2021-08-02T00:00:00-05:00", TimestampPrecision.Minute, true),
            ResultedAt = At("2021-08-02T00:00:00-05:00", TimestampPrecision.Minute, true),
            Status = ResultStatus.Final,
            Patient = new PatientIdentity
            {
                LocalId = "09d12345-0987-1234-1234-111b1ee0879f",
                BirthName = "Bunny",
                GivenNames = ["Bugs", "C"],
                BirthDate = new PartialDate(1900, 1, 1),
                Sex = Sex.Male,
                Address = new Address("12345 Main St", "San Jose", "95125", "06085", "USA"),
                Phone = "1234567890",
            },
            Prescriber = new Prescriber("1679892871", "2.16.840.1.113883.3.249", "Doolittle", "Doctor"),
            Context = new PatientContext { HealthCareWorker = false, FirstTest = false, Housing = HousingType.OtherCollective, Symptomatic = false },
        }, Only("reportstream__Example-hl7-file_FHS-BHS-batch_CR.hl7"));
    }
}
