namespace Sidep.Indicators;

/// <summary>Sex as counted: SPF's <c>_f</c> and <c>_h</c> columns, and persons whose sex is not known (totals only).</summary>
public static class CountedSex
{
    public const int Female = 0;
    public const int Male = 1;
    public const int Unknown = 2;
    public const int Count = 3;
}

/// <summary>
/// A cell of the indicators: département of residence (or unknown) × age class (or unknown) × sex (or unknown). The
/// finest grain Sidep counts in; every published row is a sum of cells.
/// </summary>
public static class Cells
{
    /// <summary>Départements + 1 (unknown) × 11 ages (ten classes + unknown) × 3 sexes.</summary>
    public static readonly int Count = (Geography.France.Departements.Count + 1) * AgeClasses.Count * CountedSex.Count;

    /// <summary><paramref name="departement"/> may be <see cref="Geography.UnknownDepartement"/>; <paramref name="ageClass"/>
    /// may be <see cref="AgeClasses.Unknown"/>.</summary>
    public static short Of(int departement, int ageClass, int sex) =>
        (short)((((departement + 1) * AgeClasses.Count) + ageClass) * CountedSex.Count + sex);

    public static int Departement(int cell) => cell / (AgeClasses.Count * CountedSex.Count) - 1;

    public static int AgeClass(int cell) => cell / CountedSex.Count % AgeClasses.Count;

    public static int Sex(int cell) => cell % CountedSex.Count;
}

/// <summary>
/// P and T per sample day and cell. Days are <see cref="DateOnly.DayNumber"/>s; each day holds one array of
/// 2 × <see cref="Cells.Count"/> counters (P then T per cell), about 28 KB, so a year is about 10 MB whatever the volume.
/// Not thread-safe.
/// </summary>
public sealed class CountTable
{
    private readonly Dictionary<int, int[]> _days = [];

    public int MinDay { get; private set; } = int.MaxValue;
    public int MaxDay { get; private set; } = int.MinValue;
    public bool IsEmpty => _days.Count == 0;

    public void Add(int day, int cell, int dp, int dt)
    {
        int[] counts = Day(day, create: true)!;
        counts[2 * cell] += dp;
        counts[2 * cell + 1] += dt;
    }

    /// <summary>The counters of a day (P at 2 × cell, T at 2 × cell + 1), or null when nothing was ever counted on it.</summary>
    public int[]? Day(int day, bool create = false)
    {
        if (_days.TryGetValue(day, out int[]? counts) || !create)
        {
            return counts;
        }
        counts = new int[2 * Cells.Count];
        _days[day] = counts;
        MinDay = Math.Min(MinDay, day);
        MaxDay = Math.Max(MaxDay, day);
        return counts;
    }

    public int P(int day, int cell) => Day(day) is int[] c ? c[2 * cell] : 0;

    public int T(int day, int cell) => Day(day) is int[] c ? c[2 * cell + 1] : 0;

    /// <summary>A copy of the days in [<paramref name="fromDay"/>, <paramref name="toDay"/>].</summary>
    public CountTable Copy(int fromDay = int.MinValue, int toDay = int.MaxValue)
    {
        var copy = new CountTable();
        foreach ((int day, int[] counts) in _days)
        {
            if (day >= fromDay && day <= toDay)
            {
                copy._days[day] = (int[])counts.Clone();
                copy.MinDay = Math.Min(copy.MinDay, day);
                copy.MaxDay = Math.Max(copy.MaxDay, day);
            }
        }
        return copy;
    }

    /// <summary>Every non-zero counter, ordered: for comparisons and tests.</summary>
    public IEnumerable<(int Day, int Cell, int P, int T)> NonZero()
    {
        foreach (int day in _days.Keys.Order())
        {
            int[] c = _days[day];
            for (int cell = 0; cell < Cells.Count; cell++)
            {
                if (c[2 * cell] != 0 || c[2 * cell + 1] != 0)
                {
                    yield return (day, cell, c[2 * cell], c[2 * cell + 1]);
                }
            }
        }
    }
}
