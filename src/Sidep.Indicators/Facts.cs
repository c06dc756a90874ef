using Sidep.Domain;

namespace Sidep.Indicators;

/// <summary>What kind of test a LOINC code designates, for the indicators: PCR (and other nucleic-acid tests) and
/// antigen tests count; serology and everything else do not.</summary>
public enum TestKind { Other, Pcr, Antigen, Serology }

public static class TestKinds
{
    /// <summary>From the method column of the national value set (<c>loinc_sarscov2.csv</c>).</summary>
    public static TestKind FromMethod(string? method)
    {
        if (string.IsNullOrEmpty(method))
        {
            return TestKind.Other;
        }
        if (method.Contains("serology", StringComparison.OrdinalIgnoreCase) || method.Contains("antibod", StringComparison.OrdinalIgnoreCase))
        {
            return TestKind.Serology;
        }
        if (method.Contains("antigen", StringComparison.OrdinalIgnoreCase))
        {
            return TestKind.Antigen;
        }
        if (method.Contains("PCR", StringComparison.OrdinalIgnoreCase) || method.Contains("NAAT", StringComparison.OrdinalIgnoreCase))
        {
            return TestKind.Pcr;
        }
        return TestKind.Other;
    }
}

/// <summary>
/// Reduces a matched result to its <see cref="IndicatorFact"/>: sample date (else result date, else receipt date),
/// outcome, and cell — département of residence, <c>cl_age90</c> on the sample date, sex.
/// </summary>
public static class Facts
{
    /// <summary>The day a result counts on, and what that day is: its sample date (collection, or the fallback its parser
    /// took), else its result date, else the day Sidep received it (README, "How the indicators count"). The one rule
    /// the indicators, the research rows and <c>validate --show</c> all use.</summary>
    public static (DateOnly Day, SampleDateBasis Basis) CountedOn(LabResult result, DateTimeOffset receivedAt) =>
        result.SampledAt is Timestamp sampled ? (sampled.Date, result.SampleDateBasis)
        : result.ResultedAt is Timestamp resulted ? (resulted.Date, SampleDateBasis.ResultReported)
        : (DateOnly.FromDateTime(receivedAt.UtcDateTime), SampleDateBasis.Receipt);

    /// <param name="kindOf">The test kind of a LOINC code (null: not in the value set).</param>
    /// <param name="key">The result key's fingerprint when the caller has it already (it is a SHA-256).</param>
    /// <returns>Null for a preliminary result: it neither counts nor replaces the version that does.</returns>
    public static IndicatorFact? From(LabResult result, int version, long person, DateTimeOffset receivedAt, Func<string?, TestKind> kindOf,
        UInt128? key = null)
    {
        if (result.Status == ResultStatus.Preliminary)
        {
            return null;
        }
        DateOnly day = CountedOn(result, receivedAt).Day;
        Outcome outcome = result.Status == ResultStatus.Cancelled || kindOf(result.Loinc) is not (TestKind.Pcr or TestKind.Antigen)
            ? Outcome.None
            : result.Value.Interpretation switch
            {
                Interpretation.Positive => Outcome.Positive,
                Interpretation.Negative => Outcome.Negative,
                _ => Outcome.None,
            };
        PatientIdentity patient = result.Patient;
        int sex = patient.Sex switch { Sex.Female => CountedSex.Female, Sex.Male => CountedSex.Male, _ => CountedSex.Unknown };
        short cell = Cells.Of(Geography.France.Residence(patient.Address), AgeClasses.Of(patient.BirthDate, day), sex);
        return new IndicatorFact(key ?? result.Key.Fingerprint(), version, person, day.DayNumber, outcome, cell);
    }
}
