using Sidep.Domain;

namespace Sidep.Identity;

/// <summary>Which rule decided.</summary>
public enum MatchRule
{
    /// <summary>A valid INS already held by a person whose traits agree.</summary>
    InsKnown,
    /// <summary>A valid INS new to Sidep, attached to the person its traits designate.</summary>
    InsAttachedToTraitMatch,
    /// <summary>A valid INS new to Sidep, and no person with these traits: a new person.</summary>
    InsNewPerson,
    /// <summary>No INS: same normalised birth name (or used name) and first given name in the block.</summary>
    ExactTraits,
    /// <summary>No INS: similar enough to link (typos, swapped names).</summary>
    FuzzyTraits,
    /// <summary>No INS: similar, but not enough to link: a new person, and the pair listed for review.</summary>
    PossibleMatch,
    /// <summary>No INS and no similar person: a new person.</summary>
    NewPerson,
    /// <summary>The INS is held by a person whose traits do not agree: not merged, flagged for review.</summary>
    InsConflict,
}

/// <summary>How one field compared: the normalised values are not kept (nothing nominative in a decision).</summary>
public sealed record FieldComparison(string Field, string Outcome, double Score);

/// <summary>An explained match decision: the rule, the score, each field compared, and what else it did.</summary>
public sealed record MatchDecision(
    long PersonId,
    MatchRule Rule,
    double Score,
    IReadOnlyList<FieldComparison> Comparisons,
    long? CandidateId = null,
    IReadOnlyList<long>? MergedPersonIds = null);

/// <summary>Emitted when a later result proves two persons are one: downstream counts move <see cref="From"/> to <see cref="Into"/>.</summary>
public sealed record MergeEvent(long From, long Into, string Reason);

/// <summary>Thresholds of the fuzzy match (scores in [0, 1]).</summary>
/// <param name="Link">At or above: linked.</param>
/// <param name="Review">At or above (and below <paramref name="Link"/>): a possible match, listed for review.</param>
/// <param name="GivenFloor">The first given name must at least reach this to link: twins share all but it.</param>
public readonly record struct MatchThresholds(double Link = 0.94, double Review = 0.85, double GivenFloor = 0.90)
{
    public MatchThresholds() : this(0.94, 0.85, 0.90) { }
}

/// <summary>
/// The identity matcher of one partition (ARCHITECTURE.md decision 5: every candidate of a person shares its birth
/// date + sex block, so one instance owns them all). INS first; traits otherwise; conflicts flagged, never merged;
/// merges when a later result proves two persons are one. Not thread-safe: one partition, one consumer.
/// </summary>
public sealed class Matcher(MatchThresholds thresholds = default)
{
    private readonly MatchThresholds _t = thresholds == default ? new MatchThresholds() : thresholds;
    private readonly Dictionary<string, long> _byIns = new(StringComparer.Ordinal);
    private readonly Dictionary<string, List<Person>> _byBlock = new(StringComparer.Ordinal);
    /// <summary>Exact keys (block, birth or used name, first given name) → persons: exact matches without scanning the block.</summary>
    private readonly Dictionary<(string Block, string Name, string Given), List<Person>> _exact = [];
    private readonly Dictionary<long, Person> _persons = [];
    private readonly List<MergeEvent> _merges = [];
    private readonly List<(long A, long B, double Score)> _review = [];
    private long _nextId = 1;

    public int PersonCount => _persons.Count;
    public IReadOnlyList<MergeEvent> Merges => _merges;
    public IReadOnlyList<(long A, long B, double Score)> PossibleMatches => _review;

    private sealed class Person(long id, Traits traits, string? ins)
    {
        public long Id { get; } = id;
        public Traits Traits { get; set; } = traits;
        public string? Ins { get; set; } = ins;
        public long? MergedInto { get; set; }
    }

    /// <summary>The person a result belongs to, and why. An INS that fails its key (or the test/demo OIDs when
    /// <paramref name="sandbox"/> is false) is ignored: the result is matched on its traits.</summary>
    public MatchDecision Match(PatientIdentity identity, bool sandbox = true)
    {
        var traits = Traits.Of(identity);
        string? ins = identity.Ins is { } i && InsNumber.IsValid(i.Matricule) && (sandbox || i.Kind is InsKind.Nir or InsKind.Nia) ? i.Matricule : null;
        return ins is null ? ByTraits(traits) : ByIns(ins, traits);
    }

    private MatchDecision ByIns(string ins, Traits traits)
    {
        (Person? best, double score, List<FieldComparison> comparisons) = BestInBlock(traits, excludeWithOtherIns: ins);
        if (_byIns.TryGetValue(ins, out long holderId))
        {
            Person holder = Resolve(holderId);
            List<FieldComparison> check = Compare(traits, holder.Traits, out double agreement);
            if (holder.Traits.Block != traits.Block && !Compatible(holder.Traits.BirthDate, traits.BirthDate) || agreement < _t.Review)
            {
                // Same INS, incompatible traits: never merged silently. A separate person, flagged for review.
                Person flagged = NewPerson(traits, ins: null);
                _review.Add((flagged.Id, holder.Id, agreement));
                return new MatchDecision(flagged.Id, MatchRule.InsConflict, agreement, check, holder.Id);
            }
            // The INS proves that trait-only persons matching these traits exactly are this person too.
            var merged = new List<long>();
            if (best is not null && best.Id != holder.Id && best.Ins is null && score >= _t.Link)
            {
                Merge(best, holder, "an INS result matched both the INS holder and a person known by traits only");
                merged.Add(best.Id);
            }
            return new MatchDecision(holder.Id, MatchRule.InsKnown, agreement, check, MergedPersonIds: merged);
        }
        if (best is not null && best.Ins is null && score >= _t.Link)
        {
            best.Ins = ins;
            _byIns[ins] = best.Id;
            return new MatchDecision(best.Id, MatchRule.InsAttachedToTraitMatch, score, comparisons);
        }
        Person person = NewPerson(traits, ins);
        return new MatchDecision(person.Id, MatchRule.InsNewPerson, 1, [new FieldComparison("ins", "new", 1)]);
    }

    private MatchDecision ByTraits(Traits traits)
    {
        if (ExactCandidate(traits) is (Person exact, List<FieldComparison> exactComparisons))
        {
            return new MatchDecision(exact.Id, MatchRule.ExactTraits, 1, exactComparisons);
        }
        (Person? best, double score, List<FieldComparison> comparisons) = BestInBlock(traits, excludeWithOtherIns: null);
        if (best is not null && score >= 0.999)
        {
            return new MatchDecision(best.Id, MatchRule.ExactTraits, score, comparisons);
        }
        if (best is not null && score >= _t.Link)
        {
            return new MatchDecision(best.Id, MatchRule.FuzzyTraits, score, comparisons);
        }
        Person person = NewPerson(traits, ins: null);
        if (best is not null && score >= _t.Review)
        {
            _review.Add((person.Id, best.Id, score));
            return new MatchDecision(person.Id, MatchRule.PossibleMatch, score, comparisons, best.Id);
        }
        return new MatchDecision(person.Id, MatchRule.NewPerson, score, comparisons, best?.Id);
    }

    /// <summary>A person of the block with the same birth or used name and first given name who also agrees on
    /// everything else (second given name…): found by key, not by scanning.</summary>
    private (Person, List<FieldComparison>)? ExactCandidate(Traits traits)
    {
        foreach (string name in new[] { traits.BirthName, traits.UsedName })
        {
            if (name.Length == 0 || !_exact.TryGetValue((traits.Block, name, traits.FirstGiven), out List<Person>? persons))
            {
                continue;
            }
            foreach (Person candidate in persons)
            {
                if (candidate.MergedInto is null)
                {
                    List<FieldComparison> comparisons = Compare(traits, candidate.Traits, out double score);
                    if (score >= 0.999)
                    {
                        return (candidate, comparisons);
                    }
                }
            }
        }
        return null;
    }

    /// <summary>The most similar person of the block (persons with another INS are other persons by definition).</summary>
    private (Person? Best, double Score, List<FieldComparison> Comparisons) BestInBlock(Traits traits, string? excludeWithOtherIns)
    {
        Person? best = null;
        double bestScore = 0;
        List<FieldComparison> bestComparisons = [];
        if (!_byBlock.TryGetValue(traits.Block, out List<Person>? block))
        {
            return (null, 0, bestComparisons);
        }
        foreach (Person candidate in block)
        {
            if (candidate.MergedInto is not null || (excludeWithOtherIns is not null && candidate.Ins is not null && candidate.Ins != excludeWithOtherIns))
            {
                continue;
            }
            double score = Score(traits, candidate.Traits, explain: null);
            if (score > bestScore)
            {
                (best, bestScore) = (candidate, score);
            }
        }
        if (best is not null)
        {
            Score(traits, best.Traits, bestComparisons); // the explanation, for the one that counts
        }
        return (best, bestScore, bestComparisons);
    }

    /// <summary>Scores two sets of traits: the best pairing of birth/used names (a married name sent as birth name
    /// still meets the used name), the first given name against any of the other's given names (order swapped),
    /// weighted 0.55 name, 0.45 given name; a given name below the floor caps the score under the link threshold.</summary>
    private List<FieldComparison> Compare(Traits a, Traits b, out double score)
    {
        var comparisons = new List<FieldComparison>(5);
        score = Score(a, b, comparisons);
        return comparisons;
    }

    /// <summary>The score of a pair; fills <paramref name="explain"/> (when given) with how each field compared.
    /// Scoring the candidates of a block allocates nothing.</summary>
    private double Score(Traits a, Traits b, List<FieldComparison>? explain)
    {
        double score;
        double given = JaroWinkler.Similarity(a.FirstGiven, b.FirstGiven);
        string givenHow = "first given name";
        // Given names in another order count only when the swap is mutual: each one's first given name is among the
        // other's given names. One person's second name being another's first is how relatives differ, not a swap.
        if (given < 0.999 && b.Given.Contains(a.FirstGiven) && a.Given.Contains(b.FirstGiven))
        {
            (given, givenHow) = (1, "first given name ~ another given name");
        }
        // Below this a candidate cannot reach even the review threshold, whatever its surname: skip the name pairings.
        double reviewable = (_t.Review - 0.55) / 0.45;
        if (given < reviewable)
        {
            explain?.Add(new FieldComparison(givenHow, Outcome(given), Math.Round(given, 4)));
            return 0.45 * given;
        }
        double name = 0;
        string pairing = "birth name";
        Pair(a.BirthName, b.BirthName, "birth name", ref name, ref pairing);
        Pair(a.BirthName, b.UsedName, "birth name ~ used name", ref name, ref pairing);
        Pair(a.UsedName, b.BirthName, "used name ~ birth name", ref name, ref pairing);
        Pair(a.UsedName, b.UsedName, "used name", ref name, ref pairing);
        score = 0.55 * name + 0.45 * given;
        if (given < _t.GivenFloor)
        {
            score = Math.Min(score, _t.Link - 0.01);
        }
        // Both sent a second given name and they contradict: two persons who share the rest (relatives, namesakes,
        // a birth name that is another woman's married name) — never linked automatically, listed for review.
        FieldComparison? second = null;
        if (a.Given.Count >= 2 && b.Given.Count >= 2 && given >= 0.999)
        {
            string sa = a.Given[1], sb = b.Given[1];
            double s2 = JaroWinkler.Similarity(sa, sb);
            bool contradicts = s2 < 0.85 && !b.Given.Contains(sa) && !a.Given.Contains(sb);
            second = explain is null ? null : new FieldComparison("second given name", contradicts ? "different" : Outcome(s2), Math.Round(s2, 4));
            if (contradicts)
            {
                score = Math.Min(score, _t.Link - 0.01);
            }
        }
        if (explain is null)
        {
            return score;
        }
        explain.AddRange(new[]
        {
            new FieldComparison(pairing, Outcome(name), Math.Round(name, 4)),
            new FieldComparison(givenHow, Outcome(given), Math.Round(given, 4)),
            new FieldComparison("birth date", a.BirthDate == b.BirthDate ? "equal" : "compatible (partial)", 1),
            new FieldComparison("sex", a.Sex == b.Sex ? "equal" : "different", a.Sex == b.Sex ? 1 : 0),
        });
        if (second is not null)
        {
            explain.Add(second);
        }
        return score;
    }

    private static void Pair(string x, string y, string label, ref double best, ref string pairing)
    {
        if (x.Length == 0 || y.Length == 0)
        {
            return;
        }
        double s = JaroWinkler.Similarity(x, y);
        if (s > best)
        {
            (best, pairing) = (s, label);
        }
    }

    private static string Outcome(double score) => score >= 0.999 ? "equal" : score >= 0.9 ? "similar" : score >= 0.75 ? "weakly similar" : "different";

    /// <summary>A partial date (00 month or day) is compatible with any date it contains.</summary>
    private static bool Compatible(string a, string b)
    {
        for (int i = 0; i < 8; i += 2)
        {
            string x = a.Substring(i, 2), y = b.Substring(i, 2);
            if (x != y && x != "00" && y != "00")
            {
                return false;
            }
        }
        return true;
    }

    private Person NewPerson(Traits traits, string? ins)
    {
        var person = new Person(_nextId++, traits, ins);
        _persons[person.Id] = person;
        if (!_byBlock.TryGetValue(traits.Block, out List<Person>? block))
        {
            _byBlock[traits.Block] = block = [];
        }
        block.Add(person);
        foreach (string name in new[] { traits.BirthName, traits.UsedName })
        {
            if (name.Length > 0)
            {
                var key = (traits.Block, name, traits.FirstGiven);
                if (!_exact.TryGetValue(key, out List<Person>? same))
                {
                    _exact[key] = same = new List<Person>(1);
                }
                same.Add(person);
            }
        }
        if (ins is not null)
        {
            _byIns[ins] = person.Id;
        }
        return person;
    }

    private Person Resolve(long id)
    {
        Person p = _persons[id];
        while (p.MergedInto is long into)
        {
            p = _persons[into];
        }
        return p;
    }

    private void Merge(Person from, Person into, string reason)
    {
        from.MergedInto = into.Id;
        _merges.Add(new MergeEvent(from.Id, into.Id, reason));
    }

    /// <summary>The person a (possibly merged) id now designates.</summary>
    public long Current(long personId) => Resolve(personId).Id;
}
