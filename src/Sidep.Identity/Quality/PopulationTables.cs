using System.Globalization;
using Sidep.Domain;

namespace Sidep.Identity.Quality;

/// <summary>
/// What a realistic synthetic population is drawn from (the reference files of <c>../shared/reference</c>; ORIGIN.md
/// says where each comes from): the population by département and age class (INSEE 2020), first names by sex and decade
/// of birth (INSEE's births file, 1900–2022), surnames by frequency (INSEE's surnames of births 1891–2000).
/// </summary>
public sealed class PopulationTables
{
    private readonly Weighted<(string Dep, int AgeClass)> _residents;
    private readonly Weighted<string> _surnames;
    private readonly Dictionary<(Sex Sex, int Decade), Weighted<string>> _given;

    private PopulationTables(Weighted<(string, int)> residents, Weighted<string> surnames, Dictionary<(Sex, int), Weighted<string>> given) =>
        (_residents, _surnames, _given) = (residents, surnames, given);

    /// <summary>The day ages are counted on: 10 January 2022, the day SI-DEP peaked.</summary>
    public DateOnly ReferenceDay { get; } = new(2022, 1, 10);

    /// <summary>Reads <c>population_dep_age_2020.csv</c>, <c>insee_prenoms_decade.csv</c> and <c>noms_frequents.csv</c>.</summary>
    public static PopulationTables Load(string referenceDirectory)
    {
        var residents = new Weighted<(string, int)>();
        foreach (string[] row in Rows(Path.Combine(referenceDirectory, "population_dep_age_2020.csv")))
        {
            if (row[1] != "0")
            {
                residents.Add((row[0], row[1] == "90" ? 9 : int.Parse(row[1], CultureInfo.InvariantCulture) / 10), double.Parse(row[2], CultureInfo.InvariantCulture));
            }
        }
        var surnames = new Weighted<string>();
        foreach (string[] row in Rows(Path.Combine(referenceDirectory, "noms_frequents.csv")))
        {
            surnames.Add(row[0], double.Parse(row[1], CultureInfo.InvariantCulture));
        }
        var given = new Dictionary<(Sex, int), Weighted<string>>();
        foreach (string[] row in Rows(Path.Combine(referenceDirectory, "insee_prenoms_decade.csv")))
        {
            var key = (row[0] == "1" ? Sex.Male : Sex.Female, int.Parse(row[2], CultureInfo.InvariantCulture));
            if (!given.TryGetValue(key, out Weighted<string>? names))
            {
                given[key] = names = new Weighted<string>();
            }
            names.Add(row[1], double.Parse(row[3], CultureInfo.InvariantCulture));
        }
        return new PopulationTables(residents, surnames, given);
    }

    private static IEnumerable<string[]> Rows(string path) => File.ReadLines(path).Skip(1).Where(l => l.Length > 0).Select(l => l.Split(';'));

    /// <summary>A resident: their département and age in years, drawn by the population of each (département, age class).</summary>
    public (string Dep, int Age) DrawResident(Random random)
    {
        (string dep, int ageClass) = _residents.Draw(random);
        return (dep, ageClass * 10 + random.Next(10));
    }

    public string DrawSurname(Random random) => _surnames.Draw(random);

    /// <summary>A first name given to children of that sex in that decade, by how often it was.</summary>
    public string DrawGiven(Random random, Sex sex, int birthYear) => _given[(sex, Math.Clamp(birthYear / 10 * 10, 1900, 2020))].Draw(random);

    /// <summary>A home in a département: a postcode and an INSEE commune code of it (Corsica: 20xxx and 2A/2B; overseas:
    /// 97Nxx).</summary>
    public (string Postcode, string Commune) Home(Random random, string dep)
    {
        int n = 1 + random.Next(400);
        return dep switch
        {
            "2A" => ($"20{random.Next(170):D3}", $"2A{n:D3}"),
            "2B" => ($"20{200 + random.Next(99):D3}", $"2B{n:D3}"),
            { Length: 3 } => ($"{dep}{random.Next(100):D2}", $"{dep}{random.Next(100):D2}"),
            _ => ($"{dep}{random.Next(1000):D3}", $"{dep}{n:D3}"),
        };
    }

    /// <summary>Values drawn by weight (a binary search in the cumulative weights).</summary>
    private sealed class Weighted<T>
    {
        private readonly List<T> _values = [];
        private readonly List<double> _cumulative = [];

        public void Add(T value, double weight)
        {
            if (weight > 0)
            {
                _values.Add(value);
                _cumulative.Add((_cumulative.Count == 0 ? 0 : _cumulative[^1]) + weight);
            }
        }

        public T Draw(Random random)
        {
            int i = _cumulative.BinarySearch(random.NextDouble() * _cumulative[^1]);
            return _values[Math.Min(i < 0 ? ~i : i, _values.Count - 1)];
        }
    }
}
