using Sidep.Domain;

namespace Sidep.Indicators;

/// <summary>What a result counts as. Serology, other methods, indeterminate, unsatisfactory, not interpretable and
/// cancelled results count as <see cref="None"/>: in neither P nor T.</summary>
public enum Outcome : byte
{
    None,
    Negative,
    Positive,
}

/// <summary>
/// The latest version of one result, reduced to what the indicators need. <paramref name="Key"/> identifies the result
/// (lab, accession, test) across versions; <paramref name="Day"/> is the sample date's <see cref="DateOnly.DayNumber"/>.
/// </summary>
public readonly record struct IndicatorFact(UInt128 Key, int Version, long Person, int Day, Outcome Outcome, short Cell)
{
    /// <summary>The person by Santé publique France's 2021 key (birth name, first given name, age, sex); 0 when not
    /// computed. What the indicators count by with <c>--person-key spf2021</c>.</summary>
    public long Spf2021 { get; init; }
}

/// <summary>An episode (a person's first positive in more than 60 days) that started or ended: what cases and
/// notices are made of. <paramref name="PositiveKey"/> names the episode's positive result.</summary>
public readonly record struct EpisodeChange(bool Started, UInt128 PositiveKey, long Person, int Day, short Cell);

/// <summary>A net change of one counter: what a revision is made of.</summary>
public readonly record struct CountDelta(int Day, int Cell, int P, int T);

/// <summary>
/// SPF's counting rules, maintained incrementally. A person counts in T on a sample day when they had a PCR or antigen
/// test with a positive or negative result that day and no positive test in the 60 days before; in P when, moreover,
/// one of that day's tests is positive — so a person counts at most once a day, P ⊆ T, and a positive is counted
/// only when it is the first in more than 60 days. The cell (residence, age class, sex) of a person-day is that of
/// its test with the smallest key, so every result order gives the same table.
/// <para>
/// Every change — a new result, a correction, a retraction, a merge of two persons — recomputes only the person-days
/// it can affect (a test on day d affects days d..d+60 of its person) before and after, and applies the difference,
/// so the counts always equal a recomputation from scratch. The net differences since the last
/// <see cref="TakeDeltas"/> are the next revision. Not thread-safe: one partition, one consumer.
/// </para>
/// </summary>
public sealed class Aggregator
{
    /// <summary>A positive hides the person's tests of the next 60 days.</summary>
    public const int WindowDays = 60;

    /// <summary>One counted result of a person: 24 bytes.</summary>
    private struct Entry
    {
        public Hash128 Key;
        public int Day;
        public short Cell;
        public Outcome Outcome;
    }

    private struct KeyState
    {
        public long Person;
        public int Version;
        public int Day;
        public bool Counted;
    }

    /// <summary>A person-day that counts; <see cref="PositiveKey"/> is its positive result with the smallest key (when P).</summary>
    private readonly record struct Contribution(int Day, short Cell, bool Positive, UInt128 PositiveKey = default);

    /// <summary>
    /// A person's counted results, sorted by (day, key). Most persons are tested once in the window (a peak day: 2.3M
    /// results of 2.05M persons) and each aggregator holds every person's, so the one result of a person is held in the
    /// dictionary's own entry — no object at all — and only a person with several has an array, of exactly their number
    /// (a change makes a new one: a person has a few results at most). An array of one entry was 48 bytes and an object
    /// for the collector to trace for every person.
    /// </summary>
    private readonly struct Facts
    {
        private readonly Entry _one;
        private readonly Entry[]? _many;

        public Facts(ReadOnlySpan<Entry> entries)
        {
            if (entries.Length == 1)
            {
                _one = entries[0];
            }
            else
            {
                _many = entries.ToArray();
            }
        }

        /// <summary>The entries; <paramref name="one"/> is where a single entry is copied to be seen as a span.</summary>
        public ReadOnlySpan<Entry> Entries(ref Entry one)
        {
            if (_many is not null)
            {
                return _many;
            }
            one = _one;
            return new ReadOnlySpan<Entry>(ref one);
        }
    }

    // Millions of keys and persons on a busy day: in shards (ShardedDictionary), never one array doubling.
    private readonly ShardedDictionary<Hash128, KeyState> _keys = new();
    private readonly ShardedDictionary<long, Facts> _persons = new();
    private readonly Dictionary<long, long> _mergedInto = [];
    private readonly Dictionary<long, (int P, int T)> _pending = [];
    private readonly List<Contribution> _before = [];
    private readonly List<Contribution> _after = [];

    public CountTable Counts { get; } = new();

    /// <summary>Results applied (latest versions known), persons holding counted results.</summary>
    public int ResultCount => _keys.Count;
    public int PersonCount => _persons.Count;

    /// <summary>Applies a result's new version; an older or equal version than the one known is ignored (replays
    /// and duplicates change nothing). Returns whether anything was applied.</summary>
    public bool Apply(in IndicatorFact fact)
    {
        ref KeyState state = ref _keys.GetValueRefOrAddDefault(fact.Key, out bool exists);
        if (exists && state.Version >= fact.Version)
        {
            return false;
        }
        long person = Resolve(fact.Person);
        bool counted = fact.Outcome != Outcome.None;
        if (exists && state.Counted)
        {
            long oldPerson = Resolve(state.Person);
            if (oldPerson == person)
            {
                Change(person, fact.Key, state.Day, counted ? fact : null);
            }
            else
            {
                Change(oldPerson, fact.Key, state.Day, null);
                if (counted)
                {
                    Change(person, null, 0, fact);
                }
            }
        }
        else if (counted)
        {
            Change(person, null, 0, fact);
        }
        state = new KeyState { Person = person, Version = fact.Version, Day = fact.Day, Counted = counted };
        return true;
    }

    /// <summary>Whether a fact can change which days count in P, hence the episodes: a positive, or a later version of
    /// a result already applied (a positive corrected or retracted). Which positive days count depends on positives
    /// only — a positive hides the next 60 days, a negative hides nothing —, so a tracker fed only these facts (and
    /// every merge) has the same episodes as one fed everything, and holds the persons with a positive only. (A
    /// person-day's cell may differ, its test with the smallest key being then a positive one; episodes are named by
    /// their positive result, person and day.)</summary>
    public bool ChangesEpisodes(in IndicatorFact fact) => fact.Outcome == Outcome.Positive || _keys.ContainsKey(fact.Key);

    /// <summary>A retraction (cancelled, entered in error) of a result: it no longer counts.</summary>
    public bool Retract(UInt128 key, int version) => Apply(new IndicatorFact(key, version, _keys.TryGetValue(key, out KeyState s) ? s.Person : 0, 0, Outcome.None, 0));

    /// <summary>Two persons proved one: <paramref name="from"/>'s results become <paramref name="into"/>'s and the
    /// counts move accordingly (their days recomputed together). Idempotent.</summary>
    public void Merge(long from, long into)
    {
        long a = Resolve(from), b = Resolve(into);
        if (a == b)
        {
            return;
        }
        _mergedInto[a] = b;
        if (!_persons.Remove(a, out Facts movingFacts))
        {
            return;
        }
        Entry movingOne = default, stayingOne = default;
        ReadOnlySpan<Entry> moving = movingFacts.Entries(ref movingOne);
        ReadOnlySpan<Entry> staying = _persons.TryGetValue(b, out Facts stayingFacts) ? stayingFacts.Entries(ref stayingOne) : [];
        _before.Clear();
        Contributions(moving, int.MinValue, int.MaxValue, _before);
        Contributions(staying, int.MinValue, int.MaxValue, _before);
        Entry[] merged = [.. staying, .. moving];
        Array.Sort(merged, static (x, y) => x.Day != y.Day ? x.Day.CompareTo(y.Day) : x.Key.Value.CompareTo(y.Key.Value));
        _persons[b] = new Facts(merged);
        _after.Clear();
        Contributions(merged, int.MinValue, int.MaxValue, _after);
        ApplyDifference(a, b);
    }

    /// <summary>The person <paramref name="person"/> designates now, merges followed.</summary>
    public long Resolve(long person)
    {
        long current = person;
        while (_mergedInto.TryGetValue(current, out long next))
        {
            current = next;
        }
        if (current != person)
        {
            _mergedInto[person] = current;
        }
        return current;
    }

    /// <summary>The net counter changes since the last call: one revision.</summary>
    public List<CountDelta> TakeDeltas()
    {
        var deltas = new List<CountDelta>(_pending.Count);
        foreach ((long key, (int p, int t)) in _pending)
        {
            if (p != 0 || t != 0)
            {
                deltas.Add(new CountDelta((int)(key >> 20), (int)(key & 0xFFFFF), p, t));
            }
        }
        _pending.Clear();
        deltas.Sort((x, y) => x.Day != y.Day ? x.Day.CompareTo(y.Day) : x.Cell.CompareTo(y.Cell));
        return deltas;
    }

    private void Change(long person, UInt128? removeKey, int removeDay, IndicatorFact? add)
    {
        Entry one = default;
        scoped ReadOnlySpan<Entry> facts;
        if (_persons.TryGetValue(person, out Facts stored))
        {
            facts = stored.Entries(ref one);
        }
        else if (add is null)
        {
            return;
        }
        else
        {
            facts = [];
        }
        int lo = int.MaxValue, hi = int.MinValue;
        if (removeKey is not null)
        {
            (lo, hi) = (removeDay, removeDay);
        }
        if (add is { } a)
        {
            (lo, hi) = (Math.Min(lo, a.Day), Math.Max(hi, a.Day));
        }
        hi = hi > int.MaxValue - WindowDays ? int.MaxValue : hi + WindowDays;
        _before.Clear();
        Contributions(facts, lo, hi, _before);
        // The person's entries after the change, made where they are counted (a person has a few).
        Span<Entry> changed = facts.Length < 32 ? stackalloc Entry[facts.Length + 1] : new Entry[facts.Length + 1];
        facts.CopyTo(changed);
        int count = facts.Length;
        if (removeKey is UInt128 key)
        {
            count = Remove(changed, count, key, removeDay);
        }
        if (add is { } f)
        {
            count = Insert(changed, count, new Entry { Key = f.Key, Day = f.Day, Cell = f.Cell, Outcome = f.Outcome });
        }
        _after.Clear();
        Contributions(changed[..count], lo, hi, _after);
        if (count == 0)
        {
            _persons.Remove(person);
        }
        else
        {
            _persons[person] = new Facts(changed[..count]);
        }
        ApplyDifference(person, person);
    }

    private void ApplyDifference(long personBefore, long personAfter)
    {
        // Person-days unchanged on both sides cancel out; only real differences reach the table.
        foreach (Contribution c in _before)
        {
            Count(c, -1);
        }
        foreach (Contribution c in _after)
        {
            Count(c, +1);
        }
        if (TrackEpisodes)
        {
            Episodes(personBefore, personAfter);
        }
    }

    /// <summary>Whether <see cref="TakeEpisodeChanges"/> is fed (the fan-out's cases and notices need it; the
    /// indicators do not).</summary>
    public bool TrackEpisodes { get; init; }

    private readonly List<EpisodeChange> _episodes = [];

    /// <summary>The episodes started or ended since the last call, ends first within each change.</summary>
    public List<EpisodeChange> TakeEpisodeChanges()
    {
        var taken = new List<EpisodeChange>(_episodes);
        _episodes.Clear();
        return taken;
    }

    private void Episodes(long personBefore, long personAfter)
    {
        // An episode is a person-day counted in P, named by its positive result: started when it appears, ended when
        // it disappears (a correction, a retraction, an earlier positive arriving late, a merge into an earlier
        // episode). A merge that keeps it re-starts it under the surviving person: same positive result, same episode.
        foreach (Contribution c in _before)
        {
            if (c.Positive && !_after.Exists(x => x.Positive && x.PositiveKey == c.PositiveKey && x.Day == c.Day && x.Cell == c.Cell) || c.Positive && personBefore != personAfter)
            {
                _episodes.Add(new EpisodeChange(false, c.PositiveKey, personBefore, c.Day, c.Cell));
            }
        }
        foreach (Contribution c in _after)
        {
            if (c.Positive && (personBefore != personAfter || !_before.Exists(x => x.Positive && x.PositiveKey == c.PositiveKey && x.Day == c.Day && x.Cell == c.Cell)))
            {
                _episodes.Add(new EpisodeChange(true, c.PositiveKey, personAfter, c.Day, c.Cell));
            }
        }
    }

    private void Count(in Contribution c, int sign)
    {
        int dp = c.Positive ? sign : 0;
        Counts.Add(c.Day, c.Cell, dp, sign);
        ref (int P, int T) pending = ref System.Runtime.InteropServices.CollectionsMarshal.GetValueRefOrAddDefault(_pending, ((long)c.Day << 20) | (long)(ushort)c.Cell, out _);
        pending.P += dp;
        pending.T += sign;
    }

    /// <summary>The person-days in [<paramref name="lo"/>, <paramref name="hi"/>] that count, with their cell and
    /// whether they count in P.</summary>
    private static void Contributions(ReadOnlySpan<Entry> items, int lo, int hi, List<Contribution> into)
    {
        int n = items.Length;
        int i = LowerBound(items, lo == int.MinValue ? int.MinValue : lo - WindowDays);
        int lastPositive = int.MinValue;
        while (i < n && items[i].Day <= hi)
        {
            int day = items[i].Day;
            short cell = items[i].Cell;
            bool positive = false;
            UInt128 positiveKey = default;
            for (; i < n && items[i].Day == day; i++)
            {
                if (items[i].Outcome == Outcome.Positive && !positive)
                {
                    (positive, positiveKey) = (true, items[i].Key.Value);
                }
            }
            if (day >= lo && (lastPositive == int.MinValue || day - lastPositive > WindowDays))
            {
                into.Add(new Contribution(day, cell, positive, positiveKey));
            }
            if (positive)
            {
                lastPositive = day;
            }
        }
    }

    private static int LowerBound(ReadOnlySpan<Entry> items, int day)
    {
        int lo = 0, hi = items.Length;
        while (lo < hi)
        {
            int mid = (lo + hi) >>> 1;
            if (items[mid].Day < day)
            {
                lo = mid + 1;
            }
            else
            {
                hi = mid;
            }
        }
        return lo;
    }

    /// <summary>Puts <paramref name="entry"/> among the first <paramref name="count"/> entries, sorted by (day, key)
    /// (the first entry of a day is its representative); returns the new count. There is room for one more.</summary>
    private static int Insert(Span<Entry> items, int count, in Entry entry)
    {
        int i = count;
        UInt128 key = entry.Key.Value;
        while (i > 0 && (items[i - 1].Day > entry.Day || items[i - 1].Day == entry.Day && items[i - 1].Key.Value > key))
        {
            i--;
        }
        items[i..count].CopyTo(items[(i + 1)..]);
        items[i] = entry;
        return count + 1;
    }

    /// <summary>Takes the entry of <paramref name="key"/> on <paramref name="day"/> out of the first
    /// <paramref name="count"/> (if there); returns the new count.</summary>
    private static int Remove(Span<Entry> items, int count, UInt128 key, int day)
    {
        for (int i = LowerBound(items[..count], day); i < count && items[i].Day == day; i++)
        {
            if (items[i].Key.Value == key)
            {
                items[(i + 1)..count].CopyTo(items[i..]);
                return count - 1;
            }
        }
        return count;
    }
}
