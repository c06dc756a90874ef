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
        var matcher = new Matcher(thresholds);
        var found = new long[results.Count];
        var started = System.Diagnostics.Stopwatch.StartNew();
        for (int i = 0; i < results.Count; i++)
        {
            found[i] = matcher.Match(results[i].Identity).PersonId;
        }
        double seconds = started.Elapsed.TotalSeconds;
        for (int i = 0; i < found.Length; i++)
        {
            found[i] = matcher.Current(found[i]); // follow merges
        }

        long Pairs(long n) => n * (n - 1) / 2;
        var byTruth = results.Select((r, i) => (r.TruePerson, i)).GroupBy(x => x.TruePerson).ToList();
        long truePairs = byTruth.Sum(g => Pairs(g.Count()));
        var byFound = found.Select((p, i) => (p, i)).GroupBy(x => x.p).ToList();
        long linked = byFound.Sum(g => Pairs(g.Count()));
        long correct = byFound.Sum(g => g.GroupBy(x => results[x.i].TruePerson).Sum(t => Pairs(t.Count())));

        // Recall where identification is possible without guessing: both results carry the INS, or identical traits.
        long easyPairs = 0, easyFound = 0;
        foreach (var g in byTruth)
        {
            var items = g.Select(x => x.i).ToList();
            for (int a = 0; a < items.Count; a++)
            {
                for (int b = a + 1; b < items.Count; b++)
                {
                    LabelledResult ra = results[items[a]], rb = results[items[b]];
                    bool easy = (ra.HasIns && rb.HasIns) || (!ra.Altered && !rb.Altered);
                    if (easy)
                    {
                        easyPairs++;
                        if (found[items[a]] == found[items[b]])
                        {
                            easyFound++;
                        }
                    }
                }
            }
        }
        return new QualityReport(results.Count, byTruth.Count, byFound.Count, truePairs, linked, correct, linked - correct,
            linked == 0 ? 1 : (double)correct / linked, truePairs == 0 ? 1 : (double)correct / truePairs,
            easyPairs == 0 ? 1 : (double)easyFound / easyPairs, linked == 0 ? 0 : (linked - correct) * 100_000.0 / linked,
            matcher.PossibleMatches.Count, results.Count == 0 ? 0 : (double)matcher.PossibleMatches.Count / results.Count, matcher.Merges.Count, seconds);
    }

    public override string ToString() =>
        $"results {Results:N0}, true persons {TruePersons:N0}, found {FoundPersons:N0}\n" +
        $"pairs: true {TruePairs:N0}, linked {LinkedPairs:N0}, correct {CorrectPairs:N0}, false merges {FalseMergedPairs:N0}\n" +
        $"precision {Precision:P3}, recall {Recall:P3}, recall with INS or exact traits {RecallInsOrExact:P3}\n" +
        $"false merges per 100,000 linked pairs {FalseMergesPer100000LinkedPairs:F2}; possible matches for review {PossibleMatches:N0} ({ReviewShare:P2} of results); merges {Merges:N0}\n" +
        $"matching took {SecondsElapsed:F2} s ({Results / Math.Max(SecondsElapsed, 1e-9):N0} results/s)";
}
