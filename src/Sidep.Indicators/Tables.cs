using System.Buffers;
using System.Buffers.Text;
using System.Globalization;
using System.Text;
using System.Text.Json;

namespace Sidep.Indicators;

/// <summary>The geographic level of a table: SPF's <c>dep</c>, <c>reg</c> and <c>fra</c> files.</summary>
public enum Level { Dep, Reg, Fra }

/// <summary>How a daily table is laid out: SPF's files since 2020-05 with the sex split
/// (<c>dep;jour;P_f;P_h;P;T_f;T_h;T;cl_age90;pop</c>), or its first 2020 layout (<c>dep;jour;P;T;cl_age90;pop</c>).</summary>
public enum Layout { Current, Spf2020 }

/// <summary>What to render: the level, the sample days (default: every day that has counts), the units (default all),
/// and small-cell suppression for open data (counts from 1 to <see cref="SuppressBelow"/> − 1 left empty).</summary>
public sealed record TableRequest(Level Level, DateOnly? From = null, DateOnly? To = null, IReadOnlyCollection<string>? Units = null,
    int SuppressBelow = 0, Layout Layout = Layout.Current);

/// <summary>
/// Renders the indicators the way Santé publique France publishes them: one row per unit × sample day × <c>cl_age90</c>
/// (09 … 90, then 0 for all ages), units in code order, days in order, `;`-separated, LF line ends, no quoting.
/// Persons of unknown sex count in P and T but in neither P_f nor P_h; of unknown age only in class 0; of unknown
/// département only at the national level — as SPF does. Rates are over 7 sliding days ending on the row's day:
/// incidence and screening per 100,000 inhabitants, positivity in %.
/// </summary>
public static class Tables
{
    private const int Values = 6; // P_f, P_h, P, T_f, T_h, T

    /// <summary>The column holding the unit code: <c>dep</c>, <c>reg</c> or <c>fra</c>.</summary>
    public static string UnitColumn(Level level) => level switch { Level.Dep => "dep", Level.Reg => "reg", _ => "fra" };

    /// <summary>The units of a level and the départements each sums (-1: unknown département, national only).</summary>
    public static List<(string Code, int[] Departements)> Units(Level level, IReadOnlyCollection<string>? only = null)
    {
        Geography g = Geography.France;
        List<(string, int[])> units = level switch
        {
            Level.Dep => g.Departements.Select((d, i) => (d, new[] { i })).ToList(),
            Level.Reg => g.Regions.Select((r, i) => (r, g.DepartementsOfRegion[i])).Where(u => u.Item2.Length > 0).ToList(),
            _ => [("FR", [Geography.UnknownDepartement, .. Enumerable.Range(0, g.Departements.Count)])],
        };
        return only is null || only.Count == 0 ? units : units.Where(u => only.Contains(u.Item1)).ToList();
    }

    /// <summary>The days a request covers: its bounds, else the table's first and last day with counts.</summary>
    public static (int From, int To) Days(CountTable table, TableRequest request) =>
        (request.From?.DayNumber ?? (table.IsEmpty ? 0 : table.MinDay), request.To?.DayNumber ?? (table.IsEmpty ? -1 : table.MaxDay));

    /// <summary>The daily table as CSV; returns the number of values suppressed.</summary>
    public static int WriteDailyCsv(CountTable table, TableRequest request, IBufferWriter<byte> output)
    {
        var w = new CsvWriter(output);
        string unitColumn = UnitColumn(request.Level);
        w.Raw(request.Layout == Layout.Spf2020 ? $"{unitColumn};jour;P;T;cl_age90;pop\n" : $"{unitColumn};jour;P_f;P_h;P;T_f;T_h;T;cl_age90;pop\n");
        (int from, int to) = Days(table, request);
        int suppressed = 0;
        int[] series = [];
        foreach ((string code, int[] deps) in Units(request.Level, request.Units))
        {
            byte[] unit = Encoding.ASCII.GetBytes(code);
            series = Series(table, deps, from, to, series);
            decimal[] pop = Population(deps);
            for (int day = from; day <= to; day++)
            {
                byte[] date = DateBytes(day);
                for (int k = 0; k < AgeClasses.Count; k++)
                {
                    int age = k; // 09 … 90 then 0 (all ages), as published
                    ReadOnlySpan<int> v = series.AsSpan(((day - from) * AgeClasses.Count + age) * Values, Values);
                    w.Bytes(unit).Sep().Bytes(date).Sep();
                    if (request.Layout == Layout.Spf2020)
                    {
                        suppressed += w.Count(v[2], request.SuppressBelow);
                        w.Sep();
                        suppressed += w.Count(v[5], request.SuppressBelow);
                    }
                    else
                    {
                        for (int i = 0; i < Values; i++)
                        {
                            suppressed += w.Count(v[i], request.SuppressBelow);
                            if (i < Values - 1)
                            {
                                w.Sep();
                            }
                        }
                    }
                    w.Sep().Raw(AgeClasses.Label(age)).Sep().Decimal(pop[age]).Line();
                }
            }
        }
        w.Flush();
        return suppressed;
    }

    /// <summary>The daily table as a JSON array of rows named like the CSV columns (suppressed values are null).</summary>
    public static int WriteDailyJson(CountTable table, TableRequest request, IBufferWriter<byte> output)
    {
        using var json = new Utf8JsonWriter(output);
        string unitColumn = UnitColumn(request.Level);
        (int from, int to) = Days(table, request);
        int suppressed = 0;
        int[] series = [];
        string[] names = ["P_f", "P_h", "P", "T_f", "T_h", "T"];
        json.WriteStartArray();
        foreach ((string code, int[] deps) in Units(request.Level, request.Units))
        {
            series = Series(table, deps, from, to, series);
            decimal[] pop = Population(deps);
            for (int day = from; day <= to; day++)
            {
                string date = DateOnly.FromDayNumber(day).ToString("yyyy-MM-dd", CultureInfo.InvariantCulture);
                for (int age = 0; age < AgeClasses.Count; age++)
                {
                    ReadOnlySpan<int> v = series.AsSpan(((day - from) * AgeClasses.Count + age) * Values, Values);
                    json.WriteStartObject();
                    json.WriteString(unitColumn, code);
                    json.WriteString("jour", date);
                    for (int i = 0; i < Values; i++)
                    {
                        if (request.Layout == Layout.Spf2020 && i is not (2 or 5))
                        {
                            continue;
                        }
                        if (Suppressed(v[i], request.SuppressBelow))
                        {
                            json.WriteNull(names[i]);
                            suppressed++;
                        }
                        else
                        {
                            json.WriteNumber(names[i], v[i]);
                        }
                    }
                    json.WriteString("cl_age90", AgeClasses.Label(age));
                    json.WriteNumber("pop", pop[age]);
                    json.WriteEndObject();
                }
            }
        }
        json.WriteEndArray();
        return suppressed;
    }

    /// <summary>One row of the rates table.</summary>
    public readonly record struct RateRow(string Unit, DateOnly Day, int AgeClass, decimal Population, int P7, int T7)
    {
        /// <summary>7-day P per 100,000 inhabitants.</summary>
        public double? Incidence => Population > 0 ? P7 * 100_000d / (double)Population : null;

        /// <summary>7-day P over 7-day T, in %.</summary>
        public double? Positivity => T7 > 0 ? P7 * 100d / T7 : null;

        /// <summary>7-day T per 100,000 inhabitants.</summary>
        public double? Screening => Population > 0 ? T7 * 100_000d / (double)Population : null;
    }

    /// <summary>The rates of every unit, day and age class of the request (7-day sums end on the row's day and reach
    /// six days before the first).</summary>
    public static IEnumerable<RateRow> Rates(CountTable table, TableRequest request)
    {
        (int from, int to) = Days(table, request);
        int[] series = [];
        foreach ((string code, int[] deps) in Units(request.Level, request.Units))
        {
            series = Series(table, deps, from - 6, to, series);
            SevenDaySums(series, to - from + 7);
            decimal[] pop = Population(deps);
            for (int day = from; day <= to; day++)
            {
                for (int age = 0; age < AgeClasses.Count; age++)
                {
                    int at = ((day - (from - 6)) * AgeClasses.Count + age) * Values;
                    yield return new RateRow(code, DateOnly.FromDayNumber(day), age, pop[age], series[at + 2], series[at + 5]);
                }
            }
        }
    }

    /// <summary>Turns daily values into sums over the day and the six before it, in place (the first six days keep
    /// partial sums; callers start their rows after them).</summary>
    private static void SevenDaySums(int[] series, int days)
    {
        int stride = AgeClasses.Count * Values;
        for (int day = days - 1; day >= 0; day--)
        {
            // Backwards, so every day still reads the original values of the days before it.
            Span<int> row = series.AsSpan(day * stride, stride);
            for (int back = 1; back <= 6 && day - back >= 0; back++)
            {
                ReadOnlySpan<int> earlier = series.AsSpan((day - back) * stride, stride);
                for (int i = 0; i < stride; i++)
                {
                    row[i] += earlier[i];
                }
            }
        }
    }

    /// <summary>The rates table as CSV (<c>dep;jour;cl_age90;pop;P_7j;T_7j;tx_incid;tx_pos;tx_dep</c>, rates rounded to
    /// two decimals, empty when undefined or suppressed); returns the number of values suppressed.</summary>
    public static int WriteRatesCsv(CountTable table, TableRequest request, IBufferWriter<byte> output)
    {
        var w = new CsvWriter(output);
        w.Raw($"{UnitColumn(request.Level)};jour;cl_age90;pop;P_7j;T_7j;tx_incid;tx_pos;tx_dep\n");
        int suppressed = 0;
        foreach (RateRow r in Rates(table, request))
        {
            bool hideP = Suppressed(r.P7, request.SuppressBelow), hideT = Suppressed(r.T7, request.SuppressBelow);
            suppressed += (hideP ? 1 : 0) + (hideT ? 1 : 0);
            w.Raw(r.Unit).Sep().Bytes(DateBytes(r.Day.DayNumber)).Sep().Raw(AgeClasses.Label(r.AgeClass)).Sep().Decimal(r.Population).Sep();
            w.Count(r.P7, request.SuppressBelow);
            w.Sep();
            w.Count(r.T7, request.SuppressBelow);
            w.Sep().Rate(hideP ? null : r.Incidence).Sep().Rate(hideP || hideT ? null : r.Positivity).Sep().Rate(hideT ? null : r.Screening).Line();
        }
        w.Flush();
        return suppressed;
    }

    /// <summary>The rates table as a JSON array.</summary>
    public static int WriteRatesJson(CountTable table, TableRequest request, IBufferWriter<byte> output)
    {
        using var json = new Utf8JsonWriter(output);
        string unitColumn = UnitColumn(request.Level);
        int suppressed = 0;
        json.WriteStartArray();
        foreach (RateRow r in Rates(table, request))
        {
            bool hideP = Suppressed(r.P7, request.SuppressBelow), hideT = Suppressed(r.T7, request.SuppressBelow);
            suppressed += (hideP ? 1 : 0) + (hideT ? 1 : 0);
            json.WriteStartObject();
            json.WriteString(unitColumn, r.Unit);
            json.WriteString("jour", r.Day.ToString("yyyy-MM-dd", CultureInfo.InvariantCulture));
            json.WriteString("cl_age90", AgeClasses.Label(r.AgeClass));
            json.WriteNumber("pop", r.Population);
            WriteOptional(json, "P_7j", hideP ? null : r.P7);
            WriteOptional(json, "T_7j", hideT ? null : r.T7);
            WriteOptional(json, "tx_incid", hideP ? null : Round(r.Incidence));
            WriteOptional(json, "tx_pos", hideP || hideT ? null : Round(r.Positivity));
            WriteOptional(json, "tx_dep", hideT ? null : Round(r.Screening));
            json.WriteEndObject();
        }
        json.WriteEndArray();
        return suppressed;
    }

    private static double? Round(double? rate) => rate is double r ? Math.Round(r, 2, MidpointRounding.AwayFromZero) : null;

    private static void WriteOptional(Utf8JsonWriter json, string name, double? value)
    {
        if (value is double v)
        {
            json.WriteNumber(name, v);
        }
        else
        {
            json.WriteNull(name);
        }
    }

    private static bool Suppressed(int value, int below) => value > 0 && value < below;

    /// <summary>Population per age index (class 0 at <see cref="AgeClasses.All"/>) summed over the unit's départements.</summary>
    private static decimal[] Population(int[] deps)
    {
        var pop = new decimal[AgeClasses.Count];
        foreach (int d in deps)
        {
            if (d == Geography.UnknownDepartement)
            {
                continue;
            }
            for (int a = 0; a < AgeClasses.Count; a++)
            {
                pop[a] += Geography.France.Population(d, a);
            }
        }
        return pop;
    }

    /// <summary>
    /// For each day in [from, to] and age index (0..9, then 10 = all ages): P_f, P_h, P, T_f, T_h, T summed over the
    /// unit's départements. Unknown sex goes to P and T only; unknown age to "all ages" only.
    /// </summary>
    private static int[] Series(CountTable table, int[] deps, int from, int to, int[] reuse)
    {
        int days = Math.Max(0, to - from + 1);
        int length = days * AgeClasses.Count * Values;
        int[] series = reuse.Length >= length ? reuse : new int[length];
        Array.Clear(series, 0, length);
        for (int day = from; day <= to; day++)
        {
            if (table.Day(day) is not int[] counts)
            {
                continue;
            }
            int row = (day - from) * AgeClasses.Count * Values;
            foreach (int dep in deps)
            {
                int first = Cells.Of(dep, 0, 0);
                for (int age = 0; age < AgeClasses.Count; age++)
                {
                    int cell = first + age * CountedSex.Count;
                    int pf = counts[2 * cell], tf = counts[2 * cell + 1];
                    int ph = counts[2 * cell + 2], th = counts[2 * cell + 3];
                    int p = pf + ph + counts[2 * cell + 4], t = tf + th + counts[2 * cell + 5];
                    if (age != AgeClasses.Unknown)
                    {
                        Span<int> v = series.AsSpan(row + age * Values, Values);
                        v[0] += pf; v[1] += ph; v[2] += p; v[3] += tf; v[4] += th; v[5] += t;
                    }
                    Span<int> all = series.AsSpan(row + AgeClasses.All * Values, Values);
                    all[0] += pf; all[1] += ph; all[2] += p; all[3] += tf; all[4] += th; all[5] += t;
                }
            }
        }
        return series;
    }

    private static readonly Dictionary<int, byte[]> s_dates = [];

    private static byte[] DateBytes(int day)
    {
        lock (s_dates)
        {
            if (!s_dates.TryGetValue(day, out byte[]? bytes))
            {
                bytes = Encoding.ASCII.GetBytes(DateOnly.FromDayNumber(day).ToString("yyyy-MM-dd", CultureInfo.InvariantCulture));
                if (s_dates.Count < 100_000)
                {
                    s_dates[day] = bytes;
                }
            }
            return bytes;
        }
    }

    /// <summary>Writes CSV bytes straight into the output, in chunks.</summary>
    private sealed class CsvWriter(IBufferWriter<byte> output)
    {
        private Memory<byte> _memory;
        private int _used;

        private Span<byte> Buffer => _memory.Span;

        private void Ensure(int bytes)
        {
            if (_memory.Length - _used < bytes)
            {
                Flush();
                _memory = output.GetMemory(Math.Max(bytes, 16 * 1024));
            }
        }

        public void Flush()
        {
            if (_used > 0)
            {
                output.Advance(_used);
            }
            _used = 0;
            _memory = default;
        }

        public CsvWriter Bytes(ReadOnlySpan<byte> bytes)
        {
            Ensure(bytes.Length);
            bytes.CopyTo(Buffer[_used..]);
            _used += bytes.Length;
            return this;
        }

        public CsvWriter Raw(string ascii)
        {
            Ensure(ascii.Length);
            _used += Encoding.ASCII.GetBytes(ascii, Buffer[_used..]);
            return this;
        }

        public CsvWriter Sep()
        {
            Ensure(1);
            Buffer[_used++] = (byte)';';
            return this;
        }

        public CsvWriter Line()
        {
            Ensure(1);
            Buffer[_used++] = (byte)'\n';
            return this;
        }

        public CsvWriter Decimal(decimal value)
        {
            Ensure(32);
            Utf8Formatter.TryFormat(value, Buffer[_used..], out int written);
            _used += written;
            return this;
        }

        public CsvWriter Int(long value)
        {
            Ensure(20);
            Utf8Formatter.TryFormat(value, Buffer[_used..], out int written);
            _used += written;
            return this;
        }

        /// <summary>A count, or nothing when suppressed; returns 1 when suppressed.</summary>
        public int Count(int value, int suppressBelow)
        {
            if (Suppressed(value, suppressBelow))
            {
                return 1;
            }
            Int(value);
            return 0;
        }

        public CsvWriter Rate(double? rate)
        {
            if (rate is double r)
            {
                // Two decimals at most, trailing zeros dropped (57.21, 5, 3.5): integer arithmetic on hundredths.
                long hundredths = (long)Math.Round(r * 100, MidpointRounding.AwayFromZero);
                Int(hundredths / 100);
                long fraction = hundredths % 100;
                if (fraction != 0)
                {
                    Ensure(3);
                    Buffer[_used++] = (byte)'.';
                    Buffer[_used++] = (byte)('0' + fraction / 10);
                    if (fraction % 10 != 0)
                    {
                        Buffer[_used++] = (byte)('0' + fraction % 10);
                    }
                }
            }
            return this;
        }
    }
}
