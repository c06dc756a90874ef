using System.Net;
using System.Net.Http.Headers;
using System.Text;
using Sidep.Ingestion;
using Sidep.Tests;

namespace Sidep.Gateway.Tests;

public class HprimAnswerTests
{
    [Fact]
    public async Task With_Accept_HPRIM_the_answer_is_an_HPRIM_acknowledgement_file_with_ERR_records()
    {
        await using SidepTestServer server = await SidepTestServer.StartAsync();
        using HttpClient http = server.Client(server.Labs.AddLab("750000001", "Labo", ["PO"], []));
        http.DefaultRequestHeaders.Accept.Add(new MediaTypeWithQualityHeaderValue(Formats.HprimMediaType));
        byte[] file = Fixtures.HprimBytes("libHprim__HPRIMSParserTest_H2.1_ORU_with-A-continuation_CRLF.hpr");
        HttpResponseMessage response = await http.PostAsync("/v1/submissions", new ByteArrayContent(file) { Headers = { ContentType = new(Formats.HprimMediaType) } });
        Assert.Equal(HttpStatusCode.Created, response.StatusCode);
        Assert.Equal(Formats.HprimMediaType, response.Content.Headers.ContentType!.MediaType);
        string[] records = Encoding.Latin1.GetString(await response.Content.ReadAsByteArrayAsync()).Split("\r\n", StringSplitOptions.RemoveEmptyEntries);
        Assert.StartsWith("H|~^\\&|ACK-Test1.HPR||SIDEP~SIDEP||ERA|||PO~LABM||P|H2.2~C|", records[0]);
        // 0 accepted, 1 rejected (the FIC record), 2 pending mapping, 0 duplicates
        // Two results pending mapping; the file reference (FIC) is not a result: ignored with why (I), not refused.
        Assert.StartsWith("ACK|1|Test1.HPR|A|0|0|2|0|sub_", records[1]);
        Assert.Contains(records, r => r.StartsWith("ERR|", StringComparison.Ordinal) && r.Contains("|OBX|8|3|654|I|NotAResult|") && r.EndsWith("|FIC|NM, ST, TX, CE", StringComparison.Ordinal));
        Assert.Contains(records, r => r.StartsWith("ERR|", StringComparison.Ordinal) && r.Contains("|W|NoLoinc|"));
        Assert.Equal("L|1", records[^1]);
    }
}
