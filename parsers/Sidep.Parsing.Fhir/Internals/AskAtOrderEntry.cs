using Sidep.Domain;
using Sidep.Parsing.Internals;

namespace Sidep.Parsing.Fhir.Internals;

/// <summary>Ask-at-order-entry Observations (symptoms, onset, health-care worker, housing…): patient context, not results.</summary>
internal static class AskAtOrderEntry
{
    public static bool IsQuestion(string code) => code is "95417-2" or "95418-0" or "95419-8" or "95420-6" or "95421-4" or "65222-2" or "11368-8"
        or "75325-1" or "75617-1" or "77974-4" or "82810-3" or "86947-9" or "35659-2" or "30525-0" or "21612-7" or "76691-5";

    public static void Apply(ContextDraft context, string code, ObservationData o)
    {
        string? answer = o.ValueConcept?.Codings.FirstOrDefault(c => c.Code is not null).Code ?? o.ValueString;
        bool? yesNo = answer switch
        {
            "Y" or "true" or "373066001" => true,
            "N" or "false" or "373067005" => false,
            _ => null,
        };
        switch (code)
        {
            case "95418-0": context.HealthCareWorker = yesNo ?? context.HealthCareWorker; break;
            case "95419-8": context.Symptomatic = yesNo ?? context.Symptomatic; break;
            case "95417-2": context.FirstTest = yesNo ?? context.FirstTest; break;
            case "77974-4": context.Hospitalised = yesNo ?? context.Hospitalised; break;
            case "95421-4":
                if (context.Housing == HousingType.Unknown && yesNo is bool congregate)
                {
                    context.Housing = congregate ? HousingType.OtherCollective : HousingType.Private;
                }
                break;
            case "82810-3":
                context.Pregnant = answer is "77386006" ? true : answer is "60001007" ? false : yesNo ?? context.Pregnant;
                break;
            case "65222-2" or "11368-8":
                if (FhirDate.TryParseTimestamp(o.ValueDateTime ?? o.Effective, out Timestamp onset) && o.ValueDateTime is not null)
                {
                    context.SymptomOnset = onset.Date;
                }
                break;
        }
    }
}
