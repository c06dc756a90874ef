using System.Text;

namespace Sidep.Parsing.Hl7v2;

/// <summary>One problem to report in an ERR segment.</summary>
/// <param name="Severity">ERR-4: E (error), W (warning) or I (information).</param>
public readonly record struct AckError(string Segment, int Line, int Field, int Component, long ByteOffset, char Severity, string Code, string Text);

/// <summary>
/// Writes HL7 v2.5 ACK messages: MSH, MSA (AA/AE/AR, or CA/CE/CR for an enhanced-mode commit ACK) and one ERR per
/// problem, pointing at segment and field (ERR-2), with an HL7 0357 code (ERR-3), severity (ERR-4) and text (ERR-8).
/// </summary>
public static class Hl7AckWriter
{
    /// <param name="code">AA, AE, AR, CA, CE or CR.</param>
    public static string Write(string code, string? controlId, string? version, string? sendingApplication, string? sendingFacility,
        string? receivingApplication, string? receivingFacility, IEnumerable<AckError> errors, DateTimeOffset now, string ackControlId)
    {
        var sb = new StringBuilder(256);
        // The ACK goes back to whoever sent: their sender is our receiver.
        sb.Append("MSH|^~\\&|").Append(EscapeHd(receivingApplication ?? "SIDEP")).Append('|').Append(EscapeHd(receivingFacility ?? "SIDEP"))
          .Append('|').Append(EscapeHd(sendingApplication)).Append('|').Append(EscapeHd(sendingFacility))
          .Append('|').Append(now.ToString("yyyyMMddHHmmsszzz").Replace(":", "", StringComparison.Ordinal))
          .Append("||ACK^R01^ACK|").Append(Escape(ackControlId)).Append("|P|").Append(Escape(version ?? "2.5")).Append('\r');
        sb.Append("MSA|").Append(code).Append('|').Append(Escape(controlId)).Append('\r');
        foreach (AckError e in errors)
        {
            sb.Append("ERR||");
            if (e.Segment.Length == 3)
            {
                // ERL: segment id ^ segment sequence (line) ^ field position ^ field repetition ^ component
                sb.Append(e.Segment).Append('^').Append(e.Line);
                if (e.Field > 0)
                {
                    sb.Append('^').Append(e.Field).Append("^1");
                    if (e.Component > 0)
                    {
                        sb.Append('^').Append(e.Component);
                    }
                }
            }
            sb.Append('|').Append(ErrorCode(e.Code)).Append('|').Append(e.Severity)
              .Append("||").Append(Escape(e.Code)).Append("|||")
              .Append(Escape($"{e.Text} (line {e.Line}, byte {e.ByteOffset})")).Append('\r');
        }
        return sb.ToString();
    }

    /// <summary>HL7 table 0357 code for a Sidep diagnostic code: the problem's nature, warnings included; 207
    /// ("application internal error") only for what is Sidep's own failure, never for what the sender did.</summary>
    public static string ErrorCode(string code) => code switch
    {
        "MissingField" or "MissingResultStatus" or "MissingPatient" or "MissingIns" => "101^Required field missing^HL70357",
        "InvalidDate" or "InvalidField" or "InvalidIns" or "InvalidEncoding" or "UnknownEscape" or "AssumedTimeZone" or "InvalidJson" => "102^Data type error^HL70357",
        "NoLoinc" or "UnknownPostcode" or "UninterpretableValue" or "UnsupportedCharset" or "TestIdentityInProduction" or "UnresolvedReference" =>
            "103^Table value not found^HL70357",
        "UnsupportedMessageType" => "200^Unsupported message type^HL70357",
        // What was done with an item (ignored as not a result, a duplicate, a correction, a retraction): nothing wrong,
        // the message is accepted (ERR-4 I says what was done).
        "NotAResult" or "Duplicate" or "Correction" or "Retraction" => "0^Message accepted^HL70357",
        "MissingMsh" or "NotHl7" or "BadDelimiters" or "TruncatedMessage" or "TooManySegments" or "SegmentTooLong" or "EmptyInput"
            or "NotHprim" or "UnknownRecord" or "MissingTrailer" => "100^Segment sequence error^HL70357",
        // The sending facility is not a registered lab's, or not the authenticated lab's: its id is not known here.
        "LabMismatch" or "UnknownLab" => "204^Unknown key identifier^HL70357",
        "DuplicateInSubmission" => "205^Duplicate key identifier^HL70357",
        _ => "207^Application internal error^HL70357",
    };

    /// <summary>A hierarchic designator whose components are joined with '^': escaped but for the component separator.</summary>
    private static string EscapeHd(string? text) => string.Join('^', (text ?? "").Split('^').Select(Escape));

    /// <summary>Escapes text for a field written with the default delimiters |^~\&amp;.</summary>
    public static string Escape(string? text) => Er7Escape.Text(text, '^', '~', "\\.br\\");
}
