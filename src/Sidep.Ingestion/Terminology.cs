using System.Collections.Concurrent;
using System.Text;
using System.Text.Json;
using Sidep.Domain;
using Sidep.Parsing;
using Sidep.Pipeline;

namespace Sidep.Ingestion;

/// <summary>A code of the national SARS-CoV-2 value set.</summary>
public sealed record LoincEntry(string Code, string Display, string Method, string Specimen);

/// <summary>
/// The terminology service: the national SARS-CoV-2 LOINC value set as the target, per-lab transcoding tables
/// (local code → LOINC), and result value normalisation (SNOMED CT codes, HL7 table 0078 flags, French and English
/// free text). It serves every format: HPRIM, and HL7 v2 or FHIR results that arrive with local codes only.
/// </summary>
public sealed class Terminology
{
    private readonly ConcurrentDictionary<(string Lab, string Code), string> _mappings = new();

    /// <param name="notCounted">SARS-CoV-2 codes known but not counted, with why (from the LIVD list).</param>
    public Terminology(IEnumerable<LoincEntry> valueSet, IReadOnlyDictionary<string, string>? notCounted = null)
    {
        ValueSet = valueSet.ToDictionary(e => e.Code, StringComparer.Ordinal);
        NotCounted = notCounted ?? new Dictionary<string, string>();
    }

    /// <summary>The national value set shipped with Sidep (Reference/loinc_sarscov2.csv), completed by CDC's LIVD list
    /// (Reference/loinc_sarscov2_livd.csv): a LIVD code is counted when it is a qualitative SARS-CoV-2 result — a NAA or
    /// antigen test, "[Presence]", naming SARS-CoV-2 itself, not a multiplex code —; the others (cycle thresholds, viral
    /// loads, panels, multiplex and pan-sarbecovirus codes, lineages, serology, culture) are known and not counted, each
    /// with why.</summary>
    public static Terminology CreateNational()
    {
        var entries = new List<LoincEntry>();
        foreach (string[] f in ReadCsv("loinc_sarscov2.csv"))
        {
            if (f.Length >= 4 && LoincCode.IsWellFormed(f[0]))
            {
                entries.Add(new LoincEntry(f[0], f[1], f[2], f[3]));
            }
        }
        var national = entries.Select(e => e.Code).ToHashSet(StringComparer.Ordinal);
        var notCounted = new Dictionary<string, string>(StringComparer.Ordinal);
        foreach (string[] f in ReadCsv("loinc_sarscov2_livd.csv"))
        {
            if (f.Length < 5 || !LoincCode.IsWellFormed(f[0]) || national.Contains(f[0]))
            {
                continue;
            }
            (string code, string display, string kind, bool multiplex, string specimen) = (f[0], f[1], f[2], f[3] == "yes", f[4]);
            string? why = LivdNotCounted(display, kind, multiplex);
            if (why is null)
            {
                entries.Add(new LoincEntry(code, display, kind == "antigen" ? "Antigen (LIVD)" : "RT-PCR/NAAT (LIVD)", specimen));
            }
            else
            {
                notCounted[code] = why;
            }
        }
        return new Terminology(entries, notCounted);
    }

    /// <summary>Why a LIVD code is not counted, or null when it is a qualitative SARS-CoV-2 result.</summary>
    private static string? LivdNotCounted(string display, string kind, bool multiplex)
    {
        if (multiplex)
        {
            return "a multiplex code (influenza, RSV or MERS beside SARS-CoV-2): its result does not say SARS-CoV-2 alone; the SARS-CoV-2 analyte's own code counts";
        }
        if (kind == "antibody")
        {
            return "serology (antibodies): not in the indicators";
        }
        if (kind is not ("naat" or "antigen"))
        {
            return $"a {kind} code (lineage, culture or other detail): not a diagnostic test result";
        }
        if (display.Contains("Cycle Threshold", StringComparison.OrdinalIgnoreCase) || display.Contains("/volume", StringComparison.OrdinalIgnoreCase))
        {
            return "a quantitative detail (cycle threshold, viral load) of a test: its qualitative result ([Presence]) counts";
        }
        if (!display.Contains("[Presence]", StringComparison.Ordinal))
        {
            return "a panel code: the results inside it count under their own codes";
        }
        if (!display.Contains("SARS-CoV-2", StringComparison.Ordinal) && !display.Contains("SARS coronavirus 2", StringComparison.Ordinal))
        {
            return "a SARS-related or SARS-like coronavirus code (not SARS-CoV-2 specifically): the SARS-CoV-2 target's own code counts";
        }
        return null;
    }

    private static IEnumerable<string[]> ReadCsv(string resource)
    {
        using Stream stream = typeof(Terminology).Assembly.GetManifestResourceStream(resource)
            ?? throw new InvalidOperationException($"{resource} is missing from the assembly");
        using var reader = new StreamReader(stream, Encoding.UTF8);
        reader.ReadLine(); // header
        while (reader.ReadLine() is string line)
        {
            yield return Csv.Split(line, ',');
        }
    }

    /// <summary>SARS-CoV-2 codes known (LIVD) and not counted, with why.</summary>
    public IReadOnlyDictionary<string, string> NotCounted { get; }

    public IReadOnlyDictionary<string, LoincEntry> ValueSet { get; }

    private readonly System.Collections.Concurrent.ConcurrentDictionary<string, Sidep.Indicators.TestKind> _kinds = new(StringComparer.Ordinal);

    /// <summary>What kind of test a LOINC code is (PCR, antigen, serology, other), from the value set's method.</summary>
    public Sidep.Indicators.TestKind KindOf(string? loinc) => loinc is null ? Sidep.Indicators.TestKind.Other
        : _kinds.GetOrAdd(loinc, l => ValueSet.TryGetValue(l, out LoincEntry? e) ? Sidep.Indicators.TestKinds.FromMethod(e.Method) : Sidep.Indicators.TestKind.Other);

    public void Load(IEnumerable<(string Lab, TranscodingRow Row)> rows)
    {
        foreach ((string lab, TranscodingRow row) in rows)
        {
            _mappings[(lab, row.LocalCode)] = row.Loinc;
        }
    }

    public void Set(string lab, TranscodingRow row) => _mappings[(lab, row.LocalCode)] = row.Loinc;

    public string? Map(string lab, string localCode) => _mappings.TryGetValue((lab, localCode), out string? loinc) ? loinc : null;

    /// <summary>Completes a result's LOINC from the lab's table and refines its value; says why a value of a
    /// SARS-CoV-2 test could not be understood.</summary>
    public LabResult Apply(LabResult result, ParsedItem item)
    {
        // A code that has the form of a LOINC but fails its check digit is not a LOINC (a typo would otherwise be a
        // result counted nowhere, silently): it goes through the lab's table like any local code, else to quarantine.
        if (result.Loinc is string sent && !LoincCode.IsWellFormed(sent))
        {
            string? corrected = LoincCode.Corrected(sent);
            item.Diagnostics.Add(new Diagnostic(Severity.Warning, DiagnosticCode.InvalidField,
                corrected is null
                    ? $"'{sent}' is sent as LOINC but is not one (NNNNN-C with its mod-10 check digit): it is treated as a local code"
                    : $"'{sent}' is sent as LOINC but its check digit is wrong (the number {sent[..^2]} calls for {corrected[^1]}: {corrected}): it is treated as a local code",
                item.Position)
            { Found = sent, Expected = corrected ?? "a LOINC code NNNNN-C" });
            result = result with { Loinc = null };
        }
        if (result.Loinc is null && Map(result.LabId, result.AnalysisAsSent.Code) is string mapped)
        {
            result = result with { Loinc = mapped };
        }
        if (result.Loinc is string known && NotCounted.TryGetValue(known, out string? why))
        {
            item.Diagnostics.Add(new Diagnostic(Severity.Warning, DiagnosticCode.InvalidField,
                $"LOINC {known} is a SARS-CoV-2 code that does not count in the indicators — {why}; the result is stored and sent on",
                item.Position)
            { Found = known, Expected = "a qualitative SARS-CoV-2 result code ([Presence]) of the value set" });
        }
        else if (result.Loinc is string outside && !ValueSet.ContainsKey(outside))
        {
            item.Diagnostics.Add(new Diagnostic(Severity.Warning, DiagnosticCode.InvalidField,
                $"LOINC {outside} is not in the SARS-CoV-2 value set: the result is stored and sent on, but it does not count in the indicators",
                item.Position)
            { Found = outside, Expected = "a LOINC of the SARS-CoV-2 value set (reference/loinc_sarscov2.csv and loinc_sarscov2_livd.csv)" });
        }
        if (result.Loinc is null || !ValueSet.ContainsKey(result.Loinc) || result.Value.Interpretation != Interpretation.NotInterpreted
            || result.Status == ResultStatus.Cancelled)
        {
            return result;
        }
        // Every code of the SARS-CoV-2 value set is qualitative ([Presence]): the flag may say what the text does not.
        Interpretation fromFlag = FromFlag(result.AbnormalFlag);
        if (fromFlag != Interpretation.NotInterpreted)
        {
            return result with { Value = result.Value with { Interpretation = fromFlag } };
        }
        item.Diagnostics.Add(new Diagnostic(Severity.Warning, DiagnosticCode.UninterpretableValue,
            $"value '{Truncate(result.Value.Raw)}' of SARS-CoV-2 test {result.Loinc} is not a recognised result: expected a SNOMED CT code " +
            "(260373001 / 10828004 positive, 260415000 / 260385009 negative, 373068000 indeterminate, 125154007 unsatisfactory), " +
            "or text such as POSITIF, NEGATIF, Détecté, Non détecté, Ininterprétable, Non conforme; stored, not counted",
            item.Position)
        { Found = Truncate(result.Value.Raw), Expected = "a SNOMED CT result code or POSITIF / NEGATIF / Détecté / Non détecté / Ininterprétable / Non conforme" });
        return result;
    }

    /// <summary>HL7 table 0078 (and HPRIM) abnormal flags that carry a qualitative reading.</summary>
    public static Interpretation FromFlag(string? flag) => flag?.Trim().ToUpperInvariant() switch
    {
        "POS" or "DET" or "A" or "AA" or "P" => Interpretation.Positive,
        "NEG" or "ND" or "N" => Interpretation.Negative,
        "IND" or "E" => Interpretation.Indeterminate,
        _ => Interpretation.NotInterpreted,
    };

    private static string Truncate(string s) => s.Length <= 40 ? s : s[..40] + "…";

    /// <summary>Reads a transcoding table: CSV (local_code;loinc[;label], ',' or ';', optional header) or JSON
    /// (an array of {localCode, loinc, label}, or an object {"CODE": "LOINC"}). Bad rows are reported with their line.</summary>
    public static (List<TranscodingRow> Rows, List<(int Line, string Problem)> Problems) ParseTable(string body, bool json)
    {
        var rows = new List<TranscodingRow>();
        var problems = new List<(int, string)>();
        if (json)
        {
            try
            {
                using var doc = JsonDocument.Parse(body);
                int index = 0;
                IEnumerable<(string? Code, string? Loinc, string? Label)> items = doc.RootElement.ValueKind switch
                {
                    JsonValueKind.Array => doc.RootElement.EnumerateArray().Select(e => (
                        Prop(e, "localCode") ?? Prop(e, "code"), Prop(e, "loinc"), Prop(e, "label"))).ToList(),
                    JsonValueKind.Object => doc.RootElement.EnumerateObject().Select(p => ((string?)p.Name, p.Value.ValueKind == JsonValueKind.String ? p.Value.GetString() : null, (string?)null)).ToList(),
                    _ => throw new JsonException("expected an array of {localCode, loinc, label} or an object {\"CODE\": \"LOINC\"}"),
                };
                foreach ((string? code, string? loinc, string? label) in items)
                {
                    index++;
                    Add(index, code, loinc, label);
                }
            }
            catch (JsonException ex)
            {
                problems.Add((0, "not valid JSON: " + ex.Message));
            }
            return (rows, problems);
        }
        string[] lines = body.Split('\n');
        for (int i = 0; i < lines.Length; i++)
        {
            string line = lines[i].TrimEnd('\r');
            if (string.IsNullOrWhiteSpace(line) || line.TrimStart().StartsWith('#'))
            {
                continue;
            }
            string[] f = Csv.Split(line, line.Contains(';') ? ';' : ',');
            if (i == 0 && f.Length >= 2 && !LoincCode.IsWellFormed(f[1].Trim()) && f[1].Trim().Equals("loinc", StringComparison.OrdinalIgnoreCase))
            {
                continue; // header
            }
            Add(i + 1, f.Length > 0 ? f[0] : null, f.Length > 1 ? f[1] : null, f.Length > 2 ? f[2] : null);
        }
        return (rows, problems);

        void Add(int line, string? code, string? loinc, string? label)
        {
            code = code?.Trim();
            loinc = loinc?.Trim();
            if (string.IsNullOrEmpty(code))
            {
                problems.Add((line, "the local code is empty"));
            }
            else if (string.IsNullOrEmpty(loinc) || !LoincCode.IsWellFormed(loinc))
            {
                problems.Add((line, $"'{loinc}' is not a LOINC code (NNNNN-C with its mod-10 check digit)"));
            }
            else
            {
                rows.Add(new TranscodingRow(code, loinc, string.IsNullOrWhiteSpace(label) ? null : label.Trim()));
            }
        }
    }

    private static string? Prop(JsonElement e, string name) =>
        e.ValueKind == JsonValueKind.Object && e.TryGetProperty(name, out JsonElement v) && v.ValueKind == JsonValueKind.String ? v.GetString() : null;
}

/// <summary>Splits one CSV line, honouring double-quoted fields.</summary>
internal static class Csv
{
    public static string[] Split(string line, char separator)
    {
        var fields = new List<string>();
        var current = new StringBuilder();
        bool quoted = false;
        for (int i = 0; i < line.Length; i++)
        {
            char c = line[i];
            if (quoted)
            {
                if (c == '"' && i + 1 < line.Length && line[i + 1] == '"')
                {
                    current.Append('"');
                    i++;
                }
                else if (c == '"')
                {
                    quoted = false;
                }
                else
                {
                    current.Append(c);
                }
            }
            else if (c == '"')
            {
                quoted = true;
            }
            else if (c == separator)
            {
                fields.Add(current.ToString());
                current.Clear();
            }
            else
            {
                current.Append(c);
            }
        }
        fields.Add(current.ToString());
        return fields.ToArray();
    }
}
