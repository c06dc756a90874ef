using Microsoft.Diagnostics.Tracing;
using Microsoft.Diagnostics.Tracing.Etlx;
using Microsoft.Diagnostics.Tracing.Parsers.Clr;

namespace Sidep.Benchmarks;

/// <summary>
/// `allocations TRACE.nettrace [TOP]`: where a running Sidep allocates, from the runtime's allocation samples (one
/// event about every 100 KB a heap allocates, with the type allocated and the stack), collected with
/// `dotnet-trace collect -p PID --providers Microsoft-Windows-DotNETRuntime:0x1:5 --duration 00:00:00:20`.
/// Prints the sampled bytes by type, and by allocating site: the innermost Sidep method on the stack, with the frame
/// that allocated when that is outside Sidep. perf/README.md ("Allocations") was measured so.
/// </summary>
internal static class AllocationProfile
{
    public static void Run(string trace, int top)
    {
        string etlx = TraceLog.CreateFromEventPipeDataFile(trace);
        using var log = new TraceLog(etlx);
        var byType = new Dictionary<string, long>(StringComparer.Ordinal);
        var bySite = new Dictionary<string, long>(StringComparer.Ordinal);
        long total = 0;
        foreach (TraceEvent e in log.Events)
        {
            if (e is not GCAllocationTickTraceData tick)
            {
                continue;
            }
            long amount = tick.AllocationAmount64;
            total += amount;
            Add(byType, tick.TypeName ?? "?", amount);
            Add(bySite, $"{Site(e.CallStack())}  [{tick.TypeName}]", amount);
        }
        Console.WriteLine($"{total / 1e6:F0} MB sampled");
        Print("by type", byType, total, top);
        Print("by site (innermost Sidep method ← frame that allocated) [type]", bySite, total, top);
    }

    private static string Site(TraceCallStack? stack)
    {
        string? leaf = null;
        for (TraceCallStack? s = stack; s is not null; s = s.Caller)
        {
            string method = s.CodeAddress.FullMethodName;
            if (string.IsNullOrEmpty(method))
            {
                continue;
            }
            if (method.StartsWith("Sidep.", StringComparison.Ordinal))
            {
                return leaf is null ? Short(method) : $"{Short(method)} ← {Short(leaf)}";
            }
            leaf ??= method;
        }
        return leaf is null ? "?" : Short(leaf);
    }

    private static string Short(string method)
    {
        int paren = method.IndexOf('(', StringComparison.Ordinal);
        return paren < 0 ? method : method[..paren];
    }

    private static void Add(Dictionary<string, long> into, string key, long amount) =>
        into[key] = into.GetValueOrDefault(key) + amount;

    private static void Print(string title, Dictionary<string, long> sampled, long total, int top)
    {
        Console.WriteLine($"-- {title}");
        foreach ((string key, long bytes) in sampled.OrderByDescending(p => p.Value).Take(top))
        {
            Console.WriteLine($"{100.0 * bytes / total,5:F1} %  {bytes / 1e6,7:F0} MB  {key}");
        }
    }
}
