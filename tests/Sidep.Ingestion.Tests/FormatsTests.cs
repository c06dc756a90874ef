using System.Buffers;
using System.Text;
using Sidep.Ingestion;
using Sidep.Parsing.Hl7v2;
using Sidep.Tests;

namespace Sidep.Ingestion.Tests;

public sealed class FormatsTests
{
    [Fact]
    public void Every_format_is_found_by_its_name_and_each_of_its_media_types_and_an_unknown_one_is_refused_not_guessed()
    {
        Assert.Equal([Formats.Hl7v2, Formats.Fhir, Formats.Hprim], Formats.All.Select(f => f.Name));
        foreach (IFormat format in Formats.All)
        {
            Assert.Same(format, Formats.Named(format.Name));
            Assert.All(format.MediaTypes, m => Assert.Equal(format.Name, Formats.FromMediaType(m.ToUpperInvariant() + "; charset=UTF-8")));
            Assert.Equal(format.MediaTypes[0], Formats.MediaTypeOf(format.Name));
        }
        Assert.Null(Formats.FromMediaType("application/json"));
        Assert.Null(Formats.FromMediaType(null));
        ArgumentException unknown = Assert.Throws<ArgumentException>(() => Formats.Parse("csv", new ReadOnlySequence<byte>("MSH|^~\\&|"u8.ToArray()), Hl7ParserOptions.Default));
        Assert.Contains("unknown format 'csv'", unknown.Message);
        Assert.Throws<ArgumentException>(() => Formats.MediaTypeOf("csv"));
    }

    [Fact]
    public void Corpus_files_are_told_apart_by_their_first_bytes()
    {
        Assert.All(Fixtures.Hl7Files, f => Assert.Equal(Formats.Hl7v2, Formats.Sniff(File.ReadAllBytes(f))));
        Assert.All(Directory.GetFiles(Fixtures.FhirDir, "*.json"), f => Assert.Equal(Formats.Fhir, Formats.Sniff(File.ReadAllBytes(f))));
        Assert.All(Fixtures.HprimFiles, f => Assert.Equal(Formats.Hprim, Formats.Sniff(File.ReadAllBytes(f))));
        Assert.Equal(Formats.Hl7v2, Formats.Sniff(Encoding.UTF8.GetBytes("\uFEFF\r\nMSH|^~\\&|")));
    }

    [Fact]
    public void A_submission_is_answered_in_the_protocol_the_sender_accepts_else_FHIR_in_kind_else_the_JSON_report()
    {
        Assert.Equal(Formats.Hl7v2, Formats.AnswerFormat(Formats.Hl7v2, ["application/hl7-v2"])?.Name);
        Assert.Equal(Formats.Hl7v2, Formats.AnswerFormat(Formats.Fhir, ["text/plain, application/HL7-v2; q=0.9"])?.Name);
        Assert.Equal(Formats.Hprim, Formats.AnswerFormat(Formats.Hprim, ["text/x-hprim"])?.Name);
        Assert.Null(Formats.AnswerFormat(Formats.Hl7v2, []));
        Assert.Null(Formats.AnswerFormat(Formats.Hprim, ["*/*"]));
        Assert.Equal(Formats.Fhir, Formats.AnswerFormat(Formats.Fhir, [])?.Name); // FHIR clients read OperationOutcomes
        Assert.Null(Formats.AnswerFormat(Formats.Fhir, ["application/json"]));
    }

    [Fact]
    public async Task Each_format_answers_a_report_and_a_refusal_in_its_own_protocol_with_the_code_and_where()
    {
        string bad = "MSH|^~\\&|APP|LAB^990000001|SIDEP|ANS|20260112093000+0100||ORU^R01^ORU_R01|M1|P|2.5\r" +
            "PID|1||42^^^LAB^PI||DURAND^PAUL||19700101|M\rOBR|1||ACC1|94500-6^SARS-CoV-2^LN|||20261341\r" +
            "OBX|1|CWE|94500-6^SARS-CoV-2^LN||260415000^Not detected^SCT||||||F\r";
        SubmissionReport report = (await new IngestionService(null).SubmitAsync(null, new ReadOnlySequence<byte>(Encoding.UTF8.GetBytes(bad)), Formats.Hl7v2, "test", dryRun: true)).Report;
        ProblemReport problem = report.Items.SelectMany(i => i.Problems).Concat(report.Messages.SelectMany(m => m.Problems)).First(p => p.Severity == "error" && p.ByteOffset > 0);
        foreach (IFormat format in Formats.All)
        {
            FormatAnswer answer = format.Answer(report);
            Assert.StartsWith(format.MediaTypes[0] + "; charset=", answer.ContentType);
            string text = format.Name == Formats.Hprim ? Encoding.Latin1.GetString(answer.Body) : Encoding.UTF8.GetString(answer.Body);
            Assert.Contains(problem.Code, text);
            Assert.Contains(problem.ByteOffset.ToString(System.Globalization.CultureInfo.InvariantCulture), text);
            FormatAnswer refusal = format.Refusal(report, "LabMismatch", "lab 990000002 may not submit as 990000001");
            string refused = format.Name == Formats.Hprim ? Encoding.Latin1.GetString(refusal.Body) : Encoding.UTF8.GetString(refusal.Body);
            Assert.Contains("LabMismatch", refused);
            Assert.Contains("may not submit as 990000001", refused);
            Assert.Contains(format.Name switch { Formats.Hl7v2 => "MSA|AR|M1", Formats.Fhir => "\"code\":\"forbidden\"", _ => "ACK|1|M1|R|0|1|" }, refused);
        }
        System.Text.Json.JsonElement outcome = System.Text.Json.JsonDocument.Parse(Formats.Named(Formats.Fhir).Answer(report).Body).RootElement;
        Assert.Equal("OperationOutcome", outcome.GetProperty("resourceType").GetString());
        Assert.Contains(outcome.GetProperty("issue").EnumerateArray(), i => i.GetProperty("severity").GetString() == "error"
            && i.GetProperty("details").GetProperty("coding")[0].GetProperty("code").GetString() == problem.Code);
    }
}
