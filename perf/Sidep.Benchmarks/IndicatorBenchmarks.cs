using System.Buffers;
using BenchmarkDotNet.Attributes;
using Sidep.Indicators;

namespace Sidep.Benchmarks;

/// <summary>
/// The aggregator (SPF counting rules) and the published tables. The stage benchmark applies one million matched
/// results of a peak period to an empty aggregator: 700,000 persons over 30 sample days (a third of them tested twice
/// or more), 10% positive, cells spread over every département, age class and sex, and 2% of the results corrected
/// later (positive → negative or the reverse). The query benchmark renders the whole département table for a year
/// (104 départements × 365 days × 11 classes = 417,560 rows) from a snapshot, as the endpoint does.
/// </summary>
[MemoryDiagnoser]
public class IndicatorBenchmarks
{
    private const int Results = 1_000_000;
    private IndicatorFact[] _facts = [];
    private CountTable _year = new();
    private readonly ArrayBufferWriter<byte> _output = new(32 << 20);
    private TableRequest _request = null!;

    [GlobalSetup]
    public void Setup()
    {
        var random = new Random(7);
        int firstDay = new DateOnly(2022, 1, 1).DayNumber;
        int deps = Geography.France.Departements.Count;
        _facts = new IndicatorFact[Results];
        for (int i = 0; i < Results; i++)
        {
            bool correction = i > 1000 && random.Next(50) == 0;
            if (correction)
            {
                IndicatorFact earlier = _facts[random.Next(i)];
                _facts[i] = earlier with { Version = earlier.Version + 1, Outcome = earlier.Outcome == Outcome.Positive ? Outcome.Negative : Outcome.Positive };
                continue;
            }
            long person = random.Next(3) == 0 ? random.Next(1, 300_000) : 300_000 + i;
            short cell = Cells.Of(random.Next(deps), random.Next(10), random.Next(2));
            _facts[i] = new IndicatorFact(new UInt128((ulong)i, (ulong)random.NextInt64()), 1, person, firstDay + random.Next(30),
                random.Next(10) == 0 ? Outcome.Positive : Outcome.Negative, cell);
        }

        int yearStart = new DateOnly(2021, 1, 1).DayNumber;
        for (int day = yearStart; day < yearStart + 365; day++)
        {
            for (int cell = 0; cell < Cells.Count; cell++)
            {
                _year.Add(day, cell, random.Next(20), random.Next(200));
            }
        }
        _request = new TableRequest(Level.Dep, DateOnly.FromDayNumber(yearStart), DateOnly.FromDayNumber(yearStart + 364));
    }

    [Benchmark(Description = "aggregate 1M matched results (per result)", OperationsPerInvoke = Results)]
    public int Aggregate()
    {
        var aggregator = new Aggregator();
        foreach (ref readonly IndicatorFact fact in _facts.AsSpan())
        {
            aggregator.Apply(fact);
        }
        return aggregator.ResultCount;
    }

    [Benchmark(Description = "dep daily.csv, one year (snapshot + render)")]
    public int DepartementYearCsv() => Render(Tables.WriteDailyCsv);

    [Benchmark(Description = "dep rates.csv, one year (snapshot + render)")]
    public int DepartementYearRates() => Render(Tables.WriteRatesCsv);

    private int Render(Func<CountTable, TableRequest, IBufferWriter<byte>, int> write)
    {
        _output.ResetWrittenCount();
        write(_year.Copy(_year.MinDay, _year.MaxDay), _request, _output);
        return _output.WrittenCount;
    }
}
