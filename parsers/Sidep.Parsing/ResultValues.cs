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
        string key = Fold(text);
        return key switch
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
    }

    /// <summary>Upper case, accents removed, punctuation and repeated spaces folded to one space.</summary>
    public static string Fold(string text)
    {
        string decomposed = text.Trim().Normalize(NormalizationForm.FormD);
        var sb = new StringBuilder(decomposed.Length);
        bool space = false;
        foreach (char c in decomposed)
        {
            UnicodeCategory cat = CharUnicodeInfo.GetUnicodeCategory(c);
            if (cat == UnicodeCategory.NonSpacingMark)
            {
                continue;
            }
            if (char.IsLetterOrDigit(c))
            {
                if (space && sb.Length > 0)
                {
                    sb.Append(' ');
                }
                space = false;
                sb.Append(char.ToUpperInvariant(c));
            }
            else
            {
                space = true;
            }
        }
        return sb.ToString();
    }
}
