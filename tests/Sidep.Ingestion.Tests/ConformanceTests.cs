using System.Buffers;
using System.Text;
using Sidep.Ingestion;

namespace Sidep.Ingestion.Tests;

public class ConformanceTests
{
    private static async Task<ItemReport> Validate(string pid, string sampleTime)
    {
        string message = "MSH|^~\\&|APP|LAB^990000001|SIDEP|ANS|20260112093000+0100||ORU^R01^ORU_R01|M1|P|2.5\r" +
            pid + "\r" +
            $"OBR|1||ACC1|94500-6^SARS-CoV-2^LN|||{sampleTime}\r" +
            "OBX|1|CWE|94500-6^SARS-CoV-2^LN||260415000^Not detected^SCT||||||F\r";
        SubmissionOutcome outcome = await new IngestionService(null).SubmitAsync(null, new ReadOnlySequence<byte>(Encoding.UTF8.GetBytes(message)), Formats.Hl7v2, "test", dryRun: true);
        return Assert.Single(outcome.Report.Items);
    }

    [Fact]
    public async Task A_result_without_INS_with_an_assumed_zone_and_an_unknown_postcode_is_accepted_with_three_warnings()
    {
        ItemReport item = await Validate("PID|1||42^^^LAB^PI||DURAND^PAUL||19700101|M|||1 rue A^^NULLEPART^^99123^FRA", "202601120815");
        Assert.Equal(ItemStatus.Accepted, item.Status);
        Assert.Equal(["MissingIns", "AssumedTimeZone", "UnknownPostcode"], item.Problems.Select(p => p.Code));
        Assert.All(item.Problems, p => Assert.Equal("warning", p.Severity));
        ProblemReport postcode = item.Problems[2];
        Assert.Equal("99123", postcode.Found);
        Assert.NotNull(postcode.Expected);
    }

    [Fact]
    public async Task A_valid_INS_an_explicit_offset_and_a_French_postcode_raise_no_warning()
    {
        ItemReport item = await Validate(
            "PID|1||185057800608491^^^ASIP-SANTE-INS-NIR&1.2.250.1.213.1.4.8&ISO^INS||DURAND^PAUL||19700101|M|||1 rue A^^LYON^^69003^FRA", "202601120815+0100");
        Assert.Empty(item.Problems);
    }

    [Theory]
    [InlineData("69003", true)]
    [InlineData("20000", true)] // Corsica
    [InlineData("97400", true)] // La Réunion
    [InlineData("99123", false)]
    [InlineData("6900", false)]
    public void French_postcodes_are_recognised_by_their_departement(string postcode, bool known) =>
        Assert.Equal(known, Conformance.IsKnownFrenchPostcode(postcode));
}
