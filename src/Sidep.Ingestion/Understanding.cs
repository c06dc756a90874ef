using System.Globalization;
using Sidep.Domain;
using Sidep.Indicators;
using Sidep.Parsing;

namespace Sidep.Ingestion;

/// <summary>
/// What Sidep understood of one item of a submission (<c>sidep validate --show</c>, <c>POST /v1/validate?show=understood</c>):
/// the patient as read, the INS and its check, the test as sent and its LOINC, the value as sent and as read, the dates
/// and the one it counts on, and whether and how it will count in the indicators and reach contact tracing — so that a
/// vendor sees why a message was read the way it was. Identity traits are masked (<see cref="Masked"/>) except offline.
/// </summary>
public sealed record UnderstoodResult(int Index, ItemStatus Status, UnderstoodPatient? Patient, UnderstoodTest? Test, UnderstoodDates? Dates,
    string Indicators, string ContactTracing)
{
    /// <summary>The same, with the identity traits masked (first letter, birth year, INS without its middle).</summary>
    public UnderstoodResult Masked() => Patient is null ? this : this with { Patient = Patient.Masked() };
}

public sealed record UnderstoodPatient(string? Ins, string InsCheck, string? BirthName, string? UsedName, IReadOnlyList<string> GivenNames, string? BirthDate,
    string Sex, string? Departement)
{
    public UnderstoodPatient Masked() => this with
    {
        Ins = Ins is null ? null : Ins[..1] + new string('•', Ins.Length - 3) + Ins[^2..],
        BirthName = Mask(BirthName),
        UsedName = Mask(UsedName),
        GivenNames = [.. GivenNames.Select(g => Mask(g)!)],
        BirthDate = BirthDate is null ? null : BirthDate[..4] + (BirthDate.Length > 4 ? "-••-••"[..(BirthDate.Length - 4)] : ""),
    };

    private static string? Mask(string? text) => string.IsNullOrEmpty(text) ? text : text[..1] + new string('•', text.Length - 1);
}

public sealed record UnderstoodTest(string CodeAsSent, string? Display, string? CodeSystem, string? Loinc, string Kind, string ValueAsSent, string Interpretation,
    string Status);

public sealed record UnderstoodDates(string? Sampled, string SampleDateBasis, string? Resulted, string CountsOn);

/// <summary>A validation's answer with what was understood: the report and, item by item, the reading.</summary>
public sealed record UnderstoodSubmission(SubmissionReport Report, IReadOnlyList<UnderstoodResult> Understood);

public static class Understanding
{
    /// <summary>What was understood of an item that was parsed and mapped (<paramref name="result"/>), or of one that was
    /// not (null: rejected, not a result).</summary>
    public static UnderstoodResult Of(int index, ItemStatus status, ParsedItem item, ParsedMessage message, LabResult? result, DateTimeOffset receivedAt,
        Terminology terminology)
    {
        if (result is null)
        {
            string why = item.Diagnostics.Concat(message.Diagnostics).FirstOrDefault(d => d.Severity != Severity.Warning)?.Message ?? "the item could not be read";
            return new UnderstoodResult(index, status, null, null, null, $"not counted: {why}", "does not reach contact tracing");
        }
        PatientIdentity p = result.Patient;
        int residence = Geography.France.Residence(p.Address);
        string? departement = residence < 0 ? null : Geography.France.Departements[residence];
        string insCheck = p.Ins is Ins ins ? $"key checked; OID {ins.Oid} ({ins.Kind})"
            : item.Diagnostics.Any(d => d.Code == DiagnosticCode.InvalidIns) ? "sent, but refused (see the warning): not used for matching" : "absent: matched on traits";
        var patient = new UnderstoodPatient(p.Ins?.Matricule, insCheck, p.BirthName, p.UsedName, p.GivenNames, p.BirthDate?.ToString(), p.Sex.ToString(), departement);
        TestKind kind = terminology.KindOf(result.Loinc);
        var test = new UnderstoodTest(result.AnalysisAsSent.Code, result.AnalysisAsSent.Display, result.AnalysisAsSent.System, result.Loinc,
            result.Loinc is null ? "no LOINC yet (pending mapping)" : kind == TestKind.Other ? "not a SARS-CoV-2 PCR or antigen test of the value set" : kind.ToString(),
            result.Value.Raw, result.Value.Interpretation.ToString(), result.Status.ToString());
        (DateOnly day, SampleDateBasis basis) = Facts.CountedOn(result, receivedAt);
        var dates = new UnderstoodDates(result.SampledAt?.ToString(), Basis(basis), result.ResultedAt?.ToString(), Day(day));
        IndicatorFact? fact = Facts.From(result, 1, 0, receivedAt, terminology.KindOf);
        string indicators = Counting(status, result, kind, fact, day, p, departement, result.Loinc is string l ? terminology.NotCounted.GetValueOrDefault(l) : null);
        string tracing = fact is { Outcome: Outcome.Positive } && status is ItemStatus.Accepted or ItemStatus.Correction
            ? $"a positive: opens a case for the contact-tracing agents of {(departement is null ? "the lab's département (no residence read)" : $"département {departement}")}, unless the person already had a positive in the 60 days before"
            : "does not reach contact tracing";
        return new UnderstoodResult(index, status, patient, test, dates, indicators, tracing);
    }

    private static string Counting(ItemStatus status, LabResult r, TestKind kind, IndicatorFact? fact, DateOnly day, PatientIdentity p, string? departement,
        string? notCounted)
    {
        if (status is ItemStatus.Duplicate)
        {
            return "no change: a duplicate of a version already received";
        }
        if (fact is null)
        {
            return "not counted yet: a preliminary result (its final version will count)";
        }
        if (r.Status == ResultStatus.Cancelled)
        {
            return "a retraction: the earlier versions of this result stop counting";
        }
        if (r.Loinc is null)
        {
            return "not counted until the lab's local code is mapped to a LOINC (it waits in quarantine)";
        }
        if (notCounted is not null)
        {
            return $"not counted: {notCounted}";
        }
        if (kind is not (TestKind.Pcr or TestKind.Antigen))
        {
            return kind == TestKind.Serology ? "not counted: serology is not in the indicators" : $"not counted: {r.Loinc} is not a SARS-CoV-2 PCR or antigen test of the national value set";
        }
        if (fact.Value.Outcome == Outcome.None)
        {
            return $"not counted: the value reads as {r.Value.Interpretation}, neither positive nor negative";
        }
        int ageClass = AgeClasses.Of(p.BirthDate, day);
        return $"counts in T{(fact.Value.Outcome == Outcome.Positive ? " and P" : "")} on {Day(day)}, " +
            $"{(departement is null ? "in the national figures only (no département of residence read)" : $"département {departement}")}, " +
            $"{(ageClass == AgeClasses.Unknown ? "age unknown (all ages only)" : $"age class {AgeClasses.Label(ageClass)}")}, sex {p.Sex} — unless the person had a positive test in the 60 days before";
    }

    private static string Basis(SampleDateBasis basis) => basis switch
    {
        SampleDateBasis.SpecimenReceived => "specimen received (no collection time was sent)",
        SampleDateBasis.ResultReported => "result reported (no collection time was sent)",
        SampleDateBasis.Receipt => "receipt: no sample or result date was sent",
        _ => "collection",
    };

    private static string Day(DateOnly day) => day.ToString("yyyy-MM-dd", CultureInfo.InvariantCulture);
}
