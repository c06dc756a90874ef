using Sidep.Domain;

namespace Sidep.Parsing;

/// <summary>One result of a submission as the parser saw it: the canonical result when it could be built,
/// and every warning or error about it. An item with an error is rejected; the others go on.</summary>
public sealed class ParsedItem
{
    public ParsedItem(SourcePosition position, LabResult? result, List<Diagnostic> diagnostics)
    {
        Position = position;
        Result = result;
        Diagnostics = diagnostics;
    }

    public SourcePosition Position { get; }

    /// <summary>Where the patient's identifiers were read (HL7 PID-3, FHIR Patient.identifier), when the format has such a
    /// place: what is said about the identity (no INS) points there rather than at the result.</summary>
    public SourcePosition? IdentityPosition { get; set; }

    public LabResult? Result { get; set; }
    public List<Diagnostic> Diagnostics { get; }
    /// <summary>An error was found: the item will be rejected whatever else is known of it.</summary>
    public bool HasError => Diagnostics.Exists(static d => d.Severity == Severity.Error);

    public bool IsRejected => Result is null || HasError;

    /// <summary>Not a laboratory result (document metadata, an embedded document): ignored, with why, and not an error.</summary>
    public bool IsNotAResult => Result is null && !HasError && Diagnostics.Exists(static d => d.Severity == Severity.Information && d.Code == DiagnosticCode.NotAResult);

    public void Reject(DiagnosticCode code, string message, SourcePosition position) =>
        Diagnostics.Add(new Diagnostic(Severity.Error, code, message, position));

    /// <summary>Marks the item as not a result: it is ignored, and the sender is told why.</summary>
    public void Ignore(string message, SourcePosition position, string? found = null, string? expected = null) =>
        Diagnostics.Add(new Diagnostic(Severity.Information, DiagnosticCode.NotAResult, message, position) { Found = found, Expected = expected });
}

/// <summary>One message of a submission (an HL7 message, an HPRIM file, a FHIR bundle).</summary>
public sealed class ParsedMessage
{
    public required string? ControlId { get; init; }
    /// <summary>The sending facility as sent (MSH-4), used to check the lab submits as itself.</summary>
    public required IReadOnlyList<string> SenderIds { get; set; }
    public required SourcePosition Position { get; init; }
    public required long ByteLength { get; init; }
    /// <summary>Acknowledgement modes requested by the sender (MSH-15 accept, MSH-16 application), as sent.</summary>
    public string? AcceptAckType { get; init; }
    public string? ApplicationAckType { get; init; }
    public string? Version { get; init; }
    public string? SendingApplication { get; init; }
    public string? ReceivingApplication { get; init; }
    public string? ReceivingFacility { get; init; }
    /// <summary>Problems with the whole message: when one is an error, every item is rejected.</summary>
    public List<Diagnostic> Diagnostics { get; } = [];
    public List<ParsedItem> Items { get; } = [];
    public bool IsRejected => Diagnostics.Exists(static d => d.Severity == Severity.Error);
}

public sealed class ParsedSubmission
{
    public List<ParsedMessage> Messages { get; } = [];
    /// <summary>Problems that belong to no message (empty body, bytes before the first MSH).</summary>
    public List<Diagnostic> Diagnostics { get; } = [];
}
