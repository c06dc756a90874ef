using Sidep.Parsing;
using Sidep.Parsing.Hl7v2;

namespace Sidep.Parsing.Tests;

public class Hl7AckWriterTests
{
    [Fact]
    public void Every_problem_a_sender_can_cause_has_its_HL7_table_0357_code_and_none_is_called_an_internal_error()
    {
        foreach (DiagnosticCode code in Enum.GetValues<DiagnosticCode>())
        {
            string err3 = Hl7AckWriter.ErrorCode(code.ToString());
            Assert.EndsWith("^HL70357", err3);
            Assert.False(err3.StartsWith("207^", StringComparison.Ordinal), $"{code} is answered 207 (application internal error)");
        }
        Assert.Equal("101^Required field missing^HL70357", Hl7AckWriter.ErrorCode(nameof(DiagnosticCode.MissingIns)));
        Assert.Equal("205^Duplicate key identifier^HL70357", Hl7AckWriter.ErrorCode(nameof(DiagnosticCode.DuplicateInSubmission)));
        Assert.Equal("204^Unknown key identifier^HL70357", Hl7AckWriter.ErrorCode(nameof(DiagnosticCode.UnknownLab)));
        Assert.Equal("207^Application internal error^HL70357", Hl7AckWriter.ErrorCode("SomethingSidepDidWrong"));
    }
}
