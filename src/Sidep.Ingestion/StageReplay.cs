using Sidep.Domain;
using Sidep.Journal;
using Sidep.Pipeline;
using Sidep.Storage.Sqlite;

namespace Sidep.Ingestion;

/// <summary>How an embedded stage rebuilds its in-memory state at start-up: its input, in the log's global order, up
/// to the position it committed, through the same code that processed it the first time.</summary>
internal static class StageReplay
{
    /// <returns>The position reached (the committed one, unless the log holds less).</returns>
    public static long UpTo(EmbeddedLog input, long committed, Action<List<LogEntry>> apply)
    {
        long next = 0;
        while (next < committed)
        {
            List<LogEntry> batch = input.ReadInJournalOrder(next, (int)Math.Min(4096, committed - next));
            if (batch.Count == 0)
            {
                break;
            }
            apply(batch);
            next += batch.Count;
        }
        return next;
    }
}
