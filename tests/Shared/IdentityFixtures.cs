using System.Buffers;
using System.Text;

namespace Sidep.Tests;

/// <summary>The same woman sent by three labs: with her INS (and her married name as used name), without INS and
/// with a typo (her home, sent by both, is what corroborates the approximate name), and under her married name.</summary>
public static class IdentityFixtures
{
    /// <summary>The lab the fixtures' messages come from (facility LAB).</summary>
    public static readonly Sidep.Domain.Lab Lab = new("990000001", "Demo", ["LAB"], []);

    public static string Ins => "2850375106693" + (97 - 2850375106693 % 97).ToString("D2");

    public static ReadOnlySequence<byte> Message(string accession, string pid) => new(Encoding.UTF8.GetBytes(
        "MSH|^~\\&|APP|LAB^990000001|SIDEP|ANS|20260112093000+0100||ORU^R01^ORU_R01|" + accession + "|P|2.5\r" + pid + "\r" +
        $"OBR|1||{accession}|94500-6^SARS-CoV-2^LN|||20260112081500+0100\r" +
        "OBX|1|CWE|94500-6^SARS-CoV-2^LN||260373001^Detected^SCT||||||F\r"));

    public static readonly string[] ThreeLabs =
    [
        $"PID|1||{Ins}^^^ASIP-SANTE-INS-NIR&1.2.250.1.213.1.4.8&ISO^INS||LEFÈVRE^HÉLÈNE^MARIE~MARTIN^HÉLÈNE^^^^^D||19850314|F|||3 rue Garibaldi^^LYON^^69003^FRA",
        "PID|1||42^^^LAB^PI||LEFEVBRE^HELENE||19850314|F|||3 RUE GARIBALDI^^LYON^^69003^FRA",
        "PID|1||43^^^LAB^PI||MARTIN^Hélène||19850314|F",
    ];
}
