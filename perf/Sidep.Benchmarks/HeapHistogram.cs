using Microsoft.Diagnostics.Runtime;

namespace Sidep.Benchmarks;

/// <summary>
/// `heap PID [TYPE]`: what a running Sidep's managed heap holds, by type (count and bytes, the largest first), read with
/// ClrMD from the live process (suspended while it is walked); with TYPE, what refers to a sample of that type's
/// objects, two levels up. Force a full collection first to see only what is live:
/// `dotnet-trace collect -p PID --profile gc-collect --duration 00:00:00:05`. perf/README.md ("Memory") was measured so.
/// </summary>
internal static class HeapHistogram
{
    public static void Run(int pid, string? type)
    {
        using DataTarget target = DataTarget.AttachToProcess(pid, suspend: true);
        ClrInfo clr = target.ClrVersions[0];
        // The runtime's own data access library, beside the target's libcoreclr (no symbol server here).
        string dac = Path.Combine(Path.GetDirectoryName(clr.ModuleInfo.FileName)!, "libmscordaccore.so");
        using ClrRuntime runtime = clr.CreateRuntime(dac, ignoreMismatch: true);
        ClrHeap heap = runtime.Heap;

        var byType = new Dictionary<string, (long Count, long Bytes)>();
        var sample = new HashSet<ulong>();
        long objects = 0, bytes = 0, ofType = 0;
        foreach (ClrObject o in heap.EnumerateObjects())
        {
            if (!o.IsValid)
            {
                continue;
            }
            string name = o.Type?.Name ?? "?";
            (long count, long size) = byType.GetValueOrDefault(name);
            byType[name] = (count + 1, size + (long)o.Size);
            objects++;
            bytes += (long)o.Size;
            if (name == type && ofType++ % 200 == 0)
            {
                sample.Add(o.Address);
            }
        }
        Console.WriteLine($"{objects:N0} objects, {bytes / 1048576.0:N0} MB");
        foreach ((string name, (long count, long size)) in byType.OrderByDescending(t => t.Value.Bytes).Take(40))
        {
            Console.WriteLine($"{size / 1048576.0,10:N1} MB {count,12:N0}  {name}");
        }
        if (type is null)
        {
            return;
        }
        Dictionary<ulong, ulong> parents = ReferrersOf(heap, sample);
        Dictionary<ulong, ulong> grandparents = ReferrersOf(heap, [.. parents.Values]);
        Console.WriteLine($"{type}: {ofType:N0} objects, {sample.Count:N0} sampled, {parents.Count:N0} with a referrer found; referred to by (<- by):");
        foreach (var group in parents.GroupBy(p => $"{heap.GetObjectType(p.Value)?.Name ?? "?"}  <-  " +
            (grandparents.TryGetValue(p.Value, out ulong g) ? heap.GetObjectType(g)?.Name ?? "?" : "(a root)")).OrderByDescending(g => g.Count()).Take(25))
        {
            Console.WriteLine($"{group.Count(),8:N0}  {group.Key}");
        }
    }

    /// <summary>One object referring to each of <paramref name="targets"/> (a walk of the whole heap).</summary>
    private static Dictionary<ulong, ulong> ReferrersOf(ClrHeap heap, HashSet<ulong> targets)
    {
        var found = new Dictionary<ulong, ulong>();
        foreach (ClrObject o in heap.EnumerateObjects())
        {
            if (!o.IsValid || o.Type is null)
            {
                continue;
            }
            foreach (ClrObject referred in o.EnumerateReferences())
            {
                if (targets.Contains(referred.Address))
                {
                    found.TryAdd(referred.Address, o.Address);
                }
            }
        }
        return found;
    }
}
