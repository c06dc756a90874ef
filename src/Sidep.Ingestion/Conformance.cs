using Sidep.Domain;
using Sidep.Indicators;
using Sidep.Parsing;

namespace Sidep.Ingestion;

/// <summary>
/// Checks that do not reject a result but that a lab software vendor must see before going live: no INS (identity
/// will rest on traits), a sample time whose zone was assumed, a French postcode that belongs to no département.
/// </summary>
public static class Conformance
{
    /// <summary>True when a French postcode's first digits name a département (2A/2B are postcodes 20xxx; overseas 97x):
    /// the indicators' own geography (INSEE's 2019 list), so that both say the same.</summary>
    public static bool IsKnownFrenchPostcode(string postcode) => Geography.France.FromPostcode(postcode) != Geography.UnknownDepartement;

    public static void Check(LabResult result, ParsedItem item)
    {
        if (result.Patient.Ins is null)
        {
            item.Diagnostics.Add(new Diagnostic(Severity.Warning, DiagnosticCode.MissingIns,
                "no INS: the person will be matched on identity traits (birth name, given names, birth date, sex) only", item.IdentityPosition ?? item.Position)
            { Expected = "INS under OID 1.2.250.1.213.1.4.8 (HL7 PID-3 with assigning authority &1.2.250.1.213.1.4.8&ISO and type INS; FHIR Patient.identifier)" });
        }
        if (result.SampledAt is { TimeZoneGiven: false, Precision: >= TimestampPrecision.Hour })
        {
            item.Diagnostics.Add(new Diagnostic(Severity.Warning, DiagnosticCode.AssumedTimeZone,
                "the sample time has no UTC offset: Europe/Paris was assumed", item.Position)
            { Expected = "a time with its offset, such as 20220110081500+0100" });
        }
        Address? address = result.Patient.Address;
        if (address?.PostalCode is string postcode && IsFrance(address.Country) && !IsKnownFrenchPostcode(postcode))
        {
            item.Diagnostics.Add(new Diagnostic(Severity.Warning, DiagnosticCode.UnknownPostcode,
                "the patient's postcode belongs to no French département: the result will count only in national figures", item.Position)
            { Found = postcode, Expected = "5 digits starting with a département code (01–95, 20 for Corsica, 971–976)" });
        }
    }

    private static bool IsFrance(string? country) => country is null or "FRA" or "FR" or "France" or "FRANCE" or "250";
}
