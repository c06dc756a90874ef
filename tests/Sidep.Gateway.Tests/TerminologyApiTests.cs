using System.Net;
using System.Net.Http.Json;
using System.Text;
using System.Text.Json;
using Sidep.Ingestion;
using Sidep.Domain;
using Sidep.Journal;
using Sidep.Pipeline;
using Sidep.Storage.Sqlite;
using Sidep.Tests;

namespace Sidep.Gateway.Tests;

public class TerminologyApiTests
{
    private static HttpContent Content(byte[] bytes, string media) => new ByteArrayContent(bytes) { Headers = { ContentType = new(media) } };

    private static async Task<SubmissionReport> ReportOf(HttpResponseMessage response) =>
        JsonSerializer.Deserialize(await response.Content.ReadAsStringAsync(), SidepJson.Default.SubmissionReport)!;

    [Fact]
    public async Task HPRIM_Sante_HPRIM_Medecin_and_HL7_with_local_codes_all_end_up_LOINC_coded_in_the_store()
    {
        await using SidepTestServer server = await SidepTestServer.StartAsync();
        string key = server.Labs.AddLab("750000001", "Labo", ["PO", "LABM", "C LabFake", "SIDEP-DEMO"], []);
        using HttpClient http = server.Client(key);

        byte[] sante = Fixtures.HprimBytes("libHprim__HPRIMSParserTest_H2.1_ORU_with-A-continuation_CRLF.hpr");
        byte[] medecin = Fixtures.HprimBytes("freemedforms__tst_hprim_test1_HPRIM-Medecin_LAB-block_CRLF.hpr");
        string hl7 = ResultMessages.Message("L1", "ACC-LOCAL").Replace("94500-6^SARS-CoV-2^LN||260415000", "SCOV^SARS-CoV-2 PCR^L||260415000");

        SubmissionReport s1 = await ReportOf(await http.PostAsync("/v1/submissions", Content(sante, "application/x-hprim")));
        SubmissionReport s2 = await ReportOf(await http.PostAsync("/v1/submissions", Content(medecin, "text/x-hprim")));
        SubmissionReport s3 = await ReportOf(await http.PostAsync("/v1/submissions", ResultMessages.Hl7(hl7)));
        Assert.Equal(2, s1.Counts.Quarantined); // OT1 and HT; the FIC record is not a result
        Assert.Equal((0, 1), (s1.Counts.Rejected, s1.Counts.NotAResult));
        Assert.Equal(1, s2.Counts.Quarantined); // IGET 000; the empty RES is rejected
        Assert.Equal(1, s3.Counts.Quarantined); // SCOV

        List<QuarantineSummary> waiting = (await http.GetFromJsonAsync("/v1/quarantine", SidepJson.Default.ListQuarantineSummary))!;
        Assert.Equal(["HT", "IGET 000", "OT1", "SCOV"], waiting.Select(q => q.LocalCode));
        Assert.All(waiting, q => Assert.Equal("750000001", q.Lab));

        // The lab maps its codes (CSV); the quarantine empties by itself.
        var csv = new StringContent("local_code;loinc;label\nOT1;1920-8;ASAT\nHT;4544-3;Hematocrit\nIGET 000;19113-0;IgE\nSCOV;94500-6;SARS-CoV-2 PCR\nOOPS;1234-5\n", Encoding.UTF8, "text/csv");
        HttpResponseMessage put = await http.PutAsync("/v1/labs/750000001/transcoding", csv);
        Assert.Equal(HttpStatusCode.OK, put.StatusCode);
        using JsonDocument outcome = JsonDocument.Parse(await put.Content.ReadAsStringAsync());
        Assert.Equal(4, outcome.RootElement.GetProperty("added").GetInt32());
        Assert.Equal(4, outcome.RootElement.GetProperty("replayed").GetInt32());
        Assert.Equal(0, outcome.RootElement.GetProperty("stillQuarantined").GetInt32());
        Assert.Equal(6, outcome.RootElement.GetProperty("rejected")[0].GetProperty("line").GetInt32());
        Assert.Empty((await http.GetFromJsonAsync("/v1/quarantine", SidepJson.Default.ListQuarantineSummary))!);

        // The replayed results are journalled with their LOINC (the quarantined versions had none).
        List<JournalResults.Latest> rows = JournalResults.Of(server.Journal);
        Assert.Equal(["19113-0", "1920-8", "4544-3", "94500-6"], rows.Select(r => r.Loinc!).Order(StringComparer.Ordinal));
        Assert.Equal("Negative", rows.Single(r => r.Loinc == "94500-6").Interpretation);

        // The table can be read back, with which codes are in the national SARS-CoV-2 value set.
        using JsonDocument table = JsonDocument.Parse(await http.GetStringAsync("/v1/labs/750000001/transcoding"));
        Assert.Equal(4, table.RootElement.GetArrayLength());
        Assert.Single(table.RootElement.EnumerateArray(), e => e.GetProperty("inNationalValueSet").GetBoolean());
    }

    [Fact]
    public async Task A_lab_may_not_change_another_labs_table()
    {
        await using SidepTestServer server = await SidepTestServer.StartAsync();
        string key = server.Labs.AddLab("750000001", "Labo", [], []);
        using HttpClient http = server.Client(key);
        HttpResponseMessage put = await http.PutAsync("/v1/labs/130000002/transcoding", new StringContent("SCOV;94500-6", Encoding.UTF8, "text/csv"));
        Assert.Equal(HttpStatusCode.Forbidden, put.StatusCode);
        Assert.Equal(HttpStatusCode.Unauthorized, (await server.Client(null).GetAsync("/v1/quarantine")).StatusCode);
    }
}
