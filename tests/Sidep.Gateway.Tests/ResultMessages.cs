using System.Globalization;
using System.Net;
using System.Text;
using Sidep.Ingestion;

namespace Sidep.Gateway.Tests;

/// <summary>HL7 v2 ORU^R01 results of synthetic persons, and sending them in batches.</summary>
public static class ResultMessages
{
    /// <summary>The demo lab's one negative result, without INS.</summary>
    public static string Message(string control = "M1", string accession = "ACC1", string status = "F", string facility = "SIDEP-DEMO") =>
        $"MSH|^~\\&|APP|{facility}^990000001|SIDEP|ANS|20260112093000+0100||ORU^R01^ORU_R01|{control}|P|2.5\r" +
        "PID|1||42^^^LAB^PI||DURAND^PAUL||19700101|M\r" +
        $"OBR|1||{accession}|94500-6^SARS-CoV-2^LN|||20260112081500+0100\r" +
        $"OBX|1|CWE|94500-6^SARS-CoV-2^LN||260415000^Not detected^SCT||||||{status}\r";

    /// <summary>HL7 v2 text as a submission's body.</summary>
    public static StringContent Hl7(string text) => new(text, Encoding.UTF8, Formats.Hl7MediaType);

    /// <summary>The NIR of synthetic person <paramref name="n"/>, with its key.</summary>
    public static string InsOf(int n, char sex)
    {
        string nir13 = $"{(sex == 'F' ? 2 : 1)}{80 + n % 20:D2}{1 + n % 12:D2}01{100 + n / 1000:D3}{n % 1000:D3}";
        return nir13 + (97 - long.Parse(nir13, CultureInfo.InvariantCulture) % 97).ToString("D2", CultureInfo.InvariantCulture);
    }

    /// <summary>A person of the Ain (commune 01053, Bourg-en-Bresse) with a valid NIR, tested by RT-PCR on <paramref name="day"/>.</summary>
    public static string Oru(int n, DateOnly day, int age, char sex, bool positive, string status = "F", string? accession = null, DateOnly? birthDate = null, string? phone = null)
    {
        string ins = InsOf(n, sex);
        DateOnly birth = birthDate ?? day.AddYears(-age).AddDays(-(1 + n % 300));
        string name = "PERS" + string.Concat(n.ToString(CultureInfo.InvariantCulture).Select(c => (char)('A' + c - '0')));
        string acc = accession ?? $"A{n}";
        string result = positive ? "260373001^Détecté^SCT" : "260415000^Non détecté^SCT";
        return $"MSH|^~\\&|APP|LAB^990000001|SIDEP|ANS|{day:yyyyMMdd}180000+0200||ORU^R01^ORU_R01|M{acc}{status}|P|2.5|||||FRA|UNICODE UTF-8\r" +
            $"PID|1||{ins}^^^ASIP-SANTE-INS-NIR&1.2.250.1.213.1.4.8&ISO^INS||{name}^CLAUDE||{birth:yyyyMMdd}|{sex}|||1 rue de la Gare^^BOURG-EN-BRESSE^^01000^FRA^H^^01053||{(phone is null ? "" : "^PRN^PH^^^^^^^^^" + phone)}\r" +
            $"OBR|1||{acc}|94500-6^SARS-CoV-2 RNA^LN|||{day:yyyyMMdd}093000+0200\r" +
            $"OBX|1|CWE|94500-6^SARS-CoV-2 RNA^LN||{result}||||||{status}|||{day:yyyyMMdd}093000+0200\r";
    }

    public static async Task SendAsync(HttpClient lab, IEnumerable<string> messages)
    {
        foreach (string[] chunk in messages.Chunk(500))
        {
            var body = new ByteArrayContent(Encoding.UTF8.GetBytes(string.Concat(chunk))) { Headers = { ContentType = new("application/hl7-v2") } };
            HttpResponseMessage response = await lab.PostAsync("/v1/submissions", body);
            Assert.True(response.StatusCode == HttpStatusCode.Created, await response.Content.ReadAsStringAsync());
        }
    }

}
