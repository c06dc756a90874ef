using System.Collections.Frozen;
using System.Text;
using Sidep.Domain;

namespace Sidep.Indicators;

/// <summary>
/// The territories of the indicators: the 104 départements of SPF's population file (101 départements plus 975, 977,
/// 978), in SPF's order (ordinal: … 29, 2A, 2B, 30 … 95, 971 …), their région (INSEE 2019) and their population per
/// <c>cl_age90</c> class. Residence is read from the INSEE commune code, else the postcode.
/// </summary>
public sealed class Geography
{
    public const int UnknownDepartement = -1;

    private readonly FrozenDictionary<string, int> _depIndex;
    private readonly FrozenDictionary<string, int>.AlternateLookup<ReadOnlySpan<char>> _depBySpan;
    private readonly FrozenDictionary<string, int> _regIndex;

    private Geography(string[] deps, decimal[,] population, string[] depRegion, string[] regions)
    {
        Departements = deps;
        _depIndex = deps.Select((d, i) => (d, i)).ToFrozenDictionary(x => x.d, x => x.i, StringComparer.Ordinal);
        _depBySpan = _depIndex.GetAlternateLookup<ReadOnlySpan<char>>();
        Regions = regions;
        _regIndex = regions.Select((r, i) => (r, i)).ToFrozenDictionary(x => x.r, x => x.i, StringComparer.Ordinal);
        RegionOfDepartement = depRegion.Select(r => _regIndex.TryGetValue(r, out int i) ? i : -1).ToArray();
        _population = population;
        DepartementsOfRegion = regions.Select((_, r) => Enumerable.Range(0, deps.Length).Where(d => RegionOfDepartement[d] == r).ToArray()).ToArray();
    }

    private readonly decimal[,] _population;

    /// <summary>Département codes in output order.</summary>
    public IReadOnlyList<string> Departements { get; }

    /// <summary>Région codes (INSEE 2019) in output order.</summary>
    public IReadOnlyList<string> Regions { get; }

    /// <summary>Index of each département's région, or -1 (975, 977, 978 belong to no région).</summary>
    public IReadOnlyList<int> RegionOfDepartement { get; }

    public IReadOnlyList<int[]> DepartementsOfRegion { get; }

    public static Geography France { get; } = Load();

    public int DepartementIndex(string code) => _depIndex.TryGetValue(code, out int i) ? i : UnknownDepartement;

    private int DepartementIndex(ReadOnlySpan<char> code) => _depBySpan.TryGetValue(code, out int i) ? i : UnknownDepartement;

    public int RegionIndex(string code) => _regIndex.TryGetValue(code, out int i) ? i : -1;

    /// <summary>Population of a département in an age class (<see cref="AgeClasses.All"/> for all ages), as published:
    /// whole numbers for départements, fractional estimates for 977 and 978.</summary>
    public decimal Population(int departement, int ageClass) => _population[departement, ageClass];

    /// <summary>The département of residence, from the INSEE commune code first (2A004 → 2A, 97105 → 971), else the
    /// postcode (20000–20199 → 2A, 20200–20699 → 2B, 97xxx → 97x); <see cref="UnknownDepartement"/> when neither
    /// names one, or the address is abroad.</summary>
    public int Residence(Address? address)
    {
        if (address is null || address.Country is string country && !IsFrance(country))
        {
            return UnknownDepartement;
        }
        if (address.CommuneCode is { Length: 5 } commune)
        {
            int fromCommune = DepartementIndex(commune.AsSpan(0, commune.StartsWith("97", StringComparison.Ordinal) ? 3 : 2));
            if (fromCommune != UnknownDepartement)
            {
                return fromCommune;
            }
        }
        return address.PostalCode is string postcode ? FromPostcode(postcode.AsSpan().Trim()) : UnknownDepartement;
    }

    public int FromPostcode(string postcode) => FromPostcode(postcode.AsSpan());

    private int FromPostcode(ReadOnlySpan<char> postcode)
    {
        if (postcode.Length != 5 || postcode.ContainsAnyExceptInRange('0', '9'))
        {
            return UnknownDepartement;
        }
        if (postcode.StartsWith("20", StringComparison.Ordinal))
        {
            return DepartementIndex(postcode[2] < '2' ? "2A" : "2B");
        }
        return DepartementIndex(postcode[..(postcode.StartsWith("97", StringComparison.Ordinal) ? 3 : 2)]);
    }

    private static bool IsFrance(string country) => country.AsSpan().Trim() is var c
        && (c.IsEmpty || c.Equals("FR", StringComparison.OrdinalIgnoreCase) || c.Equals("FRA", StringComparison.OrdinalIgnoreCase)
            || c.Equals("FRANCE", StringComparison.OrdinalIgnoreCase) || c.SequenceEqual("250"));

    private static Geography Load()
    {
        var pop = new SortedDictionary<string, decimal[]>(StringComparer.Ordinal);
        foreach (string line in Lines("population_dep_age_2020.csv").Skip(1))
        {
            string[] f = line.Split(';');
            int age = AgeClasses.Parse(f[1]);
            if (!pop.TryGetValue(f[0], out decimal[]? byAge))
            {
                pop[f[0]] = byAge = new decimal[AgeClasses.Count];
            }
            byAge[age] = decimal.Parse(f[2], System.Globalization.NumberStyles.Number, System.Globalization.CultureInfo.InvariantCulture);
        }
        var depRegion = new Dictionary<string, string>(StringComparer.Ordinal);
        foreach (string line in Lines("cog_departement2019.csv").Skip(1))
        {
            string[] f = line.Split(',');
            depRegion[f[0].Trim('"')] = f[1].Trim('"');
        }
        string[] regions = Lines("cog_region2019.csv").Skip(1).Select(l => l.Split(',')[0].Trim('"')).Order(StringComparer.Ordinal).ToArray();
        string[] deps = [.. pop.Keys];
        var population = new decimal[deps.Length, AgeClasses.Count];
        for (int d = 0; d < deps.Length; d++)
        {
            for (int a = 0; a < AgeClasses.Count; a++)
            {
                population[d, a] = pop[deps[d]][a];
            }
        }
        return new Geography(deps, population, deps.Select(d => depRegion.GetValueOrDefault(d, "")).ToArray(), regions);
    }

    private static IEnumerable<string> Lines(string resource)
    {
        using Stream stream = typeof(Geography).Assembly.GetManifestResourceStream(resource)
            ?? throw new InvalidOperationException($"{resource} is missing from the assembly");
        using var reader = new StreamReader(stream, Encoding.UTF8);
        while (reader.ReadLine() is string line)
        {
            if (line.Length > 0)
            {
                yield return line;
            }
        }
    }
}

/// <summary>
/// SPF's <c>cl_age90</c> classes: index 0..9 are 09 (0–9 years), 19, …, 89, 90 (90 and over); <see cref="All"/> is
/// class 0 (all ages), <see cref="Unknown"/> a person whose age is not known (counted in class 0 only).
/// </summary>
public static class AgeClasses
{
    /// <summary>The ten published classes plus "all ages".</summary>
    public const int Count = 11;
    public const int All = 10;
    public const int Unknown = 10;

    private static readonly string[] s_labels = ["09", "19", "29", "39", "49", "59", "69", "79", "89", "90", "0"];

    public static string Label(int index) => s_labels[index];

    public static int Parse(string label) => label == "0" ? All : Array.IndexOf(s_labels, label) is int i and >= 0 ? i : throw new FormatException($"unknown cl_age90 '{label}'");

    public static int OfAge(int years) => years < 0 ? Unknown : Math.Min(years / 10, 9);

    /// <summary>The class on <paramref name="on"/> of a person born on a possibly partial date: when the month or the
    /// day is missing, the class is known only if every possible birth date gives the same one.</summary>
    public static int Of(PartialDate? birth, DateOnly on)
    {
        if (birth is not { } b || b.Year < 1850 || b.Year > on.Year)
        {
            return Unknown;
        }
        if (b.AgeOn(on) is int age)
        {
            return OfAge(age);
        }
        // Youngest and oldest possible ages over the unknown month or day.
        int oldest = new PartialDate(b.Year, b.Month ?? 1, 1).AgeOn(on)!.Value;
        int youngest = new PartialDate(b.Year, b.Month ?? 12, b.Month is int m ? DateTime.DaysInMonth(b.Year, m) : 31).AgeOn(on)!.Value;
        int c = OfAge(oldest);
        return youngest >= 0 && OfAge(youngest) == c ? c : Unknown;
    }
}
