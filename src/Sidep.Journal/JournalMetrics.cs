using System.Diagnostics.Metrics;

namespace Sidep.Journal;

/// <summary>The journal's metrics (write failures, returns to the last acknowledged end).</summary>
public static class JournalMetrics
{
    public static readonly Meter Meter = new("Sidep.Journal");
}
