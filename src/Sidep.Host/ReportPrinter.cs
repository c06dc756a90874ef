using System.Text.Json;
using Sidep.Ingestion;

namespace Sidep.Host;

/// <summary>Prints a submission report for a person at a terminal.</summary>
public static class ReportPrinter
{
    public static void Print(TextWriter output, string name, SubmissionReport report)
    {
        ReportCounts c = report.Counts;
        output.WriteLine($"{name}: {report.Messages.Count} message(s), {c.Accepted} accepted, {c.Correction} correction(s), {c.Retraction} retraction(s), {c.Duplicate} duplicate(s), {c.Quarantined} pending mapping, {c.NotAResult} not a result, {c.Rejected} rejected"
            + (report.SubmissionId is null ? "" : $"  [{report.SubmissionId}]"));
        foreach (ProblemReport p in report.Problems)
        {
            output.WriteLine($"  {Mark(p)} {Where(p)}: {p.Message} [{p.Code}]");
        }
        foreach (MessageReport m in report.Messages.Where(m => m.Problems.Count > 0))
        {
            output.WriteLine($"  message {m.ControlId ?? "(no MSH-10)"} at line {m.Line}: {m.AckCode}");
            foreach (ProblemReport p in m.Problems)
            {
                output.WriteLine($"    {Mark(p)} {Where(p)}: {p.Message} [{p.Code}]");
            }
        }
        foreach (ItemReport item in report.Items)
        {
            if (item.Status == ItemStatus.Rejected || item.Problems.Count > 0)
            {
                output.WriteLine($"  {StatusWord(item.Status)} #{item.Index} ({item.Segment} line {item.Line}, byte {item.ByteOffset})");
                foreach (ProblemReport p in item.Problems)
                {
                    output.WriteLine($"    {Mark(p)} {Where(p)}: {p.Message} [{p.Code}]");
                    if (p.Found is not null || p.Expected is not null)
                    {
                        output.WriteLine($"            found: {p.Found ?? "(nothing)"}; expected: {p.Expected ?? "-"}");
                    }
                }
            }
        }
    }

    /// <summary>What was understood of each item (validate --show).</summary>
    public static void PrintUnderstood(TextWriter output, IReadOnlyList<UnderstoodResult> understood)
    {
        foreach (UnderstoodResult u in understood)
        {
            output.WriteLine($"  understood #{u.Index} ({StatusWord(u.Status)})");
            if (u.Patient is UnderstoodPatient p)
            {
                output.WriteLine($"    patient:  INS {p.Ins ?? "—"} ({p.InsCheck}); birth name {p.BirthName ?? "—"}, used name {p.UsedName ?? "—"}, " +
                    $"given {(p.GivenNames.Count == 0 ? "—" : string.Join(" ", p.GivenNames))}; born {p.BirthDate ?? "—"}; {p.Sex}; lives in {(p.Departement is null ? "no département read" : $"département {p.Departement}")}");
            }
            if (u.Test is UnderstoodTest t)
            {
                output.WriteLine($"    test:     {t.CodeAsSent}{(t.Display is null ? "" : $" \"{t.Display}\"")}{(t.CodeSystem is null ? "" : $" ({t.CodeSystem})")} → LOINC {t.Loinc ?? "none"}: {t.Kind}");
                output.WriteLine($"    value:    \"{t.ValueAsSent}\" read as {t.Interpretation}; status {t.Status}");
            }
            if (u.Dates is UnderstoodDates d)
            {
                output.WriteLine($"    dates:    sampled {d.Sampled ?? "—"} ({d.SampleDateBasis}); result {d.Resulted ?? "—"}; counts on {d.CountsOn}");
            }
            output.WriteLine($"    counting: {u.Indicators}");
            output.WriteLine($"    tracing:  {u.ContactTracing}");
        }
    }

    private static string Mark(ProblemReport p) => p.Severity switch { "error" => "error  ", "information" => "info   ", _ => "warning" };

    private static string StatusWord(ItemStatus status) => status == ItemStatus.NotAResult ? "not a result, item" : $"{status.ToString().ToLowerInvariant()} result";

    private static string Where(ProblemReport p) =>
        (p.Field > 0 ? $"{p.Segment}-{p.Field}" + (p.Component > 0 ? $".{p.Component}" : "") : p.Segment) + $" line {p.Line} byte {p.ByteOffset}";

    /// <summary>A refused submission as one JSON line: <c>{"file", "status", "problem"}</c>, the problem being the server's
    /// answer (a problem+json object, else its text).</summary>
    public static string RefusalJson(string file, int status, string body)
    {
        using var buffer = new MemoryStream();
        using (var w = new Utf8JsonWriter(buffer))
        {
            w.WriteStartObject();
            w.WriteString("file", file);
            w.WriteNumber("status", status);
            w.WritePropertyName("problem");
            try
            {
                using var doc = JsonDocument.Parse(body);
                doc.RootElement.WriteTo(w);
            }
            catch (JsonException)
            {
                w.WriteStringValue(body);
            }
            w.WriteEndObject();
        }
        return System.Text.Encoding.UTF8.GetString(buffer.ToArray());
    }

    public static string ProblemDetail(string body)
    {
        try
        {
            using var doc = JsonDocument.Parse(body);
            return doc.RootElement.TryGetProperty("detail", out JsonElement d) ? d.GetString() ?? body : body;
        }
        catch (JsonException)
        {
            return body;
        }
    }
}
