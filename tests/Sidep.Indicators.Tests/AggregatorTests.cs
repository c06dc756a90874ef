using Sidep.Indicators;

namespace Sidep.Indicators.Tests;

public class AggregatorTests
{
    private static readonly int Day0 = new DateOnly(2021, 1, 10).DayNumber;
    private static readonly short Cell01Women30 = Cells.Of(Geography.France.DepartementIndex("01"), 3, CountedSex.Female);
    private static readonly short Cell75Men50 = Cells.Of(Geography.France.DepartementIndex("75"), 5, CountedSex.Male);

    private static IndicatorFact Fact(int key, long person, int day, Outcome outcome, short? cell = null, int version = 1) =>
        new(new UInt128(0, (ulong)key), version, person, Day0 + day, outcome, cell ?? Cell01Women30);

    private static (int P, int T) At(Aggregator a, int day, short? cell = null) =>
        (a.Counts.P(Day0 + day, cell ?? Cell01Women30), a.Counts.T(Day0 + day, cell ?? Cell01Women30));

    [Fact]
    public void A_negative_test_counts_in_T_only_and_a_positive_in_both()
    {
        var a = new Aggregator();
        a.Apply(Fact(1, 1, 0, Outcome.Negative));
        a.Apply(Fact(2, 2, 0, Outcome.Positive));
        Assert.Equal((1, 2), At(a, 0));
    }

    [Fact]
    public void A_person_tested_twice_on_one_day_counts_once_and_positive_if_either_test_is()
    {
        var a = new Aggregator();
        a.Apply(Fact(1, 1, 0, Outcome.Negative));
        a.Apply(Fact(2, 1, 0, Outcome.Positive));
        Assert.Equal((1, 1), At(a, 0));
    }

    [Theory]
    [InlineData(30, 0, 0)]
    [InlineData(60, 0, 0)]
    [InlineData(61, 1, 1)]
    public void A_positive_hides_the_next_sixty_days_of_the_person(int laterDay, int expectedP, int expectedT)
    {
        var a = new Aggregator();
        a.Apply(Fact(1, 1, 0, Outcome.Positive));
        a.Apply(Fact(2, 1, laterDay, Outcome.Positive));
        Assert.Equal((expectedP, expectedT), At(a, laterDay));
        Assert.Equal((1, 1), At(a, 0));
    }

    [Fact]
    public void Serology_indeterminate_and_cancelled_results_count_in_neither()
    {
        var a = new Aggregator();
        a.Apply(Fact(1, 1, 0, Outcome.None));
        Assert.Equal((0, 0), At(a, 0));
        Assert.True(a.Counts.IsEmpty);
    }

    [Fact]
    public void A_correction_arriving_three_days_late_moves_exactly_its_cells_and_is_one_revision()
    {
        var a = new Aggregator();
        a.Apply(Fact(1, 1, 0, Outcome.Positive));
        a.Apply(Fact(2, 1, 5, Outcome.Negative)); // hidden by the positive of day 0
        a.Apply(Fact(3, 2, 0, Outcome.Negative, Cell75Men50));
        a.TakeDeltas();

        a.Apply(Fact(1, 1, 0, Outcome.Negative, version: 2));

        Assert.Equal((0, 1), At(a, 0));
        Assert.Equal((0, 1), At(a, 5)); // no longer hidden
        Assert.Equal((0, 1), At(a, 0, Cell75Men50));
        Assert.Equal([new CountDelta(Day0, Cell01Women30, -1, 0), new CountDelta(Day0 + 5, Cell01Women30, 0, 1)], a.TakeDeltas());
    }

    [Fact]
    public void A_late_positive_for_a_past_day_hides_the_later_tests_it_precedes()
    {
        var a = new Aggregator();
        a.Apply(Fact(1, 1, 10, Outcome.Negative));
        a.Apply(Fact(2, 1, 3, Outcome.Positive));
        Assert.Equal((0, 0), At(a, 10));
        Assert.Equal((1, 1), At(a, 3));
    }

    [Fact]
    public void A_retraction_removes_the_result_and_an_older_version_replayed_later_changes_nothing()
    {
        var a = new Aggregator();
        a.Apply(Fact(1, 1, 0, Outcome.Positive));
        a.Retract(new UInt128(0, 1), 2);
        Assert.True(a.Counts.NonZero().All(c => c.P == 0 && c.T == 0));
        Assert.False(a.Apply(Fact(1, 1, 0, Outcome.Positive, version: 1)));
        Assert.Equal((0, 0), At(a, 0));
    }

    [Fact]
    public void A_merge_of_two_persons_recounts_them_as_one()
    {
        var a = new Aggregator();
        a.Apply(Fact(1, 1, 0, Outcome.Positive));
        a.Apply(Fact(2, 2, 10, Outcome.Positive));
        Assert.Equal((1, 1), At(a, 10));
        a.Merge(2, 1);
        Assert.Equal((0, 0), At(a, 10));
        Assert.Equal((1, 1), At(a, 0));
        a.Merge(2, 1);
        a.Apply(Fact(3, 2, 20, Outcome.Negative)); // a result still naming the merged person goes to the survivor
        Assert.Equal((0, 0), At(a, 20));
    }

    [Fact]
    public void A_tracker_fed_only_what_changes_episodes_has_the_same_episodes_and_holds_only_persons_with_a_positive()
    {
        var random = new Random(17);
        for (int round = 0; round < 40; round++)
        {
            var everything = new Aggregator { TrackEpisodes = true };
            var positives = new Aggregator { TrackEpisodes = true };
            var (openEverything, openPositives) = (new HashSet<(UInt128, int)>(), new HashSet<(UInt128, int)>());
            var versions = new Dictionary<UInt128, int>();
            var personOf = new Dictionary<UInt128, long>();
            for (int i = 0; i < 400; i++)
            {
                if (random.Next(30) == 0)
                {
                    (long from, long into) = (random.Next(1, 50), random.Next(1, 50));
                    everything.Merge(from, into);
                    positives.Merge(from, into);
                }
                else
                {
                    // Results corrected now and then (other outcome, other day), a retraction (None) sometimes, negatives
                    // and positives of one person on one day in other cells (what would make the two trackers' cells differ).
                    var key = new UInt128(0, (ulong)random.Next(1, 200));
                    int version = versions[key] = versions.GetValueOrDefault(key) + 1;
                    long person = personOf.TryGetValue(key, out long p) ? p : personOf[key] = random.Next(1, 50);
                    var fact = new IndicatorFact(key, version, person, Day0 + random.Next(150), (Outcome)random.Next(3), (short)random.Next(3));
                    everything.Apply(fact);
                    if (positives.ChangesEpisodes(fact))
                    {
                        positives.Apply(fact);
                    }
                }
                Open(openEverything, everything.TakeEpisodeChanges());
                Open(openPositives, positives.TakeEpisodeChanges());
                Assert.Equal(openEverything.Order(), openPositives.Order());
            }
            Assert.NotEmpty(openEverything);
            Assert.True(positives.PersonCount < everything.PersonCount, $"{positives.PersonCount} persons held against {everything.PersonCount}");
        }

        // The episodes open, by their positive result and day (what a case is named by).
        static void Open(HashSet<(UInt128, int)> open, List<EpisodeChange> changes)
        {
            foreach (EpisodeChange e in changes)
            {
                if (e.Started)
                {
                    open.Add((e.PositiveKey, e.Day));
                }
                else
                {
                    open.Remove((e.PositiveKey, e.Day));
                }
            }
        }
    }

    [Fact]
    public void An_episode_starts_with_a_first_positive_ends_with_its_correction_and_survives_a_merge_under_the_survivor()
    {
        var a = new Aggregator { TrackEpisodes = true };
        a.Apply(Fact(1, 1, 10, Outcome.Positive));
        EpisodeChange started = Assert.Single(a.TakeEpisodeChanges());
        Assert.Equal((true, new UInt128(0, 1), 1L, Day0 + 10), (started.Started, started.PositiveKey, started.Person, started.Day));
        a.Apply(Fact(2, 1, 20, Outcome.Positive)); // within 60 days: the same episode
        Assert.Empty(a.TakeEpisodeChanges());
        a.Apply(Fact(3, 2, 5, Outcome.Positive));
        a.TakeEpisodeChanges();
        a.Merge(1, 2); // person 1 was person 2, positive five days earlier: one episode, person 2's
        List<EpisodeChange> merged = a.TakeEpisodeChanges();
        Assert.Contains(merged, e => !e.Started && e.PositiveKey == new UInt128(0, 1));
        Assert.DoesNotContain(merged, e => e.Started && e.PositiveKey == new UInt128(0, 1));
        a.Apply(Fact(3, 2, 5, Outcome.Negative, version: 2)); // that earlier positive was a mistake: person 1's episode is back
        List<EpisodeChange> corrected = a.TakeEpisodeChanges();
        Assert.Contains(corrected, e => !e.Started && e.PositiveKey == new UInt128(0, 3));
        Assert.Contains(corrected, e => e.Started && e.PositiveKey == new UInt128(0, 1) && e.Person == 2);
    }

    [Fact]
    public void The_cell_of_a_person_day_is_that_of_its_smallest_key_whatever_the_order()
    {
        var first = new Aggregator();
        first.Apply(Fact(5, 1, 0, Outcome.Negative, Cell75Men50));
        first.Apply(Fact(2, 1, 0, Outcome.Positive));
        var second = new Aggregator();
        second.Apply(Fact(2, 1, 0, Outcome.Positive));
        second.Apply(Fact(5, 1, 0, Outcome.Negative, Cell75Men50));
        Assert.Equal(first.Counts.NonZero(), second.Counts.NonZero());
        Assert.Equal((1, 1), At(first, 0));
    }

    [Theory]
    [InlineData(1)]
    [InlineData(2)]
    [InlineData(3)]
    [InlineData(4)]
    [InlineData(5)]
    public void Incremental_counts_equal_a_recomputation_from_scratch_through_random_changes(int seed)
    {
        var random = new Random(seed);
        var a = new Aggregator { TrackEpisodes = true };
        var oracle = new Oracle();
        var revisions = new CountTable();
        var episodes = new Dictionary<UInt128, EpisodeChange>();
        short[] cells = [Cell01Women30, Cell75Men50, Cells.Of(Geography.UnknownDepartement, AgeClasses.Unknown, CountedSex.Unknown)];
        int keys = 0;
        for (int step = 0; step < 3000; step++)
        {
            int op = random.Next(100);
            if (op < 50 || keys == 0)
            {
                keys++;
                var f = new IndicatorFact(new UInt128(0, (ulong)keys), 1, random.Next(1, 40), Day0 + random.Next(0, 200),
                    (Outcome)random.Next(3), cells[random.Next(cells.Length)]);
                a.Apply(f);
                oracle.Apply(f);
            }
            else if (op < 75)
            {
                // A correction: any field may change, the person too.
                int key = random.Next(1, keys + 1);
                int version = oracle.Version(key) + random.Next(0, 2); // sometimes a replay of the same version
                var f = new IndicatorFact(new UInt128(0, (ulong)key), version, random.Next(1, 40), Day0 + random.Next(0, 200),
                    (Outcome)random.Next(3), cells[random.Next(cells.Length)]);
                a.Apply(f);
                oracle.Apply(f);
            }
            else if (op < 88)
            {
                int key = random.Next(1, keys + 1);
                int version = oracle.Version(key) + 1;
                a.Retract(new UInt128(0, (ulong)key), version);
                oracle.Apply(new IndicatorFact(new UInt128(0, (ulong)key), version, 0, 0, Outcome.None, 0));
            }
            else
            {
                long from = random.Next(1, 40), into = random.Next(1, 40);
                a.Merge(from, into);
                oracle.Merge(from, into);
            }
            foreach (CountDelta d in a.TakeDeltas())
            {
                revisions.Add(d.Day, d.Cell, d.P, d.T);
            }
            foreach (EpisodeChange e in a.TakeEpisodeChanges())
            {
                if (e.Started)
                {
                    episodes[e.PositiveKey] = e;
                }
                else
                {
                    episodes.Remove(e.PositiveKey);
                }
            }
            if (step % 50 == 0 || step == 2999)
            {
                var expected = oracle.Recompute().ToList();
                Assert.Equal(expected, a.Counts.NonZero().Where(c => c.P != 0 || c.T != 0).ToList());
                Assert.Equal(expected, revisions.NonZero().ToList());
                // The open episodes are exactly the person-days counted in P, each with its day and cell.
                Assert.Equal(expected.Where(c => c.P > 0).Select(c => (c.Day, c.Cell, c.P)),
                    episodes.Values.GroupBy(e => (e.Day, (int)e.Cell)).OrderBy(g => g.Key.Day).ThenBy(g => g.Key.Item2).Select(g => (g.Key.Day, g.Key.Item2, g.Count())));
                Assert.All(episodes.Values, e => Assert.Equal(a.Resolve(e.Person), e.Person));
            }
        }
    }

    /// <summary>The counting rules written the plain way: latest version of each result, persons through merges, every
    /// person-day decided from all of the person's results.</summary>
    private sealed class Oracle
    {
        private readonly Dictionary<UInt128, IndicatorFact> _latest = [];
        private readonly Dictionary<long, long> _merged = [];

        public int Version(int key) => _latest.TryGetValue(new UInt128(0, (ulong)key), out IndicatorFact f) ? f.Version : 0;

        public void Apply(IndicatorFact f)
        {
            if (!_latest.TryGetValue(f.Key, out IndicatorFact old) || old.Version < f.Version)
            {
                _latest[f.Key] = f.Outcome == Outcome.None && f.Person == 0 ? f with { Person = old.Person } : f;
            }
        }

        public void Merge(long from, long into)
        {
            long a = Resolve(from), b = Resolve(into);
            if (a != b)
            {
                _merged[a] = b;
            }
        }

        private long Resolve(long p) => _merged.TryGetValue(p, out long next) ? Resolve(next) : p;

        public IEnumerable<(int Day, int Cell, int P, int T)> Recompute()
        {
            var counts = new Dictionary<(int Day, int Cell), (int P, int T)>();
            foreach (var person in _latest.Values.Where(f => f.Outcome != Outcome.None).GroupBy(f => Resolve(f.Person)))
            {
                var positiveDays = person.Where(f => f.Outcome == Outcome.Positive).Select(f => f.Day).ToHashSet();
                foreach (var day in person.GroupBy(f => f.Day))
                {
                    if (positiveDays.Any(p => p < day.Key && day.Key - p <= 60))
                    {
                        continue;
                    }
                    int cell = day.MinBy(f => f.Key).Cell;
                    (int p, int t) = counts.GetValueOrDefault((day.Key, cell));
                    counts[(day.Key, cell)] = (p + (positiveDays.Contains(day.Key) ? 1 : 0), t + 1);
                }
            }
            return counts.OrderBy(c => c.Key.Day).ThenBy(c => c.Key.Cell).Select(c => (c.Key.Day, c.Key.Cell, c.Value.P, c.Value.T));
        }
    }
}
