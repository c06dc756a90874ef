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
    int MaxResultsPerPerson = 3);

/// <summary>One synthetic result: what a lab sent, and who it truly is.</summary>
public sealed record LabelledResult(int TruePerson, PatientIdentity Identity, bool HasIns, bool Altered);

/// <summary>
/// Labelled synthetic identities with realistic French names and the errors labs make: missing INS, typos, a married
/// name sent as birth name, given names swapped, a wrong birth day, twins sharing birth date and surname.
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

    public static List<LabelledResult> Generate(SyntheticOptions o)
    {
        var random = new Random(o.Seed);
        var results = new List<LabelledResult>(o.Persons * 2);
        var used = new HashSet<string>(StringComparer.Ordinal);
        int person = 0;
        while (person < o.Persons)
        {
            Sex sex = random.Next(2) == 0 ? Sex.Female : Sex.Male;
            string[] firsts = sex == Sex.Female ? s_female : s_male;
            var birth = new DateOnly(1930 + random.Next(90), 1 + random.Next(12), 1 + random.Next(28));
            string surname = s_surnames[random.Next(s_surnames.Length)];
            string given = firsts[random.Next(firsts.Length)];
            string second = firsts[random.Next(firsts.Length)];
            // Two different persons never share all traits in this population: such pairs cannot be told apart by anyone.
            if (!used.Add($"{surname}|{given}|{birth}|{sex}"))
            {
                continue;
            }
            string? married = sex == Sex.Female && random.NextDouble() < 0.3 ? s_surnames[random.Next(s_surnames.Length)] : null;
            string ins = Ins(sex, birth, random);
            Emit(results, person++, surname, married, given, second, birth, sex, ins, o, random);
            if (random.NextDouble() < o.Twins && person < o.Persons)
            {
                // A twin: same surname and birth date, another first name (and, of course, another INS).
                string twinGiven = firsts[random.Next(firsts.Length)];
                if (twinGiven != given && used.Add($"{surname}|{twinGiven}|{birth}|{sex}"))
                {
                    Emit(results, person++, surname, null, twinGiven, second, birth, sex, Ins(sex, birth, random), o, random);
                }
            }
        }
        return results;
    }

    private static void Emit(List<LabelledResult> results, int truth, string surname, string? married, string given, string second, DateOnly birth, Sex sex,
        string ins, SyntheticOptions o, Random random)
    {
        int count = 1 + random.Next(o.MaxResultsPerPerson);
        for (int i = 0; i < count; i++)
        {
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
            results.Add(new LabelledResult(truth, new PatientIdentity
            {
                Ins = withIns ? new Ins(ins, InsNumber.NirOid, InsKind.Nir) : null,
                BirthName = birthName,
                UsedName = usedName,
                GivenNames = givens,
                BirthDate = new PartialDate(date.Year, date.Month, date.Day),
                Sex = sex,
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
