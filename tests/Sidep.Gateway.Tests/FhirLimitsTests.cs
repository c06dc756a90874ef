using System.Net;
using System.Text;
using Sidep.Gateway;

namespace Sidep.Gateway.Tests;

/// <summary>No single FHIR document brings Sidep down: depth and size are checked by Sidep's own readers before Firely
/// sees anything, Firely's failures are answered 422, and no input value is echoed back.</summary>
public class FhirLimitsTests
{
    private static HttpContent Body(string text, string media) => new ByteArrayContent(Encoding.UTF8.GetBytes(text)) { Headers = { ContentType = new(media) } };

    private static string DeepXml(int depth) =>
        "<Patient xmlns=\"http://hl7.org/fhir\">" + string.Concat(Enumerable.Repeat("<extension url=\"http://x\">", depth))
        + string.Concat(Enumerable.Repeat("</extension>", depth)) + "</Patient>";

    private static string DeepJson(int depth) =>
        "{\"resourceType\":\"Patient\",\"extension\":" + string.Concat(Enumerable.Repeat("[{\"extension\":", depth)) + "[]"
        + string.Concat(Enumerable.Repeat("}]", depth)) + "}";

    [Theory]
    [InlineData("/v1/validate", "application/fhir+xml")]
    [InlineData("/v1/submissions", "application/fhir+xml")]
    [InlineData("/v1/validate?mode=strict", "application/fhir+json")]
    [InlineData("/v1/submissions?mode=strict", "application/fhir+json")]
    public async Task A_document_nested_20000_deep_is_refused_with_422_and_the_server_stays_up(string path, string media)
    {
        await using SidepTestServer server = await SidepTestServer.StartAsync();
        using HttpClient http = server.Client(server.Labs.AddLab("750000001", "Labo", ["12D4567890"], []));
        string body = media.EndsWith("xml", StringComparison.Ordinal) ? DeepXml(20_000) : DeepJson(20_000);
        HttpResponseMessage response = await http.PostAsync(path, Body(body, media));
        Assert.Equal(HttpStatusCode.UnprocessableEntity, response.StatusCode);
        string outcome = await response.Content.ReadAsStringAsync();
        Assert.Contains("OperationOutcome", outcome);
        Assert.Contains("deeper than 64", outcome);
        Assert.Equal(HttpStatusCode.OK, (await http.GetAsync("/health")).StatusCode);
    }

    [Fact]
    public void Firely_messages_lose_the_values_they_quote_and_keep_the_path()
    {
        Assert.Equal("Literal '…' cannot be parsed as a date. At Patient.birthDate, line 1, position 42.",
            FhirFirely.Masked("Literal '1985-13-45' cannot be parsed as a date. At Patient.birthDate, line 1, position 42."));
    }

    [Fact]
    public async Task Strict_mode_never_echoes_the_values_it_refuses()
    {
        await using SidepTestServer server = await SidepTestServer.StartAsync();
        using HttpClient http = server.Client(server.Labs.AddLab("750000001", "Labo", ["12D4567890"], []));
        string patient = "{\"resourceType\":\"Patient\",\"birthDate\":\"1985-13-45\",\"gender\":\"ZORGLUBIDE\",\"name\":[{\"family\":\"DURAND\"}]}";
        HttpResponseMessage response = await http.PostAsync("/v1/validate?mode=strict", Body(patient, "application/fhir+json"));
        Assert.Equal(HttpStatusCode.UnprocessableEntity, response.StatusCode);
        string outcome = await response.Content.ReadAsStringAsync();
        Assert.DoesNotContain("1985-13-45", outcome);
        Assert.DoesNotContain("ZORGLUBIDE", outcome);
        Assert.Contains("birthDate", outcome);
    }
}
