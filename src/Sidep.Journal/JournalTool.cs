using System.Text;

using Sidep.Pipeline;

namespace Sidep.Journal;

/// <summary>A damaged range found by <see cref="JournalTool.Verify"/>, with what its bytes still tell of the records it held.</summary>
/// <param name="Acknowledged">Before the commit point: acknowledged records were there (start-up refuses). Otherwise a torn
/// tail, cut at start-up.</param>
public sealed record JournalDamageReport(JournalDamage Damage, bool Acknowledged, IReadOnlyList<JournalSalvage> Held);

/// <summary>A record whose header survives in a damaged range: its kind and its key (a submission id, a result key —
/// lab, accession, test code —, a quarantine id; nothing nominative).</summary>
public sealed record JournalSalvage(RecordKind Kind, string Key)
{
    public override string ToString() => Kind switch
    {
        RecordKind.Submission => $"submission {Key}",
        RecordKind.Result when ResultRecords.ParseKey(Key) is Sidep.Domain.ResultKey k => $"result lab {k.LabId}, accession {k.AccessionId}, test {k.TestCode}",
        RecordKind.Quarantined => $"quarantined result {Key}",
        RecordKind.Released => $"quarantine release of lab {Key}",
        RecordKind.Matched => $"matched result #{Key} (derived: rebuilt from the journal)",
        RecordKind.Merged => $"person merge #{Key} (derived)",
        _ => $"{Kind} {Key}",
    };
}

/// <summary>What <see cref="JournalTool.Verify"/> found.</summary>
public sealed record JournalVerifyReport(string Directory, int Segments, long Records, long AcknowledgedEnd, IReadOnlyList<JournalDamageReport> Damage)
{
    public bool Clean => Damage.All(d => !d.Acknowledged);

    public string Describe()
    {
        var text = new StringBuilder();
        text.Append(Invariant($"journal {Directory}: {Segments} segments, {Records} records intact"));
        text.AppendLine(Damage.Count == 0 ? ", no damage" : Invariant($", {Damage.Count} damaged ranges"));
        foreach (JournalDamageReport d in Damage)
        {
            text.AppendLine((d.Acknowledged ? "DAMAGED (acknowledged records): " : "torn tail (never acknowledged; cut at start-up): ") + d.Damage);
            foreach (JournalSalvage s in d.Held)
            {
                text.AppendLine("  held: " + s);
            }
            if (d.Acknowledged && d.Held.Count == 0)
            {
                text.AppendLine("  held: nothing recognisable is left of its records");
            }
        }
        return text.ToString();
    }

    private static string Invariant(FormattableString s) => FormattableString.Invariant(s);
}

/// <summary>
/// <c>sidep journal verify</c> and <c>sidep journal repair</c>: every record of every segment read and checked against
/// its CRC (the indexes are not trusted), damage reported with the file, the byte, the range and what lies beyond it;
/// repair moves each damaged range aside into a file of its own (kept, never deleted), leaves a padding record in its
/// place so that nothing after it moves, and lists what the range held so that labs can be asked to resend exactly that.
/// </summary>
public static class JournalTool
{
    /// <summary>Reads every record; changes nothing.</summary>
    public static JournalVerifyReport Verify(string directory, IJournalFileSystem? fileSystem = null)
    {
        IJournalFileSystem fs = fileSystem ?? OsJournalFileSystem.Instance;
        CommitPoint? commit = ReadCommit(fs, directory);
        List<int> numbers = SegmentNumbers(fs, directory);
        var found = new List<(JournalDamage Damage, long SeenBefore, bool Acknowledged, List<JournalSalvage> Held)>();
        long records = 0, acknowledged = 0;
        var ordered = new List<long>();
        long acknowledgedEnd = commit is null ? long.MaxValue : JournalFormat.Position(commit.Segment, commit.End);
        int expected = 0;
        foreach (int number in numbers)
        {
            for (; expected < number; expected++)
            {
                found.Add((new JournalDamage(Path.Combine(directory, JournalFormat.SegmentName(expected)), 0, 0, $"segment file {expected} is missing",
                    JournalFormat.Position(expected, 0), 0), acknowledged, true, []));
            }
            expected = number + 1;
            string path = Path.Combine(directory, JournalFormat.SegmentName(number));
            using IJournalFile file = fs.Open(path, create: false);
            long segmentRecords = 0;
            var before = new List<long>();
            List<DamagedRange> ranges = SegmentScan.Run(file, number, (long offset, in RecordHead head, ReadOnlySpan<byte> _) =>
            {
                if (head.Kind != RecordKind.Padding)
                {
                    segmentRecords++;
                    before.Add(offset);
                }
                if (head.Sequence is >= 0 and < int.MaxValue)
                {
                    while (ordered.Count < head.Sequence)
                    {
                        ordered.Add(-1);
                    }
                    if (ordered.Count == head.Sequence)
                    {
                        ordered.Add(JournalFormat.Position(number, offset));
                    }
                }
            });
            foreach (DamagedRange range in ranges)
            {
                long position = JournalFormat.Position(number, range.Offset);
                byte[] bytes = new byte[(int)Math.Min(range.Length, 64L * 1024 * 1024)];
                int read = file.Read(bytes, range.Offset);
                long seen = acknowledged + before.Count(o => o < range.Offset && JournalFormat.Position(number, o) < acknowledgedEnd);
                found.Add((new JournalDamage(path, range.Offset, range.Length, range.Reason, position, 0), seen, position < acknowledgedEnd,
                    [.. SegmentScan.Salvage(bytes.AsSpan(0, read)).Select(s => new JournalSalvage(s.Kind, s.Key))]));
            }
            if (commit is not null && number == commit.Segment && file.Length < commit.End)
            {
                found.Add((new JournalDamage(path, file.Length, commit.End - file.Length,
                    $"the file ends {commit.End - file.Length} bytes before the last acknowledged point (byte {commit.End})",
                    JournalFormat.Position(number, file.Length), 0), -1, true, []));
            }
            records += segmentRecords;
            acknowledged += before.Count(o => JournalFormat.Position(number, o) < acknowledgedEnd);
        }
        if (commit is null && numbers.Count > 0)
        {
            found.Insert(0, (new JournalDamage(Path.Combine(directory, "commit"), 0, 0,
                "the commit file is missing or both its slots are damaged: the last acknowledged point is unknown", 0, 0), acknowledged, true, []));
        }
        long orderedEnd = Math.Max(commit?.Ordered ?? 0, ordered.Count);
        List<JournalDamageReport> damage = [.. found.Select(f => new JournalDamageReport(
            (f.SeenBefore < 0
                ? f.Damage with { MissingRecords = Math.Max(0, (commit?.Records ?? 0) - acknowledged) }
                : f.Damage with { RecordsBeyond = f.Acknowledged ? acknowledged - f.SeenBefore : 0 })
                with { Results = f.Acknowledged ? JournalDamage.ResultsAt(ordered, f.Damage.FirstPosition, orderedEnd) : null },
            f.Acknowledged, f.Held))];
        return new JournalVerifyReport(directory, numbers.Count, records, acknowledgedEnd == long.MaxValue ? 0 : acknowledgedEnd, damage);
    }

    /// <summary>
    /// Moves every damaged range aside into <c>damaged/</c> beside the segments, writes a padding record in its place
    /// (or, at a segment's end, cuts it there), drops the indexes it invalidates, and writes a commit point that keeps the
    /// numbering (the records moved aside read as lost; nothing after them is renumbered, so the stages' positions hold).
    /// </summary>
    /// <returns>What was found (as <see cref="Verify"/> reports it) and the files the damaged ranges were moved into.</returns>
    public static (JournalVerifyReport Report, IReadOnlyList<string> MovedTo) Repair(string directory, IJournalFileSystem? fileSystem = null)
    {
        IJournalFileSystem fs = fileSystem ?? OsJournalFileSystem.Instance;
        JournalVerifyReport report = Verify(directory, fs);
        var moved = new List<string>();
        string aside = Path.Combine(directory, "damaged");
        foreach (JournalDamageReport d in report.Damage.Where(d => d.Acknowledged))
        {
            JournalDamage damage = d.Damage;
            if (damage.Reason.StartsWith("segment file", StringComparison.Ordinal) && damage.Reason.EndsWith("is missing", StringComparison.Ordinal))
            {
                // A segment file gone: an empty one stands in its place, so that the segments after it keep their numbers.
                using IJournalFile stand = fs.Open(damage.File, create: true);
                byte[] header = new byte[JournalFormat.SegmentHeaderSize];
                JournalFormat.WriteSegmentHeader(header, JournalFormat.SegmentOf(damage.FirstPosition));
                stand.Write(header, 0);
                stand.Flush();
                fs.SyncDirectory(directory);
                continue;
            }
            if (!damage.File.EndsWith(".seg", StringComparison.Ordinal) || damage.Length == 0)
            {
                continue; // the commit file is rewritten below
            }
            using IJournalFile file = fs.Open(damage.File, create: false);
            long available = Math.Max(0, Math.Min(damage.Length, file.Length - damage.Offset));
            if (available > 0)
            {
                fs.CreateDirectory(aside);
                string target = Path.Combine(aside, FormattableString.Invariant($"{Path.GetFileNameWithoutExtension(damage.File)}-{damage.Offset}.bin"));
                using (IJournalFile copy = fs.Open(target, create: true))
                {
                    copy.SetLength(0);
                    byte[] buffer = new byte[1 << 20];
                    for (long done = 0; done < available;)
                    {
                        int n = file.Read(buffer.AsSpan(0, (int)Math.Min(buffer.Length, available - done)), damage.Offset + done);
                        copy.Write(buffer.AsSpan(0, n), done);
                        done += n;
                    }
                    copy.Flush();
                }
                fs.SyncDirectory(aside);
                moved.Add(target);
            }
            if (damage.Offset + available >= file.Length)
            {
                file.SetLength(Math.Max(damage.Offset, JournalFormat.SegmentHeaderSize));
                if (damage.Offset < JournalFormat.SegmentHeaderSize)
                {
                    byte[] header = new byte[JournalFormat.SegmentHeaderSize];
                    JournalFormat.WriteSegmentHeader(header, JournalFormat.SegmentOf(damage.FirstPosition));
                    file.Write(header, 0);
                }
            }
            else if (damage.Offset < JournalFormat.SegmentHeaderSize)
            {
                // The header is damaged and records follow: a new header, and padding up to the first record.
                byte[] fill = new byte[available];
                JournalFormat.WriteSegmentHeader(fill, JournalFormat.SegmentOf(damage.FirstPosition));
                if (available - JournalFormat.SegmentHeaderSize >= JournalFormat.MinRecordSize)
                {
                    JournalFormat.EncodePadding(fill.AsSpan(JournalFormat.SegmentHeaderSize));
                }
                file.Write(fill, 0);
            }
            else
            {
                if (available < JournalFormat.MinRecordSize)
                {
                    throw new InvalidOperationException($"{damage.File} at byte {damage.Offset}: the damaged range is {available} bytes, too short to fill; nothing was changed there");
                }
                byte[] padding = new byte[available];
                JournalFormat.EncodePadding(padding);
                file.Write(padding, damage.Offset);
            }
            file.Flush();
            string index = Path.ChangeExtension(damage.File, ".idx");
            if (fs.Exists(index))
            {
                fs.Delete(index);
            }
        }
        RewriteCommit(fs, directory);
        fs.SyncDirectory(directory);
        return (report, moved);
    }

    /// <summary>A commit point at the end of the last segment's valid records, keeping the numbering the old one reached
    /// (or, without one, the highest numbers found).</summary>
    private static void RewriteCommit(IJournalFileSystem fs, string directory)
    {
        CommitPoint? old = ReadCommit(fs, directory);
        List<int> numbers = SegmentNumbers(fs, directory);
        if (numbers.Count == 0)
        {
            return;
        }
        long records = 0, end = JournalFormat.SegmentHeaderSize, ordered = 0;
        var partitionEnds = new Dictionary<int, long>();
        foreach (int number in numbers)
        {
            using IJournalFile file = fs.Open(Path.Combine(directory, JournalFormat.SegmentName(number)), create: false);
            end = JournalFormat.SegmentHeaderSize;
            SegmentScan.Run(file, number, (long offset, in RecordHead head, ReadOnlySpan<byte> body) =>
            {
                end = offset + JournalFormat.RecordHeaderSize + body.Length;
                if (head.Kind == RecordKind.Padding)
                {
                    return;
                }
                records++;
                if (head.Sequence >= 0)
                {
                    ordered = Math.Max(ordered, head.Sequence + 1);
                }
                if (head.PartitionOffset >= 0)
                {
                    partitionEnds[head.Partition] = Math.Max(partitionEnds.GetValueOrDefault(head.Partition), head.PartitionOffset + 1);
                }
            });
        }
        long[] ends = old?.PartitionEnds is { } kept ? (long[])kept.Clone() : new long[partitionEnds.Count == 0 ? 1 : partitionEnds.Keys.Max() + 1];
        foreach ((int p, long e) in partitionEnds)
        {
            if (p < ends.Length)
            {
                ends[p] = Math.Max(ends[p], e);
            }
        }
        var commit = new CommitPoint((old?.Sequence ?? 0) + 1, numbers[^1], end, records, Math.Max(ordered, old?.Ordered ?? 0), ends);
        string path = Path.Combine(directory, "commit");
        using IJournalFile commitFile = fs.Open(path, create: true);
        JournalFormatCommit.WriteFile(commitFile, commit);
        JournalFormatCommit.WriteFile(commitFile, commit with { Sequence = commit.Sequence + 1 });
    }

    private static CommitPoint? ReadCommit(IJournalFileSystem fs, string directory)
    {
        string path = Path.Combine(directory, "commit");
        if (!fs.Exists(path))
        {
            return null;
        }
        using IJournalFile file = fs.Open(path, create: false);
        return JournalFormatCommit.ReadFile(file);
    }

    private static List<int> SegmentNumbers(IJournalFileSystem fs, string directory) =>
        [.. fs.List(directory, ".seg").Select(f => JournalFormat.TryParseSegmentName(Path.GetFileName(f), out int n) ? n : -1).Where(n => n >= 0).Order()];
}
