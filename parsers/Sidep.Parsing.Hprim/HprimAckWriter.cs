using System.Text;

namespace Sidep.Parsing.Hprim;

/// <summary>One problem for an ERR record.</summary>
/// <param name="Severity">E (error: the item is refused), W (warning) or I (information: an item ignored as not a result).</param>
public readonly record struct HprimAckError(string Record, int Line, int Field, long ByteOffset, char Severity, string Code, string Text, string? Found, string? Expected);

/// <summary>
/// Writes Sidep's HPRIM acknowledgement file, in HPRIM's own record syntax (delimiters |~^\&amp;, CRLF, ISO-8859-1):
/// <code>
/// H|~^\&amp;|ACK-file||SIDEP~SIDEP||ERA|||sender||P|H2.2~C|YYYYMMDDHHMMSS
/// ACK|1|file name (H.3)|A, P or R (all accepted, partly, refused)|accepted|rejected|pending mapping|duplicates|submission id
/// ERR|n|record|line|field|byte offset|E, W or I|code|message|value found|expected
/// L|1
/// </code>
/// </summary>
public static class HprimAckWriter
{
    public static byte[] Write(string? fileName, string? senderCode, string? senderName, string? submissionId,
        int accepted, int rejected, int pending, int duplicates, IEnumerable<HprimAckError> errors, DateTimeOffset now)
    {
        var sb = new StringBuilder();
        string status = rejected == 0 ? "A" : accepted + pending + duplicates > 0 ? "P" : "R";
        sb.Append("H|~^\\&|").Append(Escape(fileName is null ? "ACK" : "ACK-" + fileName)).Append("||SIDEP~SIDEP||ERA|||")
          .Append(Escape(senderCode)).Append('~').Append(Escape(senderName)).Append("||P|H2.2~C|").Append(now.ToString("yyyyMMddHHmmss")).Append("\r\n");
        sb.Append("ACK|1|").Append(Escape(fileName)).Append('|').Append(status).Append('|').Append(accepted).Append('|').Append(rejected)
          .Append('|').Append(pending).Append('|').Append(duplicates).Append('|').Append(Escape(submissionId)).Append("\r\n");
        int n = 0;
        foreach (HprimAckError e in errors)
        {
            sb.Append("ERR|").Append(++n).Append('|').Append(Escape(e.Record)).Append('|').Append(e.Line).Append('|').Append(e.Field)
              .Append('|').Append(e.ByteOffset).Append('|').Append(e.Severity).Append('|').Append(Escape(e.Code))
              .Append('|').Append(Escape(e.Text)).Append('|').Append(Escape(e.Found)).Append('|').Append(Escape(e.Expected)).Append("\r\n");
        }
        sb.Append("L|1\r\n");
        return Encoding.Latin1.GetBytes(sb.ToString());
    }

    /// <summary>HPRIM escapes for the delimiters |~^\&amp;; line breaks become spaces (a record is one line).</summary>
    public static string Escape(string? text) => Er7Escape.Text(text, '~', '^', " ");
}
