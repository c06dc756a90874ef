using Sidep.Pipeline;

namespace Sidep.Journal;

/// <summary>
/// Damage found in what the journal had acknowledged: where, what was lost or cut off, and how many acknowledged records
/// lie beyond it. Nothing is changed by finding it: <c>sidep journal verify</c> reports the same, <c>sidep journal
/// repair</c> moves the damaged range aside.
/// </summary>
/// <param name="File">The segment file.</param>
/// <param name="Offset">The byte in the file where the damage starts.</param>
/// <param name="Length">Damaged (or missing) bytes.</param>
/// <param name="Reason">What is wrong there.</param>
/// <param name="FirstPosition">The journal position of the damage (for listing what lies around it).</param>
/// <param name="RecordsBeyond">Acknowledged records found intact after the damage.</param>
/// <param name="MissingRecords">Acknowledged records known to be missing (bytes cut off a tail): 0 when unknown.</param>
/// <param name="Results">The results (or matched results) of the journal's global order the damage holds: between the
/// last intact one before it and the first intact one after it; null when it holds none.</param>
public sealed record JournalDamage(string File, long Offset, long Length, string Reason, long FirstPosition, long RecordsBeyond, long MissingRecords = 0,
    (long First, long Last)? Results = null)
{
    public override string ToString() =>
        $"{File} at byte {Offset}: {Reason}; {Length} bytes damaged{(MissingRecords > 0 ? $", {MissingRecords} acknowledged records missing" : "")}" +
        (Results is (long first, long last) ? $", holding results #{first} to #{last} of the journal's order ({last - first + 1})" : "") +
        $"; {RecordsBeyond} acknowledged records lie beyond it";

    /// <summary>The numbers of the global order that lie within a damaged range at <paramref name="position"/>:
    /// <paramref name="ordered"/> maps each number to its record's position (-1 where none is known), up to <paramref name="end"/>.</summary>
    internal static (long, long)? ResultsAt(IReadOnlyList<long> ordered, long position, long end)
    {
        long before = -1, after = end;
        for (int i = 0; i < ordered.Count; i++)
        {
            if (ordered[i] < 0)
            {
                continue;
            }
            if (ordered[i] < position)
            {
                before = i;
            }
            else
            {
                after = i;
                break;
            }
        }
        return after - before > 1 ? (before + 1, after - 1) : null;
    }
}

/// <summary>The journal's acknowledged records are damaged: Sidep refuses to start on it rather than drop what lies
/// beyond the damage.</summary>
public sealed class JournalCorruptException(string directory, IReadOnlyList<JournalDamage> damage)
    : Exception($"the journal in {directory} is damaged where it had acknowledged records: {string.Join("; ", damage)}. Nothing was changed. " +
        $"`sidep journal verify` lists every damaged range; `sidep journal repair` moves them aside (kept, never deleted) and lists the submissions and results they held, so that labs can be asked to resend them.")
{
    public string Directory { get; } = directory;

    public IReadOnlyList<JournalDamage> Damage { get; } = damage;
}

/// <summary>What opening the journal found and did, for the start-up log.</summary>
/// <param name="Segments">Segment files.</param>
/// <param name="Records">Records indexed.</param>
/// <param name="TornBytesCut">Bytes past the last acknowledged point that held no whole record (a crash mid-write), cut off.</param>
/// <param name="UnacknowledgedRecordsKept">Whole records past the last acknowledged point (written, never acknowledged),
/// kept: a resend of them is recognised as a duplicate.</param>
/// <param name="Lost">Numbers of results that journal repair moved aside (they read as <see cref="RecordKind.Lost"/>).</param>
/// <param name="IndexesRebuilt">Sealed segments whose index was missing or damaged, rebuilt from the segment.</param>
/// <param name="Elapsed">How long opening took.</param>
public sealed record JournalRecovery(int Segments, long Records, long TornBytesCut, long UnacknowledgedRecordsKept, long Lost, int IndexesRebuilt, TimeSpan Elapsed);
