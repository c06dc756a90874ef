using Sidep.Domain;
using Sidep.Ingestion;
using Sidep.Parsing;
using Sidep.Pipeline;
using Sidep.Tests;

namespace Sidep.Ingestion.Tests;

public class ResultEnvelopeCodecTests
{
    private static string Json(ResultEnvelope e) => System.Text.Json.JsonSerializer.Serialize(e, SidepJson.Default.ResultEnvelope);

    /// <summary>Every result the parsers read from the real-world corpus, in every format.</summary>
    public static IEnumerable<LabResult> CorpusResults()
    {
        IEnumerable<ParsedSubmission> parsed = Fixtures.Hl7Files.Select(f => new Sidep.Parsing.Hl7v2.Hl7v2Parser().Parse(File.ReadAllBytes(f)))
            .Concat(Fixtures.HprimFiles.Select(f => new Sidep.Parsing.Hprim.HprimParser().Parse(File.ReadAllBytes(f))))
            .Concat(Directory.GetFiles(Fixtures.FhirDir, "*.json").Order(StringComparer.Ordinal).Select(f => new Sidep.Parsing.Fhir.FhirParser().Parse(File.ReadAllBytes(f))));
        return parsed.SelectMany(p => p.Messages).SelectMany(m => m.Items).Where(i => i.Result is not null).Select(i => i.Result!);
    }

    /// <summary>A result with every optional field set, odd values included (non-Latin text, an offset, a long comment).</summary>
    private static LabResult Full(LabResult r) => r with
    {
        SpecimenId = "SPM-1",
        Loinc = "94500-6",
        Method = "RT-PCR",
        Units = "Ct",
        AbnormalFlag = "POS",
        SpecimenType = new CodedValue("258500001", "Écouvillon nasopharyngé", "SCT"),
        SampledAt = new Timestamp(new DateTimeOffset(2026, 12, 6, 23, 30, 0, TimeSpan.FromHours(-10)), TimestampPrecision.Minute, true),
        ResultedAt = new Timestamp(new DateTimeOffset(2026, 12, 7, 8, 0, 0, 123, TimeSpan.Zero), TimestampPrecision.Fraction, false),
        Status = ResultStatus.Corrected,
        Patient = r.Patient with
        {
            Ins = new Ins("255082A12345678", "1.2.250.1.213.1.4.8", InsKind.Nir),
            IdentityStatus = IdentityStatus.Qualified,
            LocalId = "P-42",
            BirthName = "Lefèvre-N'Diaye",
            UsedName = "Œuvray",
            GivenNames = ["Jean-Pierre", "Zoë", "李"],
            BirthDate = new PartialDate(1985, 3, null),
            Sex = Sex.Other,
            BirthplaceCode = "2A004",
            Address = new Address("1 rue de la Paix", "Ajaccio", "20000", "2A004", null),
            Phone = "+33601020304",
            Email = "a@example.org",
        },
        Prescriber = new Prescriber("10003456789", "RPPS", "Martin", null),
        Context = new PatientContext { Symptomatic = true, SymptomOnset = new DateOnly(2026, 12, 1), Housing = HousingType.NursingHome, HealthCareWorker = false, Pregnant = null, Hospitalised = true },
        Comment = string.Concat(Enumerable.Repeat("Prélèvement reçu tardivement. ", 4000)),
    };

    [Fact]
    public void Every_corpus_result_reads_back_as_the_same_envelope()
    {
        List<LabResult> results = [.. CorpusResults()];
        Assert.True(results.Count >= 40, $"{results.Count} corpus results");
        foreach (LabResult r in results.Append(Full(results[0])))
        {
            var envelope = new ResultEnvelope("sub_01", 2, "correction", new DateTimeOffset(2026, 12, 7, 6, 1, 2, TimeSpan.FromHours(1)), "mllp", r);
            byte[] bytes = ResultEnvelopeCodec.Encode(envelope);
            Assert.Equal(Json(envelope), Json(ResultEnvelopeCodec.Decode(bytes)));
        }
    }

    [Fact]
    public void Damaged_envelopes_are_refused_with_a_format_error_never_another_exception()
    {
        LabResult r = Full(CorpusResults().First()) with { Comment = "short" };
        byte[] bytes = ResultEnvelopeCodec.Encode(new ResultEnvelope("sub_01", 1, "new", DateTimeOffset.UnixEpoch, "http", r));
        for (int cut = 0; cut < bytes.Length; cut++)
        {
            Assert.Throws<FormatException>(() => ResultEnvelopeCodec.Decode(bytes.AsSpan(0, cut)));
        }
        var random = new Random(17);
        int refused = 0;
        for (int i = 0; i < 2000; i++)
        {
            byte[] damaged = [.. bytes];
            damaged[random.Next(damaged.Length)] = (byte)random.Next(256);
            try
            {
                ResultEnvelopeCodec.Decode(damaged);
            }
            catch (FormatException)
            {
                refused++;
            }
        }
        Assert.True(refused > 0);
        byte[] unknownLayout = [.. bytes];
        unknownLayout[0] = 9;
        Assert.Contains("layout 9", Assert.Throws<FormatException>(() => ResultEnvelopeCodec.Decode(unknownLayout)).Message);
    }
}
