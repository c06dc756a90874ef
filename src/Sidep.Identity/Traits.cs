using System.Globalization;
using System.Text;
using Sidep.Domain;
using Sidep.Indicators;

namespace Sidep.Identity;

/// <summary>
/// Identity traits normalised as French identity-vigilance practice compares them: upper case, accents and
/// diacritics removed, ligatures spelt out, hyphens, apostrophes and runs of spaces made equivalent; the first given
/// name taken out of a list; a partial birth date coded with 00 for an unknown month or day.
/// </summary>
public sealed record Traits(string BirthName, string UsedName, string FirstGiven, IReadOnlyList<string> Given, string BirthDate, Sex Sex)
{
    public static Traits Of(PatientIdentity p)
    {
        // Given names as whole names ("Jean-Pierre" is one), compact; a list sent in one field is split on commas.
        var given = new List<string>(p.GivenNames.Count);
        foreach (string field in p.GivenNames)
        {
            if (field.AsSpan().IndexOfAny(',', ';') < 0)
            {
                AddGiven(given, field); // the usual case: one name per field, nothing to split
                continue;
            }
            foreach (string name in field.Split([',', ';'], StringSplitOptions.RemoveEmptyEntries))
            {
                AddGiven(given, name);
            }
        }
        return new Traits(Names.Compact(Names.Normalise(p.BirthName)), Names.Compact(Names.Normalise(p.UsedName)), given.Count > 0 ? given[0] : "", given,
            BirthDateKey(p.BirthDate), p.Sex);
    }

    private static void AddGiven(List<string> given, string name)
    {
        string compact = Names.Compact(Names.Normalise(name));
        if (compact.Length > 0)
        {
            given.Add(compact);
        }
    }

    /// <summary>YYYYMMDD with 00 for an unknown month or day; 00000000 when unknown.</summary>
    public static string BirthDateKey(PartialDate? d)
    {
        if (d is not { } date || date.Year is < 0 or > 9999)
        {
            return "00000000";
        }
        return string.Create(8, (date.Year, date.Month ?? 0, date.Day ?? 0), static (chars, v) =>
        {
            v.Item1.TryFormat(chars, out _, "D4", System.Globalization.CultureInfo.InvariantCulture);
            chars[4] = (char)('0' + v.Item2 / 10 % 10);
            chars[5] = (char)('0' + v.Item2 % 10);
            chars[6] = (char)('0' + v.Item3 / 10 % 10);
            chars[7] = (char)('0' + v.Item3 % 10);
        });
    }

    /// <summary>The blocking key of ARCHITECTURE.md decision 5: birth date + sex.</summary>
    public string Block { get; } = string.Concat(BirthDate, Sex switch { Sex.Female => "|F", Sex.Male => "|M", Sex.Other => "|O", _ => "|U" });
}

public static class Names
{
    /// <summary>Upper case, diacritics removed (Œ → OE, Æ → AE, ß → SS), hyphens, apostrophes, dots and runs of
    /// spaces become one space.</summary>
    public static string Normalise(string? name)
    {
        if (string.IsNullOrWhiteSpace(name))
        {
            return "";
        }
        if (FastPath(name) is string fast)
        {
            return fast;
        }
        string decomposed = name.Trim().Normalize(NormalizationForm.FormD);
        var sb = new StringBuilder(decomposed.Length);
        bool space = false;
        foreach (char c in decomposed)
        {
            if (CharUnicodeInfo.GetUnicodeCategory(c) == UnicodeCategory.NonSpacingMark)
            {
                continue;
            }
            string? spelt = c switch { 'Œ' or 'œ' => "OE", 'Æ' or 'æ' => "AE", 'ß' => "SS", 'Ø' or 'ø' => "O", 'Ł' or 'ł' => "L", _ => null };
            if (spelt is not null)
            {
                Flush(sb, ref space);
                sb.Append(spelt);
            }
            else if (char.IsLetterOrDigit(c))
            {
                Flush(sb, ref space);
                sb.Append(char.ToUpperInvariant(c));
            }
            else
            {
                space = true; // hyphen, apostrophe (' ’), dot, space…
            }
        }
        return sb.ToString();

        static void Flush(StringBuilder sb, ref bool space)
        {
            if (space && sb.Length > 0)
            {
                sb.Append(' ');
            }
            space = false;
        }
    }

    /// <summary>Base letters of Latin-1 accented letters (U+00C0–U+00FF), upper case; '\0' for non-letters.</summary>
    private const string Latin1Base = "AAAAAAACEEEEIIIIDNOOOOO\0OUUUUYTSAAAAAAACEEEEIIIIDNOOOOO\0OUUUUYTY";

    private static readonly System.Buffers.SearchValues<char> s_normalised = System.Buffers.SearchValues.Create("ABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789");

    /// <summary>ASCII and Latin-1 names (nearly all French names) without Unicode normalisation; null otherwise.</summary>
    private static string? FastPath(string name)
    {
        // Already normalised (upper-case ASCII letters and digits, as most HL7 feeds send names): the name itself.
        if (!name.AsSpan().ContainsAnyExcept(s_normalised))
        {
            return name;
        }
        Span<char> buffer = name.Length <= 128 ? stackalloc char[name.Length * 2] : new char[name.Length * 2];
        int n = 0;
        bool space = false;
        foreach (char c in name)
        {
            char upper;
            if (c < 0x80)
            {
                if (!char.IsAsciiLetterOrDigit(c))
                {
                    space = true;
                    continue;
                }
                upper = char.ToUpperInvariant(c);
            }
            else if (c is >= '\u00C0' and <= '\u00FF')
            {
                if (c is 'Æ' or 'æ' or 'ß')
                {
                    return null; // spelt out by the general path
                }
                upper = Latin1Base[c - 0xC0];
                if (upper == '\0')
                {
                    space = true; // × ÷
                    continue;
                }
            }
            else if (c is '’' or '‘')
            {
                space = true;
                continue;
            }
            else
            {
                return null; // Œ, other scripts, combining marks: the general path
            }
            if (space && n > 0)
            {
                buffer[n++] = ' ';
            }
            space = false;
            buffer[n++] = upper;
        }
        return new string(buffer[..n]);
    }

    /// <summary>The normalised name without its spaces: "LE FEVRE" and "LEFEVRE", "N DIAYE" and "NDIAYE" compare equal.</summary>
    public static string Compact(string normalised) => normalised.Replace(" ", "", StringComparison.Ordinal);
}

public static class Sexes
{
    /// <summary>Sex codes of every format: HL7/HPRIM M F U O A N, FHIR male female other unknown, INSEE 1 2, French H F.</summary>
    public static Sex Parse(string? code) => code?.Trim().ToUpperInvariant() switch
    {
        "M" or "MALE" or "1" or "H" or "HOMME" or "MASCULIN" => Sex.Male,
        "F" or "FEMALE" or "2" or "FEMME" or "FEMININ" or "FÉMININ" => Sex.Female,
        "O" or "OTHER" or "A" or "AUTRE" => Sex.Other,
        _ => Sex.Unknown,
    };

    public static char Code(Sex sex) => sex switch { Sex.Female => 'F', Sex.Male => 'M', Sex.Other => 'O', _ => 'U' };
}

/// <summary>Jaro–Winkler similarity (prefix scale 0.1, prefix up to 4), on normalised names.</summary>
public static class JaroWinkler
{
    public static double Similarity(string a, string b)
    {
        if (a.Length == 0 || b.Length == 0)
        {
            return a.Length == b.Length ? 1 : 0;
        }
        if (a == b)
        {
            return 1;
        }
        int window = Math.Max(0, Math.Max(a.Length, b.Length) / 2 - 1);
        Span<bool> aMatched = a.Length <= 256 ? stackalloc bool[a.Length] : new bool[a.Length];
        Span<bool> bMatched = b.Length <= 256 ? stackalloc bool[b.Length] : new bool[b.Length];
        int matches = 0;
        for (int i = 0; i < a.Length; i++)
        {
            int from = Math.Max(0, i - window), to = Math.Min(b.Length - 1, i + window);
            for (int j = from; j <= to; j++)
            {
                if (!bMatched[j] && a[i] == b[j])
                {
                    aMatched[i] = bMatched[j] = true;
                    matches++;
                    break;
                }
            }
        }
        if (matches == 0)
        {
            return 0;
        }
        int transpositions = 0;
        for (int i = 0, k = 0; i < a.Length; i++)
        {
            if (!aMatched[i])
            {
                continue;
            }
            while (!bMatched[k])
            {
                k++;
            }
            if (a[i] != b[k])
            {
                transpositions++;
            }
            k++;
        }
        double m = matches;
        double jaro = (m / a.Length + m / b.Length + (m - transpositions / 2.0) / m) / 3.0;
        int prefix = 0;
        while (prefix < Math.Min(4, Math.Min(a.Length, b.Length)) && a[prefix] == b[prefix])
        {
            prefix++;
        }
        return jaro + prefix * 0.1 * (1 - jaro);
    }
}

/// <summary>
/// What corroborates (or contradicts) a link made on approximate names, independently of the names: where the person
/// was born (INSEE code), where they live (postcode, else commune code, and its département), their phone and e-mail.
/// Kept as 32-bit fingerprints (never the values: a decision holds nothing nominative); 0 is "not sent".
/// </summary>
public readonly record struct Evidence(uint Birthplace, uint Home, ushort Departement, uint Phone, uint Email)
{
    public static Evidence Of(PatientIdentity p)
    {
        Span<char> digits = stackalloc char[16];
        uint home = Digits(p.Address?.PostalCode, digits, 5, 5) is int n and > 0 ? Fingerprint('P', digits[..n])
            : p.Address?.CommuneCode is { Length: 5 } commune ? Fingerprint('C', commune) : 0;
        // The residence's département as the indicators place it (Geography.Residence), 0 when unknown.
        int departement = Geography.France.Residence(p.Address);
        return new Evidence(
            p.BirthplaceCode is { Length: 5 } b ? Fingerprint('B', b) : 0,
            home,
            (ushort)(departement + 1),
            // The last nine digits: 06 12 34 56 78 and +33 6 12 34 56 78 are one number.
            Digits(p.Phone, digits, 9, 15) is int m and > 0 ? Fingerprint('T', digits[(m - 9)..m]) : 0,
            p.Email is { } e && e.Contains('@', StringComparison.Ordinal) ? Fingerprint('E', e.AsSpan().Trim()) : 0);
    }

    /// <summary>How many digits a value has, copied into <paramref name="digits"/>, when between <paramref name="min"/> and
    /// <paramref name="max"/>; 0 otherwise.</summary>
    private static int Digits(string? value, Span<char> digits, int min, int max)
    {
        if (value is null)
        {
            return 0;
        }
        int n = 0;
        foreach (char c in value)
        {
            if (char.IsAsciiDigit(c))
            {
                if (n == digits.Length)
                {
                    return 0;
                }
                digits[n++] = c;
            }
        }
        return n >= min && n <= max ? n : 0;
    }

    /// <summary>FNV-1a of a tagged value, case folded (codes and e-mail addresses compare without case); never 0.</summary>
    private static uint Fingerprint(char kind, ReadOnlySpan<char> value)
    {
        uint h = 2166136261;
        h = (h ^ kind) * 16777619;
        foreach (char c in value)
        {
            h = (h ^ char.ToLowerInvariant(c)) * 16777619;
        }
        return h == 0 ? 1 : h;
    }
}

/// <summary>Person keys other than the matcher's persons.</summary>
public static class PersonKeys
{
    /// <summary>Set on every key of <see cref="Spf2021"/>: never equal to a matcher's person id.</summary>
    public const long Spf2021Bit = 1L << 62;

    /// <summary>
    /// The person key Santé publique France counted persons by from May 2021: the birth name, the first given name, the
    /// age on the counted day and the sex, normalised (accents, case, hyphens and spaces as <see cref="Names"/> does).
    /// Two persons sharing them are one; one person whose name a lab mistyped is two. A 62-bit fingerprint (FNV-1a 64)
    /// with <see cref="Spf2021Bit"/> set.
    /// </summary>
    /// <param name="traits">The person's traits as the matcher normalised them.</param>
    /// <param name="birthDate">The birth date sent (the age on <paramref name="on"/> is taken from it).</param>
    public static long Spf2021(Traits traits, PartialDate? birthDate, DateOnly on)
    {
        string birthName = traits.BirthName.Length > 0 ? traits.BirthName : traits.UsedName;
        int age = birthDate?.AgeOn(on) ?? -1;
        ulong h = 14695981039346656037;
        void Add(string s)
        {
            foreach (char c in s)
            {
                h = (h ^ c) * 1099511628211;
            }
            h = (h ^ 0x1F) * 1099511628211;
        }
        Add(birthName);
        Add(traits.FirstGiven);
        Add(age.ToString(CultureInfo.InvariantCulture));
        Add(Sexes.Code(traits.Sex).ToString());
        return (long)(h & ((1UL << 62) - 1)) | Spf2021Bit;
    }
}
