namespace Sidep.Identity.Quality;

/// <summary>Pairwise quality of a matching run against the truth.</summary>
public sealed record QualityReport(
    int Results,
    int TruePersons,
    int FoundPersons,
    long TruePairs,
    long LinkedPairs,
    long CorrectPairs,
    long FalseMergedPairs,
    double Precision,
    double Recall,
    double RecallInsOrExact,
    double FalseMergesPer100000LinkedPairs,
    int PossibleMatches,
    double ReviewShare,
    int Merges,
    double SecondsElapsed)
{
    /// <summary>Runs the matcher over labelled results (one partition per block, as in the pipeline) and counts pairs.</summary>
    public static QualityReport Measure(IReadOnlyList<LabelledResult> results, MatchThresholds thresholds = default)
    {
        var meter = new QualityMeter(thresholds);
        foreach (LabelledResult r in results.OrderBy(r => r.TruePerson))
        {
            meter.Add(r);
        }
        return meter.Report();
    }

    public override string ToString() =>
        $"results {Results:N0}, true persons {TruePersons:N0}, found {FoundPersons:N0}\n" +
        $"pairs: true {TruePairs:N0}, linked {LinkedPairs:N0}, correct {CorrectPairs:N0}, false merges {FalseMergedPairs:N0}\n" +
        $"precision {Precision:P3}, recall {Recall:P3}, recall with INS or exact traits {RecallInsOrExact:P3}\n" +
        $"false merges per 100,000 linked pairs {FalseMergesPer100000LinkedPairs:F2}; possible matches for review {PossibleMatches:N0} ({ReviewShare:P2} of results); merges {Merges:N0}\n" +
        $"matching took {SecondsElapsed:F2} s ({Results / Math.Max(SecondsElapsed, 1e-9):N0} results/s)";
}

/// <summary>
/// Matches labelled results as they come and keeps, per result, only its truth, the person found and whether it is an
/// easy one (INS, or unaltered traits): the quality of a population too large to keep (10 million persons, 20 million
/// results) in a few hundred megabytes beside the matcher's index. Each true person's results come one after the other.
/// </summary>
/// <param name="countedOn">The day ages are counted on for the SPF 2021 key (the population's reference day).</param>
public sealed class QualityMeter(MatchThresholds thresholds = default, DateOnly? countedOn = null)
{
    private readonly Matcher _matcher = new(thresholds);
    private readonly DateOnly _countedOn = countedOn ?? new DateOnly(2022, 1, 10);
    private readonly List<int> _truth = [];
    private readonly List<long> _found = [];
    private readonly List<long> _spf = [];
    private readonly List<byte> _kind = [];
    private readonly System.Diagnostics.Stopwatch _matching = new();

    public void Add(LabelledResult result)
    {
        if (_truth.Count > 0 && result.TruePerson < _truth[^1])
        {
            throw new ArgumentException("a true person's results come one after the other, in order", nameof(result));
        }
        _matching.Start();
        long person = _matcher.Match(result.Identity, sandbox: true, out Traits traits).PersonId;
        _matching.Stop();
        _truth.Add(result.TruePerson);
        _found.Add(person);
        _spf.Add(PersonKeys.Spf2021(traits, result.Identity.BirthDate, _countedOn));
        _kind.Add((byte)((result.HasIns ? 1 : 0) | (result.Altered ? 0 : 2)));
    }

    public QualityReport Report()
    {
        long[] found = new long[_truth.Count];
        for (int i = 0; i < found.Length; i++)
        {
            found[i] = _matcher.Current(_found[i]); // follow merges
        }
        return Pairwise(found, _matching.Elapsed.TotalSeconds, _matcher.PossibleMatches.Count, _matcher.Merges.Count);
    }

    /// <summary>The same population counted by SPF's 2021 person key (birth name, first given name, age, sex) instead of
    /// the matcher's persons: how far the persons SPF's published tables counted are from the true ones.</summary>
    public QualityReport ReportSpf2021() => Pairwise([.. _spf], 0, 0, 0);

    private QualityReport Pairwise(long[] found, double seconds, int possibleMatches, int merges)
    {
        static long Pairs(long n) => n * (n - 1) / 2;
        int n = _truth.Count;
        var perFound = new Dictionary<long, int>(n);
        foreach (long f in found)
        {
            perFound[f] = perFound.GetValueOrDefault(f) + 1;
        }
        long linked = 0, foundPersons = perFound.Count;
        foreach (int count in perFound.Values)
        {
            linked += Pairs(count);
        }
        long truePairs = 0, correct = 0, easyPairs = 0, easyFound = 0;
        int truePersons = 0;
        for (int start = 0; start < n;)
        {
            int end = start + 1;
            while (end < n && _truth[end] == _truth[start])
            {
                end++;
            }
            truePersons++;
            truePairs += Pairs(end - start);
            for (int a = start; a < end; a++)
            {
                for (int b = a + 1; b < end; b++)
                {
                    bool same = found[a] == found[b];
                    correct += same ? 1 : 0;
                    // Where identification is possible without guessing: both carry the INS, or both unaltered traits.
                    if ((_kind[a] & _kind[b] & 1) != 0 || (_kind[a] & _kind[b] & 2) != 0)
                    {
                        easyPairs++;
                        easyFound += same ? 1 : 0;
                    }
                }
            }
            start = end;
        }
        return new QualityReport(n, truePersons, (int)foundPersons, truePairs, linked, correct, linked - correct,
            linked == 0 ? 1 : (double)correct / linked, truePairs == 0 ? 1 : (double)correct / truePairs,
            easyPairs == 0 ? 1 : (double)easyFound / easyPairs, linked == 0 ? 0 : (linked - correct) * 100_000.0 / linked,
            possibleMatches, n == 0 ? 0 : (double)possibleMatches / n, merges, seconds);
    }
}
