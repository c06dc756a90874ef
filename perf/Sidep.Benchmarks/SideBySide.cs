using System.Diagnostics;
using System.Globalization;
using System.Reflection;
using BenchmarkDotNet.Attributes;

namespace Sidep.Benchmarks;

/// <summary>
/// `side-by-side CLASS A B [ROUNDS] [SECONDS]`: two benchmark methods of one class run in one process, alternating round
/// by round (A for SECONDS, then B, ROUNDS times; for each value of the class's parameter, or only the one
/// SIDEP_LOOP_PARAM names), and the median of the rounds' ratios printed. On a shared machine whose load moves minute by
/// minute, the ratio of two runs made side by side holds where two BenchmarkDotNet runs made apart do not: a neighbour's
/// burst slows both sides of a round.
/// </summary>
public static class SideBySide
{
    public static void Run(string type, string a, string b, int rounds, double seconds)
    {
        Type benchmarks = typeof(SideBySide).Assembly.GetTypes().Single(t => t.Name == type);
        PropertyInfo? parameter = benchmarks.GetProperties().SingleOrDefault(p => p.GetCustomAttribute<ParamsAttribute>() is not null);
        string? wanted = Environment.GetEnvironmentVariable("SIDEP_LOOP_PARAM");
        object?[] values = parameter?.GetCustomAttribute<ParamsAttribute>()!.Values
            .Where(v => wanted is null || Convert.ToString(v, CultureInfo.InvariantCulture) == wanted).ToArray() ?? [null];
        Console.WriteLine($"{type}: {a} against {b}, {rounds} rounds of {seconds} s each side, alternated");
        foreach (object? value in values)
        {
            object instance = Activator.CreateInstance(benchmarks)!;
            parameter?.SetValue(instance, value);
            benchmarks.GetMethods().Single(m => m.GetCustomAttribute<GlobalSetupAttribute>() is not null).Invoke(instance, null);
            Func<int> runA = Method(benchmarks, a, instance), runB = Method(benchmarks, b, instance);
            Measure(runA, 0.5); // warm-up: both tiered up before the first round
            Measure(runB, 0.5);
            var timesA = new List<double>();
            var timesB = new List<double>();
            for (int round = 0; round < rounds; round++)
            {
                timesA.Add(Measure(runA, seconds));
                timesB.Add(Measure(runB, seconds));
            }
            double[] ratios = [.. timesA.Zip(timesB, (x, y) => y / x)];
            double ratio = Median(ratios);
            string bytes = instance is IMeasuredBytes measured
                ? $", {measured.BytesOf(a) / Median(timesA):F0} and {measured.BytesOf(b) / Median(timesB):F0} MB/s"
                : "";
            Console.WriteLine((parameter is null ? "" : $"{parameter.Name}={Convert.ToString(value, CultureInfo.InvariantCulture)}: ") +
                $"{a} {Median(timesA):F1} µs, {b} {Median(timesB):F1} µs a call (medians){bytes}; {b} ÷ {a}: median {ratio:F2} " +
                $"(rounds {ratios.Min():F2}–{ratios.Max():F2})");
        }
    }

    private static Func<int> Method(Type type, string name, object instance) =>
        (type.GetMethod(name) ?? throw new ArgumentException($"{type.Name} has no method {name}")).CreateDelegate<Func<int>>(instance);

    /// <summary>Microseconds a call, calling for about <paramref name="seconds"/>.</summary>
    private static double Measure(Func<int> run, double seconds)
    {
        var clock = Stopwatch.StartNew();
        long calls = 0;
        while (clock.Elapsed.TotalSeconds < seconds)
        {
            run();
            calls++;
        }
        return clock.Elapsed.TotalMilliseconds * 1000 / calls;
    }

    private static double Median(IEnumerable<double> values)
    {
        double[] sorted = [.. values.Order()];
        return sorted.Length % 2 == 1 ? sorted[sorted.Length / 2] : (sorted[sorted.Length / 2 - 1] + sorted[sorted.Length / 2]) / 2;
    }
}
