using System.Globalization;
using System.Text;

namespace Sidep.LoadGen;

/// <summary>
/// The published daily counts computed from the generator's truth, the plain way (SPF's rules): for each person, each
/// day they were tested counts in T unless a positive test fell in the 60 days before, and in P if one of that day's
/// tests is positive too; the person-day falls in their département of residence, their age class on that day, their
/// sex (HPRIM Médecin sends none: counted in the totals only).
/// </summary>
public sealed class GroundTruth
{
    /// <summary>(P, T) per (day, département, age class, sex).</summary>
    private readonly Dictionary<(DateOnly Day, string Dep, int Age, TruthSex Sex), (int P, int T)> _counts = [];

    public DateOnly First { get; private set; } = DateOnly.MaxValue;
    public DateOnly Last { get; private set; } = DateOnly.MinValue;

    public static GroundTruth Of(IEnumerable<Truth> truths)
    {
        var truth = new GroundTruth();
        foreach (IGrouping<int, Truth> person in truths.GroupBy(t => t.Person))
        {
            var positiveDays = person.Where(t => t.Positive).Select(t => t.Day).ToHashSet();
            foreach (IGrouping<DateOnly, Truth> day in person.GroupBy(t => t.Day))
            {
                if (positiveDays.Any(d => d < day.Key && d.DayNumber >= day.Key.DayNumber - 60))
                {
                    continue;
                }
                Truth t = day.First();
                var key = (day.Key, t.Dep, t.AgeClass, t.Sex);
                (int p, int n) = truth._counts.GetValueOrDefault(key);
                truth._counts[key] = (p + (positiveDays.Contains(day.Key) ? 1 : 0), n + 1);
                truth.First = day.Key < truth.First ? day.Key : truth.First;
                truth.Last = day.Key > truth.Last ? day.Key : truth.Last;
            }
        }
        return truth;
    }

    private Dictionary<(DateOnly, string, int), int[]>? _rows;

    /// <summary>P_f, P_h, P, T_f, T_h, T of a day, in a département (null: France) and an age class (null: all ages).</summary>
    public int[] Row(DateOnly day, string? dep, int? age)
    {
        if (_rows is null)
        {
            _rows = [];
            foreach (((DateOnly d, string dp, int a, TruthSex sex), (int p, int t)) in _counts)
            {
                foreach ((string, int) at in new[] { (dp, a), (dp, -1), ("", a), ("", -1) })
                {
                    if (!_rows.TryGetValue((d, at.Item1, at.Item2), out int[]? row))
                    {
                        _rows[(d, at.Item1, at.Item2)] = row = new int[6];
                    }
                    if (sex == TruthSex.Female) { row[0] += p; row[3] += t; }
                    if (sex == TruthSex.Male) { row[1] += p; row[4] += t; }
                    row[2] += p;
                    row[5] += t;
                }
            }
        }
        return _rows.GetValueOrDefault((day, dep ?? "", age ?? -1)) ?? new int[6];
    }

    /// <summary>The national daily table by age class, as SPF publishes it (without the population column).</summary>
    public string NationalCsv()
    {
        var sb = new StringBuilder("fra;jour;P_f;P_h;P;T_f;T_h;T;cl_age90\n");
        for (DateOnly day = First; day <= Last; day = day.AddDays(1))
        {
            foreach (int? age in Ages)
            {
                int[] r = Row(day, null, age);
                sb.Append(CultureInfo.InvariantCulture, $"FR;{day:yyyy-MM-dd};{r[0]};{r[1]};{r[2]};{r[3]};{r[4]};{r[5]};{Label(age)}\n");
            }
        }
        return sb.ToString();
    }

    private static readonly int?[] Ages = [0, 1, 2, 3, 4, 5, 6, 7, 8, 9, null];

    private static string Label(int? age) => age is int a ? (a == 9 ? "90" : $"{a}9") : "0";

    private static int? Age(string label) => label == "0" ? null : label == "90" ? 9 : int.Parse(label[..1], CultureInfo.InvariantCulture);

    /// <summary>Compares a published daily table (fra or dep level, SPF's columns) with the truth, row by row; returns how
    /// many rows were compared, how many are equal, and the first differences.</summary>
    public (int Rows, int Equal, List<string> Differences) Compare(string csv, bool national)
    {
        string[] lines = csv.Replace("\r", "", StringComparison.Ordinal).Split('\n', StringSplitOptions.RemoveEmptyEntries);
        string[] header = lines[0].Split(';');
        int Column(string name) => Array.IndexOf(header, name);
        int place = national ? -1 : Column("dep"), jour = Column("jour"), age = Column("cl_age90");
        int[] columns = [Column("P_f"), Column("P_h"), Column("P"), Column("T_f"), Column("T_h"), Column("T")];
        int rows = 0, equal = 0;
        var differences = new List<string>();
        foreach (string line in lines.Skip(1))
        {
            string[] f = line.Split(';');
            var day = DateOnly.ParseExact(f[jour], "yyyy-MM-dd", CultureInfo.InvariantCulture);
            if (day < First || day > Last)
            {
                continue;
            }
            string? dep = national ? null : f[place];
            int[] expected = Row(day, dep, Age(f[age]));
            rows++;
            bool same = true;
            for (int i = 0; i < columns.Length; i++)
            {
                if (columns[i] >= 0 && int.Parse(f[columns[i]], CultureInfo.InvariantCulture) != expected[i])
                {
                    same = false;
                }
            }
            if (same)
            {
                equal++;
            }
            else if (differences.Count < 5)
            {
                differences.Add($"{line} — truth P_f {expected[0]} P_h {expected[1]} P {expected[2]} T_f {expected[3]} T_h {expected[4]} T {expected[5]}");
            }
        }
        return (rows, equal, differences);
    }

    /// <summary>How many rows a complete table holds: days × age classes (× départements).</summary>
    public int ExpectedRows(int departements) => (Last.DayNumber - First.DayNumber + 1) * Ages.Length * departements;
}
