using Sidep.Parsing;
using Sidep.Parsing.Fhir;
using Sidep.Parsing.Hl7v2;
using Sidep.Parsing.Hprim;
using Sidep.Tests;

namespace Sidep.Parsing.Tests;

/// <summary>Every input the fuzzers (make fuzz, FUZZING.md) found to crash or hang a parser, kept as it was found:
/// each is parsed again, and the parser must answer with diagnostics, never throw.</summary>
public class FuzzFindingsTests
{
    public static TheoryData<string, string> Findings()
    {
        var data = new TheoryData<string, string>();
        string root = Path.Combine(Fixtures.RepoRoot, "tests", "Sidep.Parsing.Tests", "FuzzFindings");
        foreach (string format in new[] { "hl7", "hprim", "fhir" })
        {
            string dir = Path.Combine(root, format);
            foreach (string file in Directory.Exists(dir) ? [.. Directory.GetFiles(dir).Order(StringComparer.Ordinal)] : Array.Empty<string>())
            {
                data.Add(format, Path.GetFileName(file));
            }
        }
        return data;
    }

    [Theory]
    [MemberData(nameof(Findings))]
    public void A_fuzzer_finding_is_answered_with_diagnostics_not_an_exception(string format, string file)
    {
        byte[] input = File.ReadAllBytes(Path.Combine(Fixtures.RepoRoot, "tests", "Sidep.Parsing.Tests", "FuzzFindings", format, file));
        ParsedSubmission parsed = format switch
        {
            "hl7" => new Hl7v2Parser().Parse(input),
            "hprim" => new HprimParser().Parse(input),
            _ => new FhirParser().Parse(input),
        };
        Assert.NotNull(parsed);
    }

    [Theory]
    [InlineData("20260112081500+1430")] // 14 h 30: the form of an offset, beyond any clock (found by fuzzing: it threw)
    [InlineData("20260112081500-1401")]
    [InlineData("20260112081500+1460")]
    public void A_time_zone_beyond_14_hours_is_an_invalid_date_not_an_exception(string time)
    {
        string message = "MSH|^~\\&|APP|LAB^750000001^FINESS|SIDEP|ANS|20260112093000+0100||ORU^R01^ORU_R01|M1|P|2.5\r" +
            "PID|1||42^^^LAB^PI||DURAND^PAUL||19700101|M\r" +
            $"OBR|1||ACC1|94500-6^SARS-CoV-2^LN|||{time}\r" +
            "OBX|1|CWE|94500-6^SARS-CoV-2^LN||260415000^Not detected^SCT||||||F\r";
        ParsedSubmission parsed = new Hl7v2Parser().Parse(System.Text.Encoding.ASCII.GetBytes(message));
        Assert.Contains(parsed.Messages.SelectMany(m => m.Items).SelectMany(i => i.Diagnostics).Concat(parsed.Messages.SelectMany(m => m.Diagnostics)),
            d => d.Code == DiagnosticCode.InvalidDate);
    }

    [Theory]
    [InlineData("2026-01-12T0")] // 11 to 14 characters: found by fuzzing, it threw
    [InlineData("2026-01-12T")]
    [InlineData("0000-01-12")]
    [InlineData("0001-01-01T00:00:00")]
    public void A_FHIR_date_time_cut_short_or_out_of_range_is_not_a_time_and_does_not_throw(string text)
    {
        Assert.False(FhirDate.TryParseTimestamp(text, out _));
    }
}
