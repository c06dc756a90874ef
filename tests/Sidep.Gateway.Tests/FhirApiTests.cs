using System.Net;
using System.Net.Http.Headers;
using System.Text;
using System.Text.Json;
using Hl7.Fhir.Model;
using Task = System.Threading.Tasks.Task;
using Hl7.Fhir.Serialization;
using Sidep.Ingestion;
using Sidep.Domain;
using Sidep.Journal;
using Sidep.Pipeline;
using Sidep.Storage.Sqlite;
using Sidep.Tests;

namespace Sidep.Gateway.Tests;

public class FhirApiTests
{
    private const string Bundle = "reportstream__sample_AL_20240624-0001_bundle.json";

    private static HttpContent Fhir(byte[] json, string media = Formats.FhirMediaType) => new ByteArrayContent(json) { Headers = { ContentType = new(media) } };

    private static async Task<SidepTestServer> ServerAsync() => await SidepTestServer.StartAsync();

    [Fact]
    public async Task A_FHIR_lab_bundle_lands_in_the_store_and_the_sender_gets_an_OperationOutcome()
    {
        await using SidepTestServer server = await ServerAsync();
        using HttpClient http = server.Client(server.Labs.AddLab("750000001", "Labo", ["12D4567890"], []));
        HttpResponseMessage response = await http.PostAsync("/v1/submissions", Fhir(Fixtures.FhirBytes(Bundle)));
        Assert.Equal(HttpStatusCode.Created, response.StatusCode);
        Assert.Equal(Formats.FhirMediaType, response.Content.Headers.ContentType!.MediaType);
        OperationOutcome outcome = new FhirJsonDeserializer().Deserialize<OperationOutcome>(await response.Content.ReadAsStringAsync());
        Assert.Equal(OperationOutcome.IssueSeverity.Information, outcome.Issue[0].Severity);
        Assert.Contains("1 accepted", outcome.Issue[0].Diagnostics);
        OperationOutcome.IssueComponent noIns = outcome.Issue.Single(i => i.Details?.Coding[0].Code == "MissingIns");
        Assert.Equal(OperationOutcome.IssueSeverity.Warning, noIns.Severity);
        // Said on the Patient's identifiers, where an INS was expected (not on the Observation, entry 11).
        Assert.Equal(["Bundle.entry[3].resource.identifier"], noIns.Expression);
        // Journalled before the answer: the system of record holds it.
        JournalResults.Latest row = Assert.Single(JournalResults.Of(server.Journal));
        Assert.Equal(("750000001", "94500-6", "Positive"), (row.Envelope.Result.LabId, row.Loinc, row.Interpretation));
    }

    [Fact]
    public async Task With_Accept_JSON_a_FHIR_sender_gets_the_per_item_report()
    {
        await using SidepTestServer server = await ServerAsync();
        using HttpClient http = server.Client(server.Labs.AddLab("750000001", "Labo", ["12D4567890"], []));
        http.DefaultRequestHeaders.Accept.Add(new MediaTypeWithQualityHeaderValue("application/json"));
        HttpResponseMessage response = await http.PostAsync("/v1/submissions", Fhir(Fixtures.FhirBytes(Bundle)));
        SubmissionReport report = JsonSerializer.Deserialize(await response.Content.ReadAsStringAsync(), SidepJson.Default.SubmissionReport)!;
        Assert.Equal("fhir", report.Format);
        Assert.Equal(1, report.Counts.Accepted);
        Assert.Equal("Bundle.entry[11].resource", report.Items[0].Segment);
    }

    [Fact]
    public async Task An_Observation_without_its_Patient_is_refused_with_an_issue_pointing_at_subject()
    {
        await using SidepTestServer server = await ServerAsync();
        using HttpClient http = server.Client(server.Labs.AddLab("750000001", "Labo", [], []));
        string json = """{"resourceType":"Bundle","type":"collection","entry":[{"resource":{"resourceType":"Organization","id":"x"}},{"resource":{"resourceType":"Observation","status":"final","code":{"coding":[{"system":"http://loinc.org","code":"94500-6"}]},"subject":{"reference":"Patient/nowhere"},"effectiveDateTime":"2022-01-10","valueString":"POSITIF"}}]}""";
        HttpResponseMessage response = await http.PostAsync("/v1/submissions", Fhir(Encoding.UTF8.GetBytes(json)));
        Assert.Equal(HttpStatusCode.UnprocessableEntity, response.StatusCode);
        OperationOutcome outcome = new FhirJsonDeserializer().Deserialize<OperationOutcome>(await response.Content.ReadAsStringAsync());
        OperationOutcome.IssueComponent issue = outcome.Issue.Single(i => i.Severity == OperationOutcome.IssueSeverity.Error);
        Assert.Equal(OperationOutcome.IssueType.Required, issue.Code);
        Assert.Equal(["Bundle.entry[1].resource.subject"], issue.Expression);
        Assert.Contains("Patient/nowhere", issue.Diagnostics);
    }

    [Fact]
    public async Task Strict_mode_reports_what_Firely_finds_and_stores_nothing()
    {
        await using SidepTestServer server = await ServerAsync();
        using HttpClient http = server.Client(server.Labs.AddLab("750000001", "Labo", ["12D4567890"], []));
        HttpResponseMessage strict = await http.PostAsync("/v1/submissions?mode=strict", Fhir(Fixtures.FhirBytes(Bundle)));
        Assert.Equal(HttpStatusCode.UnprocessableEntity, strict.StatusCode);
        OperationOutcome outcome = new FhirJsonDeserializer().Deserialize<OperationOutcome>(await strict.Content.ReadAsStringAsync());
        Assert.Contains(outcome.Issue, i => i.Expression.Contains("Bundle.entry[1].resource.target"));
        // Lenient by default: the same bundle is accepted.
        Assert.Equal(HttpStatusCode.Created, (await http.PostAsync("/v1/submissions", Fhir(Fixtures.FhirBytes(Bundle)))).StatusCode);
    }

    [Fact]
    public async Task FHIR_XML_is_read_through_Firely()
    {
        await using SidepTestServer server = await ServerAsync();
        using HttpClient http = server.Client(server.Labs.AddLab("750000001", "Labo", ["12D4567890"], []));
        Resource bundle = new FhirJsonDeserializer(new DeserializerSettings().UsingMode(DeserializationMode.Recoverable)).Deserialize<Resource>(Encoding.UTF8.GetString(Fixtures.FhirBytes(Bundle)));
        byte[] xml = Encoding.UTF8.GetBytes(new FhirXmlSerializer().SerializeToString(bundle));
        http.DefaultRequestHeaders.Accept.Add(new MediaTypeWithQualityHeaderValue("application/json"));
        HttpResponseMessage response = await http.PostAsync("/v1/submissions", Fhir(xml, "application/fhir+xml"));
        Assert.Equal(HttpStatusCode.Created, response.StatusCode);
        SubmissionReport report = JsonSerializer.Deserialize(await response.Content.ReadAsStringAsync(), SidepJson.Default.SubmissionReport)!;
        Assert.Equal("94500-6", Assert.Single(report.Items).Loinc);
    }

    [Fact]
    public async Task A_FHIR_bundle_of_another_lab_gets_a_forbidden_OperationOutcome()
    {
        await using SidepTestServer server = await ServerAsync();
        using HttpClient http = server.Client(server.Labs.AddLab("750000001", "Labo", [], []));
        HttpResponseMessage response = await http.PostAsync("/v1/submissions", Fhir(Fixtures.FhirBytes(Bundle)));
        Assert.Equal(HttpStatusCode.Forbidden, response.StatusCode);
        OperationOutcome outcome = new FhirJsonDeserializer().Deserialize<OperationOutcome>(await response.Content.ReadAsStringAsync());
        Assert.Equal(OperationOutcome.IssueType.Forbidden, outcome.Issue[0].Code);
        Assert.Contains("12D4567890", outcome.Issue[0].Diagnostics);
    }
}
