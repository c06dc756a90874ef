using System.Text;

namespace Sidep.Benchmarks;

/// <summary>A typical French SARS-CoV-2 ORU^R01 batch: PID with INS and address, ORC, OBR, a result OBX,
/// an ask-at-order-entry OBX and SPM per message, wrapped in FHS/BHS.</summary>
public static class SarsBatch
{
    public static byte[] Build(int results, int positiveEvery, string accessionPrefix = "D22")
    {
        var sb = new StringBuilder("FHS|^~\\&\rBHS|^~\\&\r");
        for (int i = 0; i < results; i++)
        {
            bool positive = positiveEvery > 0 && i % positiveEvery == 0;
            sb.Append($"MSH|^~\\&|SGL|LABO^750000001^FINESS|SIDEP|ANS|20220110093000+0100||ORU^R01^ORU_R01|M{i}|P|2.5|||||FRA|UNICODE UTF-8\r")
              .Append($"PID|1||{100000 + i}^^^LABO^PI~276037510669326^^^ASIP-SANTE-INS-NIR&1.2.250.1.213.1.4.8&ISO^INS||MARTIN^CLAIRE^MARIE^^^^L||198503{1 + i % 28:D2}|F|||12 rue des Lilas^^LYON^^69003^FRA^H^^69383||^PRN^PH^^^^^^^^^0601020304|||||||||||||||||VALI\r")
              .Append($"ORC|RE||{accessionPrefix}-{i:D6}^LABO\r")
              .Append($"OBR|1||{accessionPrefix}-{i:D6}^LABO|94500-6^SARS-CoV-2 RNA^LN|||20220110081500+0100||||||||^DUPONT^JEAN||||||20220110091000+0100|||F\r")
              .Append($"OBX|1|CWE|94500-6^SARS-CoV-2 RNA Resp Ql NAA+probe^LN||{(positive ? "260373001^Détecté" : "260415000^Non détecté")}^SCT||||||F|||20220110081500+0100||||20220110090500+0100\r")
              .Append("OBX|2|CWE|95419-8^Symptomatique^LN||N^Non^HL70136||||||F||||||||||||||QST\r")
              .Append($"SPM|1|{accessionPrefix}-{i:D6}||258500001^Nasopharyngeal swab^SCT|||||||||||||20220110081500+0100\r");
        }
        sb.Append($"BTS|{results}\rFTS|1\r");
        return Encoding.UTF8.GetBytes(sb.ToString());
    }
}
