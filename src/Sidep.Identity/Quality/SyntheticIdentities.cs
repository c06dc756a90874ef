using Sidep.Domain;

namespace Sidep.Identity.Quality;

/// <summary>Knobs of the synthetic population (shares in [0, 1]).</summary>
public sealed record SyntheticOptions(
    int Persons = 100_000,
    int Seed = 1,
    double WithoutIns = 0.4,
    double Typo = 0.03,
    double MarriedNameAsBirthName = 0.05,
    double SwappedGiven = 0.05,
    double WrongBirthDay = 0.005,
    double Twins = 0.01,
    int MaxResultsPerPerson = 3,
    double Moves = 0.03,
    double AddressMissing = 0.05,
    double PhoneHeld = 0.85,
    double PhoneSent = 0.8,
    double EmailHeld = 0.3,
    double EmailSent = 0.5,
    double BirthplaceSent = 0.3);

/// <summary>A labelled population: its results (none when they went to a sink), how many persons, and how many pairs of
/// them are near-namesakes (same first given name, birth date and sex, surnames with a Jaro–Winkler similarity of 0.9
/// or more).</summary>
public sealed record SyntheticPopulation(List<LabelledResult> Results, int Persons, long NearNamesakePairs);

/// <summary>One synthetic result: what a lab sent, and who it truly is.</summary>
public sealed record LabelledResult(int TruePerson, PatientIdentity Identity, bool HasIns, bool Altered);

/// <summary>
/// Labelled synthetic identities: a realistic population (<see cref="Generate"/>, from INSEE's names and population
/// tables) with the errors labs make, and single random persons for streams too large to keep.
/// </summary>
public static class SyntheticIdentities
{
    private static readonly string[] s_surnames =
    [
        "MARTIN", "BERNARD", "THOMAS", "PETIT", "ROBERT", "RICHARD", "DURAND", "DUBOIS", "MOREAU", "LAURENT", "SIMON", "MICHEL",
        "LEFEBVRE", "LEROY", "ROUX", "DAVID", "BERTRAND", "MOREL", "FOURNIER", "GIRARD", "BONNET", "DUPONT", "LAMBERT", "FONTAINE",
        "ROUSSEAU", "VINCENT", "MULLER", "LEFÈVRE", "FAURE", "ANDRÉ", "MERCIER", "BLANC", "GUÉRIN", "BOYER", "GARNIER", "CHEVALIER",
        "FRANÇOIS", "LEGRAND", "GAUTHIER", "GARCIA", "PERRIN", "ROBIN", "CLÉMENT", "MORIN", "NICOLAS", "HENRY", "ROUSSEL", "MATHIEU",
        "GAUTIER", "MASSON", "MARCHAND", "DUVAL", "DENIS", "DUMONT", "MARIE", "LEMAIRE", "NOËL", "MEYER", "DUFOUR", "MEUNIER",
        "BRUN", "BLANCHARD", "GIRAUD", "JOLY", "RIVIÈRE", "LUCAS", "BRUNET", "GAILLARD", "BARBIER", "ARNAUD", "MARTINEZ", "GÉRARD",
        "ROCHE", "RENARD", "SCHMITT", "ROY", "LEROUX", "COLIN", "VIDAL", "CARON", "PICARD", "ROGER", "FABRE", "AUBERT",
        "LEMOINE", "RENAUD", "DUMAS", "LACROIX", "OLIVIER", "PHILIPPE", "BOURGEOIS", "PIERRE", "BENOIT", "REY", "LECLERC", "PAYET",
        "ROLLAND", "LECLERCQ", "GUILLAUME", "LECOMTE", "LOPEZ", "JEAN", "DUPUY", "GUILLOT", "HUBERT", "BERGER", "CARPENTIER", "SANCHEZ",
        "N'DIAYE", "DIALLO", "TRAORÉ", "BEN AMOR", "NGUYEN", "DA SILVA", "FERREIRA", "LE GALL", "LE ROUX", "DE LA FONTAINE", "SAINT-MARTIN", "KONATÉ",
    ];

    private static readonly string[] s_female =
    [
        "MARIE", "JEANNE", "FRANÇOISE", "MONIQUE", "CATHERINE", "NATHALIE", "ISABELLE", "SYLVIE", "ANNE", "MARTINE", "CHRISTINE", "SANDRINE",
        "CÉLINE", "STÉPHANIE", "SOPHIE", "JULIE", "AURÉLIE", "CAMILLE", "LÉA", "MANON", "CHLOÉ", "EMMA", "INÈS", "JADE", "LOUISE",
        "ALICE", "LINA", "ROSE", "ANNA", "MILA", "AMBRE", "JULIETTE", "ZOÉ", "LUCIE", "HÉLÈNE", "ÉLODIE", "VALÉRIE", "BRIGITTE",
        "MARIE-CLAIRE", "ANNE-SOPHIE", "MARIE-HÉLÈNE", "AÏCHA", "FATOU", "YASMINE", "CLÉMENCE", "MARGAUX", "OCÉANE", "PAULINE", "LAURA", "SARAH",
    ];

    private static readonly string[] s_male =
    [
        "JEAN", "PIERRE", "MICHEL", "ANDRÉ", "PHILIPPE", "ALAIN", "BERNARD", "JACQUES", "CHRISTOPHE", "NICOLAS", "DAVID", "STÉPHANE",
        "LAURENT", "FRÉDÉRIC", "JULIEN", "SÉBASTIEN", "THOMAS", "ANTOINE", "LUCAS", "HUGO", "GABRIEL", "LÉO", "RAPHAËL", "LOUIS",
        "ARTHUR", "JULES", "ADAM", "MAËL", "NOAH", "ETHAN", "PAUL", "NATHAN", "THÉO", "TOM", "SACHA", "MATHIS", "CLÉMENT",
        "JEAN-PIERRE", "JEAN-LUC", "JEAN-FRANÇOIS", "MAMADOU", "MOHAMED", "YANIS", "KARIM", "BAPTISTE", "MAXIME", "ROMAIN", "VINCENT", "OLIVIER", "PATRICK",
    ];

    /// <summary>One random person with a valid INS, for streams too large to keep (the 10-million-person benchmark).</summary>
    public static PatientIdentity RandomPerson(Random random) =>
        RandomPerson(random, random.Next(2) == 0 ? Sex.Female : Sex.Male, new DateOnly(1930 + random.Next(90), 1 + random.Next(12), 1 + random.Next(28)));

    /// <summary>One random person of the given sex and birth date, with a valid INS that agrees with both.</summary>
    public static PatientIdentity RandomPerson(Random random, Sex sex, DateOnly birth)
    {
        string[] firsts = sex == Sex.Female ? s_female : s_male;
        return new PatientIdentity
        {
            Ins = new Ins(Ins(sex, birth, random), InsNumber.NirOid, InsKind.Nir),
            BirthName = s_surnames[random.Next(s_surnames.Length)],
            GivenNames = [firsts[random.Next(firsts.Length)], firsts[random.Next(firsts.Length)]],
            BirthDate = new PartialDate(birth.Year, birth.Month, birth.Day),
            Sex = sex,
        };
    }

    /// <summary>A result of the same person as a lab without INS and with one typo in the birth name would send it.</summary>
    public static PatientIdentity WithoutInsWithTypo(PatientIdentity p, Random random) => p with { Ins = null, BirthName = Typo(p.BirthName!, random) };

    /// <summary>
    /// A labelled population drawn as France's is (<paramref name="tables"/>): persons by département and age class,
    /// first names by sex and decade of birth, surnames by their frequency — so that namesakes and near-namesakes occur
    /// at their natural rate —, a home (postcode and commune) in their département, a birthplace, a phone and an e-mail
    /// for some; then each person's results with the errors labs make (missing INS, typos, a married name sent as birth
    /// name, given names swapped, a wrong birth day, twins) and what else varies (moves, fields not sent).
    /// </summary>
    /// <param name="sink">Where each result goes as it is drawn, a person's results one after the other (a population too
    /// large to keep: 10 million persons); null: kept in <see cref="SyntheticPopulation.Results"/>.</param>
    public static SyntheticPopulation Generate(SyntheticOptions o, PopulationTables tables, Action<LabelledResult>? sink = null)
    {
        var random = new Random(o.Seed);
        List<LabelledResult> kept = sink is null ? new List<LabelledResult>(o.Persons * 2) : [];
        Action<LabelledResult> results = sink ?? kept.Add;
        var used = new HashSet<string>(StringComparer.Ordinal);
        var byNameDay = new Dictionary<string, List<string>>(StringComparer.Ordinal);
        int person = 0;
        while (person < o.Persons)
        {
            (string dep, int age) = tables.DrawResident(random);
            Sex sex = random.Next(2) == 0 ? Sex.Female : Sex.Male;
            var birth = tables.ReferenceDay.AddYears(-age).AddDays(-random.Next(365));
            string surname = tables.DrawSurname(random);
            string given = tables.DrawGiven(random, sex, birth.Year);
            string second = Another(tables, random, sex, birth.Year, given);
            // Two different persons never share all traits in this population: such pairs cannot be told apart by anyone.
            if (!used.Add($"{surname}|{given}|{birth}|{sex}"))
            {
                continue;
            }
            Add(byNameDay, $"{given}|{birth}|{sex}", surname);
            string? married = sex == Sex.Female && age >= 25 && random.NextDouble() < 0.3 ? tables.DrawSurname(random) : null;
            var contact = Contact.Draw(random, tables, dep, given, surname, o);
            Emit(results, person++, surname, married, given, second, birth, sex, Ins(sex, birth, random), contact, tables, o, random);
            if (random.NextDouble() < o.Twins && person < o.Persons)
            {
                // A twin: same surname, birth date and home, another first name (and, of course, another INS and phone).
                string twinGiven = tables.DrawGiven(random, sex, birth.Year);
                if (twinGiven != given && used.Add($"{surname}|{twinGiven}|{birth}|{sex}"))
                {
                    Add(byNameDay, $"{twinGiven}|{birth}|{sex}", surname);
                    Emit(results, person++, surname, null, twinGiven, Another(tables, random, sex, birth.Year, twinGiven), birth, sex, Ins(sex, birth, random),
                        contact with { Phone = contact.Phone is null ? null : NewPhone(random), Email = null }, tables, o, random);
                }
            }
        }
        // Near-namesakes: persons who share a first given name, a birth date and a sex, with surnames a letter or three
        // apart (DUPONT and DUPOND) — what a matcher on names alone would take for one person with a typo.
        long near = 0;
        foreach (List<string> surnames in byNameDay.Values)
        {
            for (int a = 0; a < surnames.Count; a++)
            {
                for (int b = a + 1; b < surnames.Count; b++)
                {
                    near += JaroWinkler.Similarity(Names.Compact(Names.Normalise(surnames[a])), Names.Compact(Names.Normalise(surnames[b]))) >= 0.9 ? 1 : 0;
                }
            }
        }
        return new SyntheticPopulation(kept, person, near);
    }

    /// <summary>A second given name, not the first one again.</summary>
    private static string Another(PopulationTables tables, Random random, Sex sex, int year, string first)
    {
        string second;
        do
        {
            second = tables.DrawGiven(random, sex, year);
        }
        while (second == first);
        return second;
    }

    private static void Add(Dictionary<string, List<string>> groups, string key, string value)
    {
        if (!groups.TryGetValue(key, out List<string>? list))
        {
            groups[key] = list = [];
        }
        list.Add(value);
    }

    /// <summary>Where a person lives and can be reached, and where they were born.</summary>
    private sealed record Contact(string Dep, string Postcode, string Commune, string Birthplace, string? Phone, string? Email)
    {
        public static Contact Draw(Random random, PopulationTables tables, string dep, string given, string surname, SyntheticOptions o)
        {
            (string postcode, string commune) = tables.Home(random, dep);
            // Most people live in the département they were born in, or near it; others anywhere (by population).
            string bornIn = random.NextDouble() < 0.6 ? dep : tables.DrawResident(random).Dep;
            return new Contact(dep, postcode, commune, tables.Home(random, bornIn).Commune,
                random.NextDouble() < o.PhoneHeld ? NewPhone(random) : null,
                random.NextDouble() < o.EmailHeld ? $"{Names.Compact(Names.Normalise(given)).ToLowerInvariant()}.{Names.Compact(Names.Normalise(surname)).ToLowerInvariant()}{random.Next(100)}@example.fr" : null);
        }
    }

    private static string NewPhone(Random random) => $"0{6 + random.Next(2)}{random.Next(100_000_000):D8}";

    private static void Emit(Action<LabelledResult> results, int truth, string surname, string? married, string given, string second, DateOnly birth, Sex sex,
        string ins, Contact contact, PopulationTables tables, SyntheticOptions o, Random random)
    {
        int count = 1 + random.Next(o.MaxResultsPerPerson);
        for (int i = 0; i < count; i++)
        {
            if (i > 0 && random.NextDouble() < o.Moves)
            {
                // Moved since the last test: a new home, anywhere in France; the phone and e-mail stay.
                string dep = tables.DrawResident(random).Dep;
                (string postcode, string commune) = tables.Home(random, dep);
                contact = contact with { Dep = dep, Postcode = postcode, Commune = commune };
            }
            bool withIns = random.NextDouble() >= o.WithoutIns;
            bool altered = false;
            string birthName = surname, first = given;
            string? usedName = married;
            var givens = new List<string> { given, second };
            DateOnly date = birth;
            if (!withIns)
            {
                if (random.NextDouble() < o.Typo)
                {
                    birthName = Typo(birthName, random);
                    altered = true;
                }
                if (random.NextDouble() < o.Typo)
                {
                    first = Typo(first, random);
                    givens[0] = first;
                    altered = true;
                }
                if (married is not null && random.NextDouble() < o.MarriedNameAsBirthName)
                {
                    (birthName, usedName) = (married, null);
                    altered = true;
                }
                if (random.NextDouble() < o.SwappedGiven)
                {
                    givens.Reverse();
                    altered = true;
                }
                if (random.NextDouble() < o.WrongBirthDay)
                {
                    date = date.AddDays(1 + random.Next(5));
                    altered = true;
                }
            }
            results(new LabelledResult(truth, new PatientIdentity
            {
                Ins = withIns ? new Ins(ins, InsNumber.NirOid, InsKind.Nir) : null,
                BirthName = birthName,
                UsedName = usedName,
                GivenNames = givens,
                BirthDate = new PartialDate(date.Year, date.Month, date.Day),
                Sex = sex,
                Address = random.NextDouble() < o.AddressMissing ? null : new Address("1 rue de la Gare", null, contact.Postcode, contact.Commune, "FRA"),
                BirthplaceCode = random.NextDouble() < o.BirthplaceSent ? contact.Birthplace : null,
                Phone = random.NextDouble() < o.PhoneSent ? contact.Phone : null,
                Email = random.NextDouble() < o.EmailSent ? contact.Email : null,
            }, withIns, altered));
        }
    }

    /// <summary>One keyboard slip: a letter dropped, doubled, replaced or two letters swapped.</summary>
    private static string Typo(string name, Random random)
    {
        if (name.Length < 3)
        {
            return name;
        }
        int at = 1 + random.Next(name.Length - 2);
        return random.Next(4) switch
        {
            0 => name.Remove(at, 1),
            1 => name.Insert(at, name[at].ToString()),
            2 => name[..at] + (char)('A' + random.Next(26)) + name[(at + 1)..],
            _ => name[..(at - 1)] + name[at] + name[at - 1] + name[(at + 1)..],
        };
    }

    /// <summary>A valid INS (NIR) for the person: sex, year, month, a random place and order, and its key.</summary>
    private static string Ins(Sex sex, DateOnly birth, Random random)
    {
        string thirteen = $"{(sex == Sex.Male ? 1 : 2)}{birth.Year % 100:D2}{birth.Month:D2}{1 + random.Next(95):D2}{random.Next(1000):D3}{random.Next(1000):D3}";
        return thirteen + (97 - long.Parse(thirteen) % 97).ToString("D2");
    }
}
