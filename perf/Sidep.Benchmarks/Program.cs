using System.Diagnostics;
using System.Reflection;
using BenchmarkDotNet.Attributes;
using BenchmarkDotNet.Running;

// `loop CLASS METHOD SECONDS`: runs one benchmark method over and over for a profiler to sample (perf record -g -p PID,
// with DOTNET_PerfMapEnabled=1): perf/README.md says how each parser's profile was taken. Its parameters take their
// last value, or the one SIDEP_LOOP_PARAM names (e.g. SIDEP_LOOP_PARAM=1 for one observation). Otherwise BenchmarkDotNet.
if (args is ["loop", string type, string method, string seconds])
{
    Type benchmarks = typeof(Sidep.Benchmarks.Hl7ParserBenchmarks).Assembly.GetTypes().Single(t => t.Name == type);
    object instance = Activator.CreateInstance(benchmarks)!;
    foreach (PropertyInfo p in benchmarks.GetProperties().Where(p => p.GetCustomAttribute<ParamsAttribute>() is not null))
    {
        object?[] values = p.GetCustomAttribute<ParamsAttribute>()!.Values;
        string? wanted = Environment.GetEnvironmentVariable("SIDEP_LOOP_PARAM");
        p.SetValue(instance, values.FirstOrDefault(v => wanted is not null && Convert.ToString(v, System.Globalization.CultureInfo.InvariantCulture) == wanted) ?? values[^1]);
    }
    benchmarks.GetMethods().Single(m => m.GetCustomAttribute<GlobalSetupAttribute>() is not null).Invoke(instance, null);
    MethodInfo run = benchmarks.GetMethod(method)!;
    var clock = Stopwatch.StartNew();
    long calls = 0;
    Console.WriteLine($"pid {Environment.ProcessId}: {type}.{method} for {seconds} s");
    while (clock.Elapsed.TotalSeconds < double.Parse(seconds, System.Globalization.CultureInfo.InvariantCulture))
    {
        run.Invoke(instance, null);
        calls++;
    }
    Console.WriteLine($"{calls} calls, {clock.Elapsed.TotalMilliseconds * 1000 / calls:F1} µs a call");
    return;
}
// `side-by-side CLASS A B [ROUNDS] [SECONDS]`: two methods alternated round by round, the median ratio printed
// (Sidep.Benchmarks.SideBySide): how perf/README.md compares Sidep's parsers with Firely on a noisy machine.
if (args is ["side-by-side", string sideType, string a, string b, ..])
{
    Sidep.Benchmarks.SideBySide.Run(sideType, a, b, args.Length > 4 ? int.Parse(args[4], System.Globalization.CultureInfo.InvariantCulture) : 10,
        args.Length > 5 ? double.Parse(args[5], System.Globalization.CultureInfo.InvariantCulture) : 1);
    return;
}
// `heap PID [TYPE]`: a running process's managed heap by type (Sidep.Benchmarks.HeapHistogram).
if (args is ["heap", string pid, ..])
{
    Sidep.Benchmarks.HeapHistogram.Run(int.Parse(pid, System.Globalization.CultureInfo.InvariantCulture), args.Length > 2 ? args[2] : null);
    return;
}
// `allocations TRACE.nettrace [TOP]`: where a process allocates, from a trace of the runtime's allocation samples
// (Sidep.Benchmarks.AllocationProfile).
if (args is ["allocations", string trace, ..])
{
    Sidep.Benchmarks.AllocationProfile.Run(trace, args.Length > 2 ? int.Parse(args[2], System.Globalization.CultureInfo.InvariantCulture) : 40);
    return;
}
BenchmarkSwitcher.FromAssembly(typeof(Sidep.Benchmarks.Hl7ParserBenchmarks).Assembly).Run(args);
