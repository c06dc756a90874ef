namespace Sidep.Parsing;

/// <summary>An error rejects its item; a warning does not; information says what Sidep did (an item ignored as not a
/// result).</summary>
public enum Severity { Warning, Error, Information }

/// <summary>What went wrong, as a stable code a laboratory's software can switch on.</summary>
public enum DiagnosticCode
{
    EmptyInput,
    NotHl7,
    MissingMsh,
    BadDelimiters,
    TruncatedMessage,
    UnsupportedMessageType,
    SegmentTooLong,
    TooManySegments,
    InvalidEncoding,
    UnknownEscape,
    MissingField,
    InvalidField,
    InvalidDate,
    InvalidIns,
    TestIdentityInProduction,
    NoLoinc,
    NotAResult,
    MissingPatient,
    MissingResultStatus,
    UnknownLab,
    LabMismatch,
    DuplicateInSubmission,
    UnsupportedCharset,
    NotHprim,
    UnknownRecord,
    MissingTrailer,
    UninterpretableValue,
    MissingIns,
    AssumedTimeZone,
    UnknownPostcode,
    InvalidJson,
    UnresolvedReference,
}

/// <summary>Where a problem is: the record or segment, its line (1-based), the field (and component)
/// and the byte offset from the start of the submission.</summary>
public readonly record struct SourcePosition(string Segment, int Line, int Field, int Component, long ByteOffset)
{
    public override string ToString()
    {
        string where = Field > 0 ? (Component > 0 ? $"{Segment}-{Field}.{Component}" : $"{Segment}-{Field}") : Segment;
        return $"{where} at line {Line}, byte {ByteOffset}";
    }
}

public sealed record Diagnostic(Severity Severity, DiagnosticCode Code, string Message, SourcePosition Position)
{
    /// <summary>The value found, when echoing it helps the sender and it is not an identity trait.</summary>
    public string? Found { get; init; }

    /// <summary>What was expected instead.</summary>
    public string? Expected { get; init; }

    public override string ToString() => $"{Severity} {Code} ({Position}): {Message}";

    public static Diagnostic Error(DiagnosticCode code, string message, SourcePosition position) => new(Severity.Error, code, message, position);

    public static Diagnostic Warning(DiagnosticCode code, string message, SourcePosition position) => new(Severity.Warning, code, message, position);
}

/// <summary>Escapes text for a field of an ER7-encoded record (HL7 v2, HPRIM Santé): each delimiter becomes its
/// escape sequence (\F\ \S\ \R\ \E\ \T\), line breaks become <paramref name="lineBreak"/>.</summary>
public static class Er7Escape
{
    public static string Text(string? text, char component, char repetition, string lineBreak)
    {
        if (string.IsNullOrEmpty(text))
        {
            return "";
        }
        ReadOnlySpan<char> special = ['|', component, repetition, '\\', '&', '\r', '\n'];
        if (text.AsSpan().IndexOfAny(special) < 0)
        {
            return text;
        }
        var sb = new System.Text.StringBuilder(text.Length + 8);
        foreach (char c in text)
        {
            if (c == '|') sb.Append("\\F\\");
            else if (c == component) sb.Append("\\S\\");
            else if (c == repetition) sb.Append("\\R\\");
            else if (c == '\\') sb.Append("\\E\\");
            else if (c == '&') sb.Append("\\T\\");
            else if (c is '\r' or '\n') sb.Append(lineBreak);
            else sb.Append(c);
        }
        return sb.ToString();
    }
}
