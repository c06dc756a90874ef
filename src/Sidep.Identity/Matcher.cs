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
    /// <summary>INS (as a number: see <see cref="InsKey"/>) → the person holding it.</summary>
    private readonly InsTable _byIns = new();
    /// <summary>Block (birth date + sex) → its persons, in the order they were created.</summary>
    private readonly Dictionary<string, BlockMembers> _byBlock = new(StringComparer.Ordinal);

    /// <summary>
    /// A block's members in creation order, each in one 40-byte record: the scan sweeps them in order (the first
    /// given name's profile and two flags first), and the surnames' profiles it reads for the members that pass are on
    /// the same cache line; the person itself is read only for the few that are scored.
    /// </summary>
    private sealed class BlockMembers(int id)
    {
        public const ulong Merged = 1UL << 62, HasIns = 1UL << 63;

        /// <summary>Its place in <see cref="_blocks"/>: what a person holds to name its block.</summary>
        public int Id { get; } = id;

        public struct Member
        {
            /// <summary>The first given name's profile, and the flags.</summary>
            public ulong Gate;
            public ulong Birth, Used;
            /// <summary>Name keys (birth name, used name, each with the first given name): exact matches by a sweep.</summary>
            public uint BirthKey, UsedKey;
            /// <summary>The person's index.</summary>
            public int Index;
        }

        public Member[] Members = new Member[2];
        public int Count;
        /// <summary>Slots of the members created without an INS (in order): the only candidates of a result with an
        /// INS besides its holder, since persons with another INS are other persons.</summary>
        public int[] TraitOnly = [];
        public int TraitOnlyCount;

        public int Add(int index, bool hasIns, Profile given, Profile birth, Profile used, uint birthKey, uint usedKey)
        {
            if (Count == Members.Length)
            {
                Array.Resize(ref Members, Members.Length * 2);
            }
            Members[Count] = new Member
            {
                Gate = given.Bits | (hasIns ? HasIns : 0), Birth = birth.Bits, Used = used.Bits, BirthKey = birthKey, UsedKey = usedKey, Index = index,
            };
            if (!hasIns)
            {
                if (TraitOnlyCount == TraitOnly.Length)
                {
                    Array.Resize(ref TraitOnly, Math.Max(2, TraitOnly.Length * 2));
                }
                TraitOnly[TraitOnlyCount++] = Count;
            }
            return Count++;
        }
    }

    /// <summary>Names, birth dates and lists of given names are shared by many persons: each is kept once, and a person
    /// holds its number here (<see cref="_texts"/>, <see cref="_givens"/>).</summary>
    private readonly Dictionary<string, int> _strings = new(StringComparer.Ordinal) { [""] = 0 };
    private readonly List<string> _texts = [""];
    private readonly Dictionary<string, int> _givenLists = new(StringComparer.Ordinal) { [""] = 0 };
    private readonly List<string[]> _givens = [[]];
    /// <summary>The blocks by number (a person holds its block's).</summary>
    private readonly List<BlockMembers> _blocks = [];
    /// <summary>The persons (id = index + 1), millions on a busy day: in chunks, never one array that doubles.</summary>
    private readonly ChunkedArray<Person> _people = new();
    private int _count;
    private readonly List<MergeEvent> _merges = [];
    private readonly List<(long A, long B, double Score)> _review = [];

    public int PersonCount => _count;
    public IReadOnlyList<MergeEvent> Merges => _merges;
    public IReadOnlyList<(long A, long B, double Score)> PossibleMatches => _review;

    /// <summary>
    /// One person, stored compactly: one struct of numbers in one array (person id = index + 1) — its strings by their
    /// number among those shared with every other person bearing the same names, its block by its number —, so that an
    /// index of millions of persons is a few arrays the garbage collector has no reference to trace in (48 bytes a person;
    /// with the strings and block as references it was 80, and six references a person to follow at every full
    /// collection).
    /// </summary>
    private struct Person
    {
        public int BirthName, UsedName, FirstGiven, BirthDate;
        public int Given;
        public Sex Sex;
        /// <summary>0: no INS.</summary>
        public long Ins;
        /// <summary>0: not merged.</summary>
        public long MergedInto;
        /// <summary>The person's block (<see cref="_blocks"/>) and place in it.</summary>
        public int Block;
        public int Slot;
    }

    /// <summary>
    /// What corroborates a link on approximate names, per person (<see cref="Evidence"/>'s fingerprints; 0: never sent):
    /// the birthplace, the current and the previous home (a move), their départements, phone, e-mail. In an array of its
    /// own beside <see cref="_people"/>: read only when approximate names are weighed, so the block scans' cache lines
    /// stay those of the names.
    /// </summary>
    private struct Known
    {
        public uint Birthplace, Home, PreviousHome, Phone, Email;
        public ushort Departement, PreviousDepartement;
    }

    private readonly ChunkedArray<Known> _known = new();

    private ref Known KnownOf(long id) => ref _known[checked((int)(id - 1))];

    /// <summary>A name's profile in one word: its letters (bits 0–26: A–Z, then any other character), its length
    /// (bits 27–34; 255: that long or longer) and its first two characters (bits 35–46, six bits each: A–Z exactly,
    /// other characters folded, which can only loosen a bound).</summary>
    private readonly record struct Profile(ulong Bits)
    {
        public const int LongName = 255;

        public int Mask => (int)(Bits & 0x7FF_FFFF);
        public int Length => (int)(Bits >> 27) & 0xFF;
        public int Head => (int)(Bits >> 35) & 0xFFF;

        public static Profile Of(string name)
        {
            ulong mask = 0;
            foreach (char c in name)
            {
                mask |= 1UL << Letter(c);
            }
            ulong length = (ulong)Math.Min(name.Length, LongName);
            ulong head = name.Length == 0 ? 0xFFF : (ulong)(Code(name[0]) | (name.Length == 1 ? 63 : Code(name[1])) << 6);
            return new Profile(mask | length << 27 | head << 35);
        }

        public static int Letter(char c) => c is >= 'A' and <= 'Z' ? c - 'A' : 26;

        private static int Code(char c) => c is >= 'A' and <= 'Z' ? c - 'A' : 26 + c % 36;
    }

    /// <summary>A query name's letter counts, for the bound.</summary>
    private sealed class QueryName
    {
        /// <summary>1 / n for the lengths a profile keeps: the bound multiplies instead of dividing.</summary>
        private static readonly double[] s_inverse = [.. Enumerable.Range(0, Profile.LongName + 1).Select(n => n == 0 ? 0 : 1.0 / n)];

        public readonly int[] Counts = new int[27];
        public string Name = "";
        public Profile Profile;
        /// <summary>Whether a letter occurs more than once: if not, the letters in common are one popcount.</summary>
        private bool _repeats;

        public void Set(string name)
        {
            Array.Clear(Counts);
            _repeats = false;
            foreach (char c in name)
            {
                _repeats |= ++Counts[Profile.Letter(c)] > 1;
            }
            Name = name;
            Profile = Profile.Of(name);
        }

        /// <summary>An upper bound of Jaro–Winkler(this name, a name of profile <paramref name="other"/>): matching
        /// characters are equal letters, so at most as many as this name's letters that the other holds; the Winkler
        /// bonus is at most the common prefix, bounded by the first two characters.</summary>
        public double UpperBound(in Profile other)
        {
            int length = Name.Length;
            if (length == 0 || other.Length == 0)
            {
                return length == other.Length ? 1 : 0;
            }
            if (length >= Profile.LongName || other.Length >= Profile.LongName)
            {
                return 1; // lengths not kept exactly: no bound
            }
            int common = 0;
            if (!_repeats)
            {
                common = System.Numerics.BitOperations.PopCount((uint)(Profile.Mask & other.Mask));
            }
            else
            {
                for (int bits = other.Mask & Profile.Mask; bits != 0; bits &= bits - 1)
                {
                    common += Counts[System.Numerics.BitOperations.TrailingZeroCount(bits)];
                }
            }
            common = Math.Min(common, Math.Min(length, other.Length));
            if (common == 0)
            {
                return 0;
            }
            double jaro = (common * (s_inverse[length] + s_inverse[other.Length]) + 1) * (1.0 / 3);
            int prefix = (Profile.Head & 0x3F) != (other.Head & 0x3F) ? 0 : Profile.Head != other.Head ? 1 : 4;
            return jaro + prefix * 0.1 * (1 - jaro) + 1e-9;
        }
    }

    private readonly QueryName _qBirth = new(), _qUsed = new(), _qGiven = new();

    /// <summary>The traits of a query or of a stored person, as the scoring reads them.</summary>
    private readonly record struct View(string BirthName, string UsedName, string FirstGiven, IReadOnlyList<string> Given, string BirthDate, Sex Sex)
    {
        public static View Of(Traits t) => new(t.BirthName, t.UsedName, t.FirstGiven, t.Given, t.BirthDate, t.Sex);

    }

    private View ViewOf(in Person p) => new(_texts[p.BirthName], _texts[p.UsedName], _texts[p.FirstGiven], _givens[p.Given], _texts[p.BirthDate], p.Sex);

    private ref Person At(long id) => ref _people[checked((int)(id - 1))];

    /// <summary>The person a result belongs to, and why. An INS that fails its key (or the test/demo OIDs when
    /// <paramref name="sandbox"/> is false) is ignored: the result is matched on its traits.</summary>
    public MatchDecision Match(PatientIdentity identity, bool sandbox = true) => Match(identity, sandbox, out _);

    /// <summary>As <see cref="Match(PatientIdentity, bool)"/>, with the normalised traits it matched on (what a person key
    /// such as <see cref="PersonKeys.Spf2021"/> is made of: normalised once).</summary>
    public MatchDecision Match(PatientIdentity identity, bool sandbox, out Traits traits)
    {
        traits = Traits.Of(identity);
        var evidence = Evidence.Of(identity);
        string? ins = TrustedIns(identity, sandbox);
        MatchDecision decision = ins is null ? ByTraits(traits, evidence) : ByIns(InsKey(ins), traits, evidence);
        Remember(decision.PersonId, evidence);
        return decision;
    }

    /// <summary>The INS the matcher links by: one that passes its key, and outside a sandbox only under the NIR or NIA
    /// OIDs (test and demo INS are matched on their traits); null when there is none.</summary>
    public static string? TrustedIns(PatientIdentity identity, bool sandbox) =>
        identity.Ins is { } i && InsNumber.IsValid(i.Matricule) && (sandbox || i.Kind is InsKind.Nir or InsKind.Nia) ? i.Matricule : null;

    /// <summary>The person these traits designate, without recording anything: the INS holder, else a person with the
    /// same traits, else one similar enough to be linked; null when none.</summary>
    public long? Find(PatientIdentity identity, bool sandbox = true)
    {
        var traits = Traits.Of(identity);
        if (TrustedIns(identity, sandbox) is string ins && _byIns.TryGetValue(InsKey(ins), out long holder))
        {
            return Resolve(holder);
        }
        var query = View.Of(traits);
        _byBlock.TryGetValue(traits.Block, out BlockMembers? block);
        if (ExactCandidate(block, traits, query) is (long exact, _))
        {
            return Resolve(exact);
        }
        (long best, double score, _) = BestInBlock(block, query, ins: 0, holder: 0, floor: _t.Link, explain: false);
        return best != 0 && (score >= 0.999 || score >= _t.Link && Corroborate(Evidence.Of(identity), KnownOf(best), null).Link) ? Resolve(best) : null;
    }

    /// <summary>A valid matricule as a number: its 15 digits, Corsica's 2A and 2B told apart from département 19 and 18
    /// by a high bit.</summary>
    private static long InsKey(string matricule)
    {
        long corsica = matricule[6] switch { 'A' or 'a' => 1L << 60, 'B' or 'b' => 2L << 60, _ => 0 };
        long n = 0;
        foreach (char c in matricule)
        {
            n = n * 10 + (char.IsAsciiDigit(c) ? c - '0' : 0);
        }
        return n | corsica;
    }

    private MatchDecision ByIns(long ins, Traits traits, in Evidence evidence)
    {
        var query = View.Of(traits);
        bool held = _byIns.TryGetValue(ins, out long holderId);
        _byBlock.TryGetValue(traits.Block, out BlockMembers? block);
        // Whatever the INS, a person known by traits counts only if linked (merged into the holder, or given the INS):
        // candidates below the link threshold are not looked for, and the explanation is built only for an attachment.
        (long best, double score, _) = BestInBlock(block, query, ins, held ? holderId : 0, floor: _t.Link, explain: false);
        if (held)
        {
            long holder = Resolve(holderId);
            View holderTraits = ViewOf(At(holder));
            List<FieldComparison> check = Compare(query, holderTraits, out double agreement);
            if ((holderTraits.BirthDate != traits.BirthDate || holderTraits.Sex != traits.Sex) && !Compatible(holderTraits.BirthDate, traits.BirthDate) || agreement < _t.Review)
            {
                // Same INS, incompatible traits: never merged silently. A separate person, flagged for review.
                long flagged = NewPerson(traits, ins: 0, block, evidence);
                _review.Add((flagged, holder, agreement));
                return new MatchDecision(flagged, MatchRule.InsConflict, agreement, check, holder);
            }
            // The INS proves that trait-only persons matching these traits exactly are this person too.
            var merged = new List<long>();
            if (best != 0 && best != holder && At(best).Ins == 0 && score >= _t.Link && (score >= 0.999 || Corroborate(evidence, KnownOf(best), null).Link))
            {
                Merge(best, holder, "an INS result matched both the INS holder and a person known by traits only");
                merged.Add(best);
            }
            return new MatchDecision(holder, MatchRule.InsKnown, agreement, check, MergedPersonIds: merged);
        }
        // An INS new to Sidep joins a person known by traits only when the traits agree exactly, or approximately with
        // something independent of the names in common (as a link without INS would need).
        if (best != 0 && At(best).Ins == 0 && score >= _t.Link && (score >= 0.999 || Corroborate(evidence, KnownOf(best), null).Link))
        {
            ref Person attached = ref At(best);
            attached.Ins = ins;
            _blocks[attached.Block].Members[attached.Slot].Gate |= BlockMembers.HasIns;
            _byIns.Set(ins, best);
            return new MatchDecision(best, MatchRule.InsAttachedToTraitMatch, score, Compare(query, ViewOf(attached), out _));
        }
        long person = NewPerson(traits, ins, block, evidence);
        return new MatchDecision(person, MatchRule.InsNewPerson, 1, [new FieldComparison("ins", "new", 1)]);
    }

    private MatchDecision ByTraits(Traits traits, in Evidence evidence)
    {
        var query = View.Of(traits);
        _byBlock.TryGetValue(traits.Block, out BlockMembers? block);
        if (ExactCandidate(block, traits, query) is (long exact, List<FieldComparison> exactComparisons))
        {
            return new MatchDecision(exact, MatchRule.ExactTraits, 1, exactComparisons);
        }
        (long best, double score, List<FieldComparison> comparisons) = BestInBlock(block, query, ins: 0, holder: 0, floor: _t.Review, explain: true);
        if (best != 0 && score >= 0.999)
        {
            return new MatchDecision(best, MatchRule.ExactTraits, score, comparisons);
        }
        if (best != 0 && score >= _t.Link)
        {
            // Approximate names never link alone (identity vigilance): something independent of the names must agree —
            // birthplace, home, phone or e-mail — and nothing may contradict it (another birthplace; homes in other
            // départements with nothing else in common). Otherwise the pair goes to review.
            (bool link, string why) = Corroborate(evidence, KnownOf(best), comparisons);
            comparisons.Add(new FieldComparison("corroboration", why, link ? 1 : 0));
            if (link)
            {
                return new MatchDecision(best, MatchRule.FuzzyTraits, score, comparisons);
            }
        }
        // Below the link threshold, a similar person is worth an agent's look only when something independent of the
        // names is shared too (a home, a phone…): at national scale, similar names alone in a birth-date block are most
        // often two persons, and listing them all would bury the queue.
        // (A pair whose names would link but for a contradiction — another second given name, a first name below the
        // floor — is capped just under the link threshold: always listed.)
        bool capped = score >= _t.Link - 0.01 - 1e-9;
        bool worthReview = best != 0 && (score >= _t.Link || capped || score >= _t.Review && Corroborate(evidence, KnownOf(best), null).Link);
        if (best != 0 && score >= _t.Review && score < _t.Link)
        {
            comparisons.Add(new FieldComparison("corroboration", capped
                ? "names that would link but for a contradiction: listed for review"
                : worthReview
                ? "similar names and something independent of them in common: listed for review"
                : "similar names and nothing independent of them in common: a new person, not listed", worthReview ? 1 : 0));
        }
        long person = NewPerson(traits, ins: 0, block, evidence);
        if (worthReview)
        {
            _review.Add((person, best, score));
            return new MatchDecision(person, MatchRule.PossibleMatch, score, comparisons, best);
        }
        return new MatchDecision(person, MatchRule.NewPerson, score, comparisons, best == 0 ? null : best);
    }

    /// <summary>A 32-bit key of a name and a first given name (FNV-1a; never 0, which means "no name"): equal keys
    /// are always compared in full.</summary>
    private static uint NameKey(string name, string given)
    {
        if (name.Length == 0)
        {
            return 0;
        }
        uint h = 2166136261;
        foreach (char c in name)
        {
            h = (h ^ c) * 16777619;
        }
        h = (h ^ 0x1F) * 16777619;
        foreach (char c in given)
        {
            h = (h ^ c) * 16777619;
        }
        return h == 0 ? 1 : h;
    }

    /// <summary>A person of the block with the same birth or used name and first given name who also agrees on
    /// everything else (second given name…): found by the members' name keys, one sweep of 4-byte keys per name.</summary>
    private (long, List<FieldComparison>)? ExactCandidate(BlockMembers? block, Traits traits, in View query)
    {
        if (block is null)
        {
            return null;
        }
        for (int pass = 0; pass < 2; pass++)
        {
            uint key = NameKey(pass == 0 ? traits.BirthName : traits.UsedName, traits.FirstGiven);
            if (key == 0)
            {
                continue;
            }
            ReadOnlySpan<BlockMembers.Member> members = block.Members.AsSpan(0, block.Count);
            for (int slot = 0; slot < members.Length; slot++)
            {
                ref readonly BlockMembers.Member member = ref members[slot];
                if ((member.BirthKey != key && member.UsedKey != key) || (member.Gate & BlockMembers.Merged) != 0)
                {
                    continue;
                }
                long id = member.Index + 1L;
                List<FieldComparison> comparisons = Compare(query, ViewOf(At(id)), out double score);
                if (score >= 0.999)
                {
                    return (id, comparisons);
                }
            }
        }
        return null;
    }

    /// <summary>
    /// The most similar person of the block whose score reaches <paramref name="floor"/> (the review threshold, or the
    /// link threshold when only a link matters); none when no one does. For a result
    /// with an INS, persons with another INS are other persons by definition: only the persons known by traits and
    /// the INS holder are candidates. Each candidate's score is first bounded from its names' letters, lengths and
    /// first characters (<see cref="QueryName.UpperBound"/>): only those whose bound reaches the floor and the best so
    /// far are scored. The explanation (how the best compared, or how many were compared) only when asked for. Equal scores go to the person created first, so the decision is the one a full
    /// scan of the block in creation order would make.
    /// </summary>
    private (long Best, double Score, List<FieldComparison> Comparisons) BestInBlock(BlockMembers? block, in View query, long ins, long holder,
        double floor, bool explain)
    {
        if (block is null)
        {
            return (0, 0, []);
        }
        _qBirth.Set(query.BirthName);
        _qUsed.Set(query.UsedName);
        _qGiven.Set(query.FirstGiven);
        _swap.Clear();
        for (int i = 1; i < query.Given.Count; i++)
        {
            _swap.Add(Profile.Of(query.Given[i]));
        }
        var scan = new Scan(-1, 0, 0, floor);
        if (ins == 0)
        {
            for (int slot = 0; slot < block.Count; slot++)
            {
                Consider(query, block, slot, ref scan);
            }
        }
        else
        {
            // The holder, when it is a member of this block, then the persons known by traits only.
            if (holder != 0 && At(holder).Block == block.Id)
            {
                Consider(query, block, At(holder).Slot, ref scan);
            }
            for (int i = 0; i < block.TraitOnlyCount; i++)
            {
                int slot = block.TraitOnly[i];
                if ((block.Members[slot].Gate & BlockMembers.HasIns) == 0)
                {
                    Consider(query, block, slot, ref scan);
                }
            }
        }
        long best = scan.Slot < 0 ? 0 : block.Members[scan.Slot].Index + 1L;
        if (!explain)
        {
            return (best, scan.Score, []);
        }
        List<FieldComparison> bestComparisons = [];
        if (best != 0)
        {
            Score(query, ViewOf(At(best)), bestComparisons); // the explanation, for the one that counts
        }
        else
        {
            bestComparisons.Add(new FieldComparison("block (birth date + sex)", NoneSimilar(scan.Compared), 0));
        }
        return (best, scan.Score, bestComparisons);
    }

    private static readonly string[] s_noneSimilar = [.. Enumerable.Range(0, 512).Select(n => $"{n} persons compared, none similar enough for review")];

    private static string NoneSimilar(int compared) =>
        compared < s_noneSimilar.Length ? s_noneSimilar[compared] : $"{compared} persons compared, none similar enough for review";

    /// <summary>The best candidate so far (its slot in the block, -1: none), how many were compared, and the score a
    /// candidate must reach to count at all.</summary>
    private record struct Scan(int Slot, double Score, int Compared, double Floor);

    private void Consider(in View query, BlockMembers block, int slot, ref Scan scan)
    {
        ref readonly BlockMembers.Member member = ref block.Members[slot];
        ulong gate = member.Gate;
        if ((gate & BlockMembers.Merged) != 0)
        {
            return;
        }
        var candidateGiven = new Profile(gate & ~(BlockMembers.Merged | BlockMembers.HasIns));
        scan.Compared++;
        double bar = Math.Max(scan.Floor, scan.Score);
        // Given names in another order can make the given-name score 1: only when the candidate's first given
        // name could be one of the query's other given names.
        double given = _swap.Count > 0 && SwapPossible(candidateGiven) ? 1 : _qGiven.UpperBound(candidateGiven);
        // Below the floor, a first given name caps the score under the link threshold (see Score).
        if (0.55 + 0.45 * given < bar || bar >= _t.Link && given < _t.GivenFloor)
        {
            return;
        }
        var birth = new Profile(member.Birth);
        var used = new Profile(member.Used);
        double name = Math.Max(Math.Max(Bound(_qBirth, birth), Bound(_qBirth, used)), Math.Max(Bound(_qUsed, birth), Bound(_qUsed, used)));
        if (0.55 * name + 0.45 * given < bar)
        {
            return;
        }
        double score = Score(query, ViewOf(_people[member.Index]), explain: null);
        if (score >= scan.Floor && (score > scan.Score || score == scan.Score && scan.Slot >= 0 && slot < scan.Slot))
        {
            (scan.Slot, scan.Score) = (slot, score);
        }
    }

    private static double Bound(QueryName query, in Profile candidate) => query.Name.Length == 0 || candidate.Length == 0 ? 0 : query.UpperBound(candidate);

    /// <summary>The profiles of the query's given names after the first: a candidate whose first given name is one of
    /// them may be the same person with the names in another order.</summary>
    private readonly List<Profile> _swap = [];

    private bool SwapPossible(in Profile candidateGiven)
    {
        foreach (Profile other in System.Runtime.InteropServices.CollectionsMarshal.AsSpan(_swap))
        {
            if (other.Length == candidateGiven.Length && other.Mask == candidateGiven.Mask && other.Head == candidateGiven.Head)
            {
                return true;
            }
        }
        return false;
    }

    /// <summary>Scores two sets of traits: the best pairing of birth/used names (a married name sent as birth name
    /// still meets the used name), the first given name against any of the other's given names (order swapped),
    /// weighted 0.55 name, 0.45 given name; a given name below the floor caps the score under the link threshold.</summary>
    private List<FieldComparison> Compare(in View a, in View b, out double score)
    {
        var comparisons = new List<FieldComparison>(5);
        score = Score(a, b, comparisons);
        return comparisons;
    }

    /// <summary>The score of a pair; fills <paramref name="explain"/> (when given) with how each field compared.
    /// Scoring the candidates of a block allocates nothing.</summary>
    private double Score(in View a, in View b, List<FieldComparison>? explain)
    {
        double score;
        double given = JaroWinkler.Similarity(a.FirstGiven, b.FirstGiven);
        string givenHow = "first given name";
        // A given name that extends another by two letters or more (JEAN and JEAN-LOUP, LOUIS and LOUISON, BRICE and
        // FABRICE) is another name, not a slip of the keyboard (a slip adds or drops one letter): below the floor, so
        // never linked on it.
        if (given < 0.999 && Extends(a.FirstGiven, b.FirstGiven))
        {
            (given, givenHow) = (Math.Min(given, _t.GivenFloor - 0.01), "first given name (one extends the other)");
        }
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
        // (Whether the first given names are equal or only similar: a slip in one name and another second name make a
        // relative, not a typo. Below the floor the score is capped already.)
        if (a.Given.Count >= 2 && b.Given.Count >= 2 && given >= _t.GivenFloor)
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

    private static bool Extends(string x, string y) =>
        Math.Abs(x.Length - y.Length) >= 2 && x.Length > 0 && y.Length > 0 &&
        (x.StartsWith(y, StringComparison.Ordinal) || y.StartsWith(x, StringComparison.Ordinal) || x.EndsWith(y, StringComparison.Ordinal) || y.EndsWith(x, StringComparison.Ordinal));

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

    /// <summary>The number of a string among the shared ones (added if new).</summary>
    private int Shared(string value)
    {
        ref int number = ref System.Runtime.InteropServices.CollectionsMarshal.GetValueRefOrAddDefault(_strings, value, out bool exists);
        if (!exists)
        {
            number = _texts.Count;
            _texts.Add(value);
        }
        return number;
    }

    /// <summary>The number of a list of given names among the shared ones (added if new, its names shared).</summary>
    private int SharedGiven(IReadOnlyList<string> given)
    {
        string key = given.Count switch { 0 => "", 1 => given[0], _ => string.Join('\u001F', given) };
        ref int number = ref System.Runtime.InteropServices.CollectionsMarshal.GetValueRefOrAddDefault(_givenLists, key, out bool exists);
        if (!exists)
        {
            number = _givens.Count;
            _givens.Add([.. given.Select(g => _texts[Shared(g)])]);
        }
        return number;
    }

    /// <summary>A new person in <paramref name="members"/> (the block of its traits, looked up by the caller; null
    /// when the block is new). Its strings are those already held: the birth date of the block's first member, the
    /// first given name of the shared list of given names.</summary>
    private long NewPerson(Traits traits, long ins, BlockMembers? members, in Evidence evidence)
    {
        _people.Grow(_count + 1);
        _known.Grow(_count + 1);
        int index = _count++;
        int birthDate;
        if (members is null)
        {
            members = new BlockMembers(_blocks.Count);
            _blocks.Add(members);
            _byBlock.Add(traits.Block, members);
            birthDate = Shared(traits.BirthDate);
        }
        else
        {
            birthDate = _people[members.Members[0].Index].BirthDate;
        }
        int given = SharedGiven(traits.Given);
        string[] givenNames = _givens[given];
        int firstGiven = givenNames.Length > 0 && givenNames[0] == traits.FirstGiven ? Shared(givenNames[0]) : Shared(traits.FirstGiven);
        _people[index] = new Person
        {
            BirthName = Shared(traits.BirthName), UsedName = Shared(traits.UsedName), FirstGiven = firstGiven,
            BirthDate = birthDate, Given = given, Sex = traits.Sex, Ins = ins, Block = members.Id,
        };
        Remember(index + 1L, evidence);
        _people[index].Slot = members.Add(index, ins != 0, Profile.Of(traits.FirstGiven), Profile.Of(traits.BirthName), Profile.Of(traits.UsedName),
            NameKey(traits.BirthName, traits.FirstGiven), NameKey(traits.UsedName, traits.FirstGiven));
        if (ins != 0)
        {
            _byIns.Set(ins, index + 1L);
        }
        return index + 1L;
    }

    /// <summary>Keeps what a result says of where its person was born, lives and can be reached: the first birthplace
    /// (it never changes), the latest home with the one before (a move), the latest phone and e-mail.</summary>
    private void Remember(long id, in Evidence e)
    {
        if (id < 1 || id > _count || e == default)
        {
            return;
        }
        ref Known p = ref KnownOf(Resolve(id));
        if (p.Birthplace == 0)
        {
            p.Birthplace = e.Birthplace;
        }
        if (e.Home != 0 && e.Home != p.Home)
        {
            (p.PreviousHome, p.PreviousDepartement) = (p.Home, p.Departement);
            (p.Home, p.Departement) = (e.Home, e.Departement);
        }
        else if (e.Home == 0 && e.Departement != 0 && p.Departement == 0)
        {
            p.Departement = e.Departement;
        }
        p.Phone = e.Phone != 0 ? e.Phone : p.Phone;
        p.Email = e.Email != 0 ? e.Email : p.Email;
    }

    /// <summary>
    /// Whether a link on approximate names is corroborated by something independent of the names: the same birthplace,
    /// the same home (postcode or commune, current or previous), the same phone or e-mail — and contradicted by nothing:
    /// another birthplace blocks it; homes in different départements block it unless phone or e-mail agree (a move).
    /// Adds how each compared to <paramref name="explain"/> (outcomes only, never values).
    /// </summary>
    private static (bool Link, string Why) Corroborate(in Evidence q, in Known p, List<FieldComparison>? explain)
    {
        static string Compare(List<FieldComparison>? explain, string field, uint a, uint b, uint previous = 0)
        {
            string outcome = a == 0 || b == 0 && previous == 0 ? "not sent on both sides" : a == b || a == previous ? "equal" : "different";
            explain?.Add(new FieldComparison(field, outcome, outcome == "equal" ? 1 : 0));
            return outcome;
        }
        // A birthplace and a home are a household's (twins share both, and nearly their names); a mobile phone and an
        // e-mail are a person's own.
        string birthplace = Compare(explain, "birthplace", q.Birthplace, p.Birthplace);
        string home = Compare(explain, "home (postcode or commune)", q.Home, p.Home, p.PreviousHome);
        bool elsewhere = false;
        if (home != "equal" && q.Departement != 0 && (p.Departement != 0 || p.PreviousDepartement != 0))
        {
            bool sameDepartement = q.Departement == p.Departement || q.Departement == p.PreviousDepartement;
            elsewhere = !sameDepartement;
            explain?.Add(new FieldComparison("home département", sameDepartement ? "equal" : "different", sameDepartement ? 1 : 0));
        }
        string phone = Compare(explain, "phone", q.Phone, p.Phone), email = Compare(explain, "e-mail", q.Email, p.Email);
        bool personal = phone == "equal" || email == "equal";
        bool anotherPerson = !personal && (phone == "different" || email == "different");
        if (birthplace == "different")
        {
            return (false, "not linked: approximate names and another birthplace; listed for review");
        }
        if (personal)
        {
            return (true, "linked: approximate names, corroborated by the person's own phone or e-mail");
        }
        if (anotherPerson)
        {
            return (false, elsewhere
                ? "not linked: approximate names, homes in different départements and another phone or e-mail; listed for review"
                : "not linked: approximate names and another phone or e-mail (a relative sharing the home?); listed for review");
        }
        if (birthplace == "equal" || home == "equal")
        {
            return (true, "linked: approximate names, corroborated by the same birthplace or home");
        }
        return elsewhere
            ? (false, "not linked: approximate names, homes in different départements and nothing else in common; listed for review")
            : (false, "not linked: approximate names alone never link (nothing independent of them agrees); listed for review");
    }

    private long Resolve(long id)
    {
        while (At(id).MergedInto is long into and not 0)
        {
            id = into;
        }
        return id;
    }

    private void Merge(long from, long into, string reason)
    {
        ref Person merged = ref At(from);
        // What was known of the merged person is the person's: a birthplace, a home, a phone it was the only one to hold.
        ref Known kept = ref KnownOf(into);
        Known gone = KnownOf(from);
        kept.Birthplace = kept.Birthplace != 0 ? kept.Birthplace : gone.Birthplace;
        if (kept.PreviousHome == 0 && gone.Home != 0 && gone.Home != kept.Home)
        {
            (kept.PreviousHome, kept.PreviousDepartement) = (gone.Home, gone.Departement);
        }
        kept.Phone = kept.Phone != 0 ? kept.Phone : gone.Phone;
        kept.Email = kept.Email != 0 ? kept.Email : gone.Email;
        merged.MergedInto = into;
        _blocks[merged.Block].Members[merged.Slot].Gate |= BlockMembers.Merged;
        _merges.Add(new MergeEvent(from, into, reason));
    }

    /// <summary>The person a (possibly merged) id now designates.</summary>
    public long Current(long personId) => personId >= 1 && personId <= _count ? Resolve(personId) : personId;
}
