namespace Sidep.Parsing.Hl7v2;

/// <summary>Limits and modes of the HL7 v2 parser.</summary>
/// <param name="MaxSegmentBytes">Longest segment accepted; default 256 KiB (an embedded PDF belongs elsewhere).</param>
/// <param name="MaxSegmentsPerMessage">Most segments in one message; default 5,000.</param>
/// <param name="Production">Production mode: INS under the test (.10) and demo (.11) OIDs are refused.</param>
public readonly record struct Hl7ParserOptions(int MaxSegmentBytes = 256 * 1024, int MaxSegmentsPerMessage = 5_000, bool Production = false)
{
    public Hl7ParserOptions() : this(256 * 1024, 5_000, false) { }
    public static Hl7ParserOptions Default => new();
}
