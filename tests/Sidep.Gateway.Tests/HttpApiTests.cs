using System.Net;
using System.Net.Http.Headers;
using System.Net.Http.Json;
using System.Text;
using System.Text.Json;
using Sidep.Ingestion;
using Sidep.Tests;

namespace Sidep.Gateway.Tests;

public class HttpApiTests
{
    private static async Task<SubmissionReport> ReportOf(HttpResponseMessage response) =>
        JsonSerializer.Deserialize(await response.Content.ReadAsStringAsync(), SidepJson.Default.SubmissionReport)!;

    [Fact]
    public async Task A_valid_result_is_accepted_durably_and_its_report_can_be_fetched_again()
    {
        await using SidepTestServer server = await SidepTestServer.StartAsync();
        string key = server.Labs.AddLab("990000001", "Demo", ["SIDEP-DEMO"], []);
        using HttpClient http = server.Client(key);
        HttpResponseMessage response = await http.PostAsync("/v1/submissions", ResultMessages.Hl7(ResultMessages.Message()));
        Assert.Equal(HttpStatusCode.Created, response.StatusCode);
        SubmissionReport report = await ReportOf(response);
        Assert.True(report.Durable);
        Assert.Equal(new ReportCounts(1, 0, 0, 0), report.Counts);
        Assert.Equal("negative", report.Items[0].Interpretation);
        Assert.Equal($"/v1/submissions/{report.SubmissionId}", response.Headers.Location!.ToString());
        SubmissionReport fetched = (await http.GetFromJsonAsync($"/v1/submissions/{report.SubmissionId}", SidepJson.Default.SubmissionReport))!;
        Assert.Equal(report.Counts, fetched.Counts);
        Assert.Equal(HttpStatusCode.NotFound, (await http.GetAsync("/v1/submissions/sub_nope")).StatusCode);
    }

    [Fact]
    public async Task Validate_checks_like_a_submission_but_stores_nothing()
    {
        await using SidepTestServer server = await SidepTestServer.StartAsync();
        using HttpClient http = server.Client(server.Labs.AddLab("990000001", "Demo", ["SIDEP-DEMO"], []));
        HttpResponseMessage response = await http.PostAsync("/v1/validate", ResultMessages.Hl7(ResultMessages.Message()));
        Assert.Equal(HttpStatusCode.OK, response.StatusCode);
        SubmissionReport report = await ReportOf(response);
        Assert.True(report.DryRun);
        Assert.Null(report.SubmissionId);
        // Still new afterwards: nothing was stored.
        Assert.Equal(1, (await ReportOf(await http.PostAsync("/v1/submissions", ResultMessages.Hl7(ResultMessages.Message())))).Counts.Accepted);
    }

    [Fact]
    public async Task A_wrong_API_key_gets_401_and_another_labs_facility_gets_403_with_the_reason()
    {
        await using SidepTestServer server = await SidepTestServer.StartAsync();
        server.Labs.AddLab("990000001", "Demo", ["SIDEP-DEMO"], []);
        string other = server.Labs.AddLab("130000002", "Other", [], []);
        using HttpClient bad = server.Client("sdp_wrong");
        HttpResponseMessage unauthorized = await bad.PostAsync("/v1/submissions", ResultMessages.Hl7(ResultMessages.Message()));
        Assert.Equal(HttpStatusCode.Unauthorized, unauthorized.StatusCode);
        Assert.Contains("Bearer", unauthorized.Headers.WwwAuthenticate.ToString());
        using HttpClient wrongLab = server.Client(other);
        HttpResponseMessage forbidden = await wrongLab.PostAsync("/v1/submissions", ResultMessages.Hl7(ResultMessages.Message()));
        Assert.Equal(HttpStatusCode.Forbidden, forbidden.StatusCode);
        string detail = await forbidden.Content.ReadAsStringAsync();
        Assert.Contains("130000002", detail);
        Assert.Contains("SIDEP-DEMO", detail);
        // Asked for HL7, the refusal is an AR ACK pointing at MSH-4.
        wrongLab.DefaultRequestHeaders.Accept.Add(new MediaTypeWithQualityHeaderValue(Formats.Hl7MediaType));
        HttpResponseMessage forbiddenAck = await wrongLab.PostAsync("/v1/submissions", ResultMessages.Hl7(ResultMessages.Message()));
        Assert.Equal(HttpStatusCode.Forbidden, forbiddenAck.StatusCode);
        string[] ack = (await forbiddenAck.Content.ReadAsStringAsync()).Split('\r', StringSplitOptions.RemoveEmptyEntries);
        Assert.Equal("MSA|AR|M1", ack[1]);
        Assert.StartsWith("ERR||MSH^1^4^1|204^Unknown key identifier^HL70357|E||LabMismatch|||", ack[2]);
    }

    [Fact]
    public async Task An_oversized_body_gets_413_stating_the_limit()
    {
        await using SidepTestServer server = await SidepTestServer.StartAsync(o => o with { MaxBodyBytes = 1000 });
        string key = server.Labs.AddLab("990000001", "Demo", ["SIDEP-DEMO"], []);
        using HttpClient http = server.Client(key);
        http.DefaultRequestHeaders.ExpectContinue = true; // as `sidep send` does: the 413 comes before the body
        HttpResponseMessage response = await http.PostAsync("/v1/submissions", ResultMessages.Hl7(string.Concat(Enumerable.Repeat(ResultMessages.Message(), 10))));
        Assert.Equal(HttpStatusCode.RequestEntityTooLarge, response.StatusCode);
        Assert.Contains("limit of 1000 bytes", await response.Content.ReadAsStringAsync());
        // Chunked, without Content-Length: the same limit while reading.
        var chunked = new StreamContent(new MemoryStream(Encoding.UTF8.GetBytes(string.Concat(Enumerable.Repeat(ResultMessages.Message(), 10)))));
        chunked.Headers.ContentType = new MediaTypeHeaderValue(Formats.Hl7MediaType);
        using HttpClient fresh = server.Client(key); // the first answer closed its connection
        var request = new HttpRequestMessage(HttpMethod.Post, "/v1/submissions") { Content = chunked };
        request.Headers.TransferEncodingChunked = true;
        HttpResponseMessage streamed = await fresh.SendAsync(request);
        Assert.Equal(HttpStatusCode.RequestEntityTooLarge, streamed.StatusCode);
    }

    [Fact]
    public async Task Unsupported_media_type_and_empty_body_are_answered_clearly()
    {
        await using SidepTestServer server = await SidepTestServer.StartAsync();
        using HttpClient http = server.Client(server.Labs.AddLab("990000001", "Demo", ["SIDEP-DEMO"], []));
        HttpResponseMessage json = await http.PostAsync("/v1/submissions", new StringContent("{}", Encoding.UTF8, "application/json"));
        Assert.Equal(HttpStatusCode.UnsupportedMediaType, json.StatusCode);
        HttpResponseMessage empty = await http.PostAsync("/v1/submissions", ResultMessages.Hl7(""));
        Assert.Equal(HttpStatusCode.UnprocessableEntity, empty.StatusCode);
        Assert.Equal("EmptyInput", (await ReportOf(empty)).Problems.Single().Code);
        HttpResponseMessage garbage = await http.PostAsync("/v1/submissions", ResultMessages.Hl7("\u0001\u0002 not hl7 at all"));
        Assert.Equal(HttpStatusCode.UnprocessableEntity, garbage.StatusCode);
        Assert.Equal("NotHl7", (await ReportOf(garbage)).Problems.Single().Code);
    }

    [Fact]
    public async Task With_Accept_HL7_the_answer_is_an_ACK_with_ERR_pointing_at_segment_and_field()
    {
        await using SidepTestServer server = await SidepTestServer.StartAsync();
        using HttpClient http = server.Client(server.Labs.AddLab("990000001", "Demo", ["SIDEP-DEMO"], []));
        http.DefaultRequestHeaders.Accept.Add(new MediaTypeWithQualityHeaderValue(Formats.Hl7MediaType));
        HttpResponseMessage ok = await http.PostAsync("/v1/submissions", ResultMessages.Hl7(ResultMessages.Message()));
        string[] okAck = (await ok.Content.ReadAsStringAsync()).Split('\r', StringSplitOptions.RemoveEmptyEntries);
        Assert.StartsWith("MSH|^~\\&|SIDEP|ANS|APP|SIDEP-DEMO^990000001|", okAck[0]);
        Assert.Equal("MSA|AA|M1", okAck[1]);
        HttpResponseMessage bad = await http.PostAsync("/v1/submissions", ResultMessages.Hl7(ResultMessages.Message("M2", "ACC2", status: "")));
        string[] badAck = (await bad.Content.ReadAsStringAsync()).Split('\r', StringSplitOptions.RemoveEmptyEntries);
        Assert.Equal("MSA|AE|M2", badAck[1]);
        Assert.StartsWith("ERR||OBX^4^11^1|101^Required field missing^HL70357|E||MissingResultStatus|||", badAck[2]);
    }

    [Fact]
    public async Task Validate_with_show_understood_answers_the_reading_of_each_result_with_identity_masked()
    {
        await using SidepTestServer server = await SidepTestServer.StartAsync();
        using HttpClient http = server.Client(server.Labs.AddLab("990000001", "Demo", ["SIDEP-DEMO"], []));
        HttpResponseMessage response = await http.PostAsync("/v1/validate?show=understood", ResultMessages.Hl7(ResultMessages.Message()));
        Assert.Equal(HttpStatusCode.OK, response.StatusCode);
        string body = await response.Content.ReadAsStringAsync();
        UnderstoodSubmission understood = JsonSerializer.Deserialize(body, SidepJson.Default.UnderstoodSubmission)!;
        UnderstoodResult u = Assert.Single(understood.Understood);
        Assert.Equal(ItemStatus.Accepted, u.Status);
        Assert.Equal("D•••••", u.Patient!.BirthName);
        Assert.DoesNotContain("DURAND", body);
        Assert.Equal("94500-6", u.Test!.Loinc);
        Assert.StartsWith("counts in T", u.Indicators);
        Assert.Null(understood.Report.SubmissionId); // nothing stored
    }

    [Fact]
    public async Task A_duplicate_a_correction_and_a_retraction_are_each_said_as_such_in_the_ACK_and_the_JSON_report()
    {
        await using SidepTestServer server = await SidepTestServer.StartAsync();
        using HttpClient http = server.Client(server.Labs.AddLab("990000001", "Demo", ["SIDEP-DEMO"], []));
        async Task<string[]> Ack(string message)
        {
            using var request = new HttpRequestMessage(HttpMethod.Post, "/v1/submissions") { Content = ResultMessages.Hl7(message) };
            request.Headers.Accept.Add(new MediaTypeWithQualityHeaderValue(Formats.Hl7MediaType));
            return (await (await http.SendAsync(request)).Content.ReadAsStringAsync()).Split('\r', StringSplitOptions.RemoveEmptyEntries);
        }
        string first = ResultMessages.Message("D1", "ACC9");
        Assert.DoesNotContain(await Ack(first), l => l.Contains("|I||", StringComparison.Ordinal)); // new: nothing to say but its warnings
        string[] again = await Ack(first.Replace("|D1|", "|D2|"));
        Assert.Equal("MSA|AA|D2", again[1]);
        Assert.Contains(again, l => l.StartsWith("ERR||OBX^4|0^Message accepted^HL70357|I||Duplicate|||duplicate of version 1 of this result", StringComparison.Ordinal));
        string[] corrected = await Ack(ResultMessages.Message("D3", "ACC9").Replace("260415000^Not detected^SCT", "260373001^Detected^SCT"));
        Assert.Contains(corrected, l => l.Contains("|I||Correction|||correction: stored as version 2", StringComparison.Ordinal));
        HttpResponseMessage retracted = await http.PostAsync("/v1/submissions", ResultMessages.Hl7(ResultMessages.Message("D4", "ACC9", status: "X")));
        ItemReport item = Assert.Single((await ReportOf(retracted)).Items);
        Assert.Equal(ItemStatus.Retraction, item.Status);
        ProblemReport said = Assert.Single(item.Problems, p => p.Severity == "information");
        Assert.Equal(("Retraction", "retraction: version 3 cancels this result; it no longer counts"), (said.Code, said.Message));
    }

    [Fact]
    public async Task A_message_of_document_metadata_only_is_acknowledged_AA_with_each_item_said_not_a_result_in_ERR_and_in_the_OperationOutcome()
    {
        await using SidepTestServer server = await SidepTestServer.StartAsync();
        byte[] bytes = Fixtures.Hl7Bytes("ans__CISIS_ORU_R01_v1.2_CR-bio_INS-NIR-oid-1.4.8.hl7");
        string[] facilities = new Parsing.Hl7v2.Hl7v2Parser().Parse(bytes).Messages.SelectMany(m => m.SenderIds).Distinct().ToArray();
        using HttpClient http = server.Client(server.Labs.AddLab("990000001", "CI-SIS", facilities, []));
        using (var request = new HttpRequestMessage(HttpMethod.Post, "/v1/submissions") { Content = new ByteArrayContent(bytes) { Headers = { ContentType = new MediaTypeHeaderValue(Formats.Hl7MediaType) } } })
        {
            request.Headers.Accept.Add(new MediaTypeWithQualityHeaderValue(Formats.Hl7MediaType));
            string[] ack = (await (await http.SendAsync(request)).Content.ReadAsStringAsync()).Split('\r', StringSplitOptions.RemoveEmptyEntries);
            Assert.Equal("MSA|AA|015", ack[1]);
            string[] errs = [.. ack.Where(l => l.StartsWith("ERR|", StringComparison.Ordinal))];
            Assert.Equal(12, errs.Count(e => e.Contains("|0^Message accepted^HL70357|I||NotAResult|", StringComparison.Ordinal)));
            Assert.Contains(errs, e => e.StartsWith("ERR||OBX^8^3^1|", StringComparison.Ordinal) && e.Contains("MASQUE_PS is CI-SIS document metadata", StringComparison.Ordinal));
        }
        using (var request = new HttpRequestMessage(HttpMethod.Post, "/v1/submissions") { Content = new ByteArrayContent(bytes) { Headers = { ContentType = new MediaTypeHeaderValue(Formats.Hl7MediaType) } } })
        {
            request.Headers.Accept.Add(new MediaTypeWithQualityHeaderValue("application/fhir+json"));
            string outcome = await (await http.SendAsync(request)).Content.ReadAsStringAsync();
            Assert.Contains("12 not a result (ignored), 0 rejected", outcome);
            using var doc = System.Text.Json.JsonDocument.Parse(outcome);
            Assert.Equal(12, doc.RootElement.GetProperty("issue").EnumerateArray().Count(i =>
                i.GetProperty("severity").GetString() == "information" && i.GetProperty("code").GetString() == "informational" && i.TryGetProperty("expression", out _)));
        }
    }

    [Fact]
    public async Task Every_corpus_file_sent_gives_accepted_results_positioned_rejections_and_non_results_ignored_with_why()
    {
        await using SidepTestServer server = await SidepTestServer.StartAsync();
        var parser = new Parsing.Hl7v2.Hl7v2Parser();
        int accepted = 0, rejected = 0, notAResult = 0;
        foreach (string file in Fixtures.Hl7Files)
        {
            byte[] bytes = File.ReadAllBytes(file);
            // Register the file's sending facility as a lab, as each real lab would be.
            string[] facilities = parser.Parse(bytes).Messages.SelectMany(m => m.SenderIds).Distinct().ToArray();
            string finess = facilities.Length > 0 ? facilities[^1] : "unknown-" + Path.GetFileName(file);
            using HttpClient http = server.Client(server.Labs.AddLab(finess, Path.GetFileName(file), facilities, []));
            HttpResponseMessage response = await http.PostAsync("/v1/submissions", new ByteArrayContent(bytes) { Headers = { ContentType = new MediaTypeHeaderValue(Formats.Hl7MediaType) } });
            Assert.True(response.StatusCode is HttpStatusCode.Created or HttpStatusCode.UnprocessableEntity, $"{file}: {response.StatusCode}");
            SubmissionReport report = await ReportOf(response);
            foreach (ItemReport item in report.Items)
            {
                if (item.Status == ItemStatus.Rejected)
                {
                    rejected++;
                    ProblemReport error = item.Problems.First(p => p.Severity == "error");
                    Assert.True(error.Line > 0 && error.ByteOffset >= 0 && error.Segment.Length > 0, $"{file}: {error}");
                }
                else if (item.Status == ItemStatus.NotAResult)
                {
                    notAResult++;
                    ProblemReport why = Assert.Single(item.Problems, p => p.Severity == "information");
                    Assert.Equal(("NotAResult", "OBX"), (why.Code, why.Segment));
                    Assert.Null(item.ResultKey);
                }
                else
                {
                    accepted++;
                    Assert.NotNull(item.ResultKey);
                }
            }
            Assert.All(report.Messages.Where(m => m.AckCode == "AR"), m => Assert.NotEmpty(m.Problems));
        }
        Assert.Equal(33, accepted); // hci 4, sample batch 20, FHS/BHS batch 2, seven single results, sully 1
        Assert.Equal(12, notAResult); // the CI-SIS message: its embedded CDA report and its document metadata
        Assert.Equal(2, rejected);
    }

    [Fact]
    public async Task Health_is_served_to_anyone_and_metrics_to_the_operator_only()
    {
        await using SidepTestServer server = await SidepTestServer.StartAsync(o => o with { OperatorToken = "operator-token-for-tests" });
        using HttpClient http = server.Client(server.Labs.AddLab("990000001", "Demo", ["SIDEP-DEMO"], []));
        await http.PostAsync("/v1/submissions", ResultMessages.Hl7(ResultMessages.Message()));
        Assert.Equal("Healthy", await http.GetStringAsync("/health"));
        Assert.Equal(HttpStatusCode.Unauthorized, (await server.Client(null).GetAsync("/metrics")).StatusCode);
        Assert.Equal(HttpStatusCode.Unauthorized, (await http.GetAsync("/metrics")).StatusCode); // a lab's key is not the operator's
        using HttpClient prometheus = server.Client("operator-token-for-tests"); // Authorization: Bearer, as Prometheus sends it
        string metrics = await prometheus.GetStringAsync("/metrics");
        Assert.Contains("sidep_results_outcome", metrics);
        Assert.Contains("sidep_ack_latency", metrics);
        Assert.DoesNotContain("DURAND", metrics);
    }
}
