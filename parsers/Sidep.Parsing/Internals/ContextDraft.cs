using Sidep.Domain;

namespace Sidep.Parsing.Internals;

/// <summary>The patient context gathered from ask-at-order-entry answers while a message is read, by every format.</summary>
internal sealed class ContextDraft
{
    public bool? Symptomatic;
    public DateOnly? SymptomOnset;
    public HousingType Housing;
    public bool? HealthCareWorker;
    public bool? FirstTest;
    public bool? Pregnant;
    public bool? Hospitalised;

    public PatientContext ToContext() => Symptomatic is null && SymptomOnset is null && Housing == HousingType.Unknown && HealthCareWorker is null
        && FirstTest is null && Pregnant is null && Hospitalised is null
        ? PatientContext.Empty
        : new PatientContext
        {
            Symptomatic = Symptomatic,
            SymptomOnset = SymptomOnset,
            Housing = Housing,
            HealthCareWorker = HealthCareWorker,
            FirstTest = FirstTest,
            Pregnant = Pregnant,
            Hospitalised = Hospitalised,
        };
}
