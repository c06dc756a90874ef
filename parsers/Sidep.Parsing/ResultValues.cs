using System.Globalization;
using System.Text;
using Sidep.Domain;

namespace Sidep.Parsing;

/// <summary>Normalises a result value, coded (SNOMED CT) or free text in French or English,
/// to positive / negative / indeterminate / unsatisfactory (ARCHITECTURE.md, domain rules).</summary>
public static class ResultValues
{
    public static Interpretation FromSnomed(string? code) => code switch
    {
        "260373001" or "10828004" or "840539006" or "840544004" => Interpretation.Positive,
        "260415000" or "260385009" => Interpretation.Negative,
        "373068000" or "419984006" or "82334004" => Interpretation.Indeterminate,
        "125154007" or "373121007" or "455371000124106" => Interpretation.Unsatisfactory,
        _ => Interpretation.NotInterpreted,
    };

    /// <summary>Free text: "POSITIF", "Détecté", "NEGATIF", "Non détecté", "Ininterprétable", "Detected", …</summary>
    public static Interpretation FromText(string? text)
    {
        if (string.IsNullOrWhiteSpace(text))
        {
            return Interpretation.NotInterpreted;
        }
        // Folded into a stack buffer (folding never lengthens the text); a longer text is folded on the heap.
        Span<char> buffer = text.Length <= 256 ? stackalloc char[text.Length] : new char[text.Length];
        return Interpret(buffer[..Fold(text, buffer)]);
    }

    private static Interpretation Interpret(ReadOnlySpan<char> key) => key switch
    {
        "POSITIF" or "POSITIVE" or "POSITIVF" or "POS" or "P" or "DETECTE" or "DETECTEE" or "DETECTED" or "PRESENCE"
            or "REACTIVE" or "REACTIF" or "PRESENT" or "PRESUMPTIVE POSITIVE" => Interpretation.Positive,
        "NEGATIF" or "NEGATIVE" or "NEG" or "N" or "NON DETECTE" or "NON DETECTEE" or "NOT DETECTED" or "ABSENCE"
            or "NON REACTIVE" or "NONREACTIVE" or "NON REACTIF" or "ABSENT" or "INDETECTABLE" or "UNDETECTED"
            or "PRESUMPTIVE NEGATIVE" => Interpretation.Negative,
        "ININTERPRETABLE" or "INDETERMINE" or "INDETERMINATE" or "DOUTEUX" or "EQUIVOQUE" or "EQUIVOCAL"
            or "INCONCLUSIVE" or "NON DETERMINE" or "UNDETERMINED" => Interpretation.Indeterminate,
        "NON CONFORME" or "ECHANTILLON INSATISFAISANT" or "INSATISFAISANT" or "UNSATISFACTORY" or "INVALID"
            or "NON EFFECTUE" or "NOT DONE" or "SPECIMEN UNSATISFACTORY" => Interpretation.Unsatisfactory,
        _ => Interpretation.NotInterpreted,
    };

    /// <summary>Upper case, accents removed, punctuation and repeated spaces folded to one space.</summary>
    public static string Fold(string text)
    {
        Span<char> buffer = text.Length <= 256 ? stackalloc char[text.Length] : new char[text.Length];
        return new string(buffer[..Fold(text, buffer)]);
    }

    /// <summary>
    /// Folds <paramref name="text"/> into <paramref name="folded"/> (at least as long) and returns the length written.
    /// Latin-1 text (French and English results) is folded with a table of its accented letters, without Unicode
    /// normalisation (the ICU call cost more than the rest of an HPRIM result's parsing); other text is decomposed
    /// (FormD) first. Both give the same folding (a test compares them on every Latin-1 character).
    /// </summary>
    private static int Fold(string text, Span<char> folded)
    {
        ReadOnlySpan<char> t = text.AsSpan().Trim();
        return t.ContainsAnyExceptInRange('\0', '\u00FF') ? FoldDecomposed(t.ToString().Normalize(NormalizationForm.FormD), folded) : FoldLatin1(t, folded);
    }

    /// <summary>The base letter of each decomposable Latin-1 letter (U+00C0–U+00FF), or '\0' for a character FormD leaves whole.</summary>
    private static readonly string s_latin1Base =
        "AAAAAAÆCEEEEIIII" + "ÐNOOOOO×ØUUUUYÞß" + "aaaaaaæceeeeiiii" + "ðnooooo÷øuuuuyþy";

    private static int FoldLatin1(ReadOnlySpan<char> text, Span<char> folded)
    {
        int n = 0;
        bool space = false;
        foreach (char original in text)
        {
            char c = original >= '\u00C0' ? s_latin1Base[original - '\u00C0'] : original;
            Append(c, folded, ref n, ref space);
        }
        return n;
    }

    private static int FoldDecomposed(string decomposed, Span<char> folded)
    {
        int n = 0;
        bool space = false;
        foreach (char c in decomposed)
        {
            if (CharUnicodeInfo.GetUnicodeCategory(c) != UnicodeCategory.NonSpacingMark)
            {
                if (n == folded.Length)
                {
                    break; // decomposition lengthened the text past the buffer: the rest cannot be a known word
                }
                Append(c, folded, ref n, ref space);
            }
        }
        return n;
    }

    private static void Append(char c, Span<char> folded, ref int n, ref bool space)
    {
        if (char.IsLetterOrDigit(c))
        {
            if (space && n > 0)
            {
                folded[n++] = ' ';
            }
            space = false;
            folded[n++] = char.ToUpperInvariant(c);
        }
        else
        {
            space = true;
        }
    }
}
