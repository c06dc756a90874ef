using Sidep.Journal;

namespace Sidep.Host;

public static partial class Cli
{
    /// <summary><c>sidep journal verify|repair</c>: the embedded journals of a data directory (results, and the identity
    /// stage's output) read record by record.</summary>
    private static Command JournalCommand()
    {
        Option<string> verifyDir = DataDirOption();
        var verify = new Command("verify", "Read every record of the data directory's journals and check it: report each damaged range (file, byte, what is " +
            "beyond it, what it held); change nothing. Exit 0: clean; 1: acknowledged records are damaged") { verifyDir };
        verify.SetAction(parse =>
        {
            bool clean = true;
            foreach (string journal in Journals(parse.GetValue(verifyDir)!))
            {
                JournalVerifyReport report = JournalTool.Verify(journal);
                Console.Write(report.Describe());
                clean &= report.Clean;
            }
            return clean ? 0 : 1;
        });

        Option<string> repairDir = DataDirOption();
        var repair = new Command("repair", "Move every damaged range of the data directory's journals aside (into damaged/, kept, never deleted), keep " +
            "everything else where it is, and list the submissions and results the ranges held, so that labs can be asked to resend them. Run it with Sidep stopped") { repairDir };
        repair.SetAction(parse =>
        {
            foreach (string journal in Journals(parse.GetValue(repairDir)!))
            {
                (JournalVerifyReport report, IReadOnlyList<string> moved) = JournalTool.Repair(journal);
                Console.Write(report.Describe());
                foreach (string file in moved)
                {
                    Console.WriteLine($"  moved aside: {file}");
                }
                if (!report.Clean)
                {
                    Console.WriteLine($"  repaired: {journal} opens again; the records listed above are gone from it (their numbers are kept, so the stages' positions hold)");
                }
            }
            return 0;
        });
        return new Command("journal", "The embedded mode's journal (the system of record): verify it, repair it") { verify, repair };
    }

    /// <summary>The journals of a data directory: the results' (log) and the stages' in-process topics (the matched
    /// results, the cases topic).</summary>
    private static IEnumerable<string> Journals(string dataDirectory)
    {
        string topics = Path.Combine(dataDirectory, "pipeline", "topics");
        return new[] { Path.Combine(dataDirectory, "log") }.Where(Directory.Exists)
            .Concat(Directory.Exists(topics) ? Directory.EnumerateDirectories(topics).Order(StringComparer.Ordinal) : []);
    }
}
