using Sidep.Domain;

namespace Sidep.Parsing.Hl7v2.Internals;

using Sidep.Parsing.Internals;

/// <summary>Ask-at-order-entry observations (OBX-29 = QST, or the known question codes): they describe the
/// patient's context, not a test result.</summary>
internal static class AskAtOrderEntry
{
    public static bool IsQuestion(string code) => code is
        "95417-2" // first test for condition of interest
        or "95418-0" // employed in health care
        or "95419-8" // symptomatic
        or "95420-6" // in ICU
        or "95421-4" // resides in congregate care
        or "65222-2" or "11368-8" // symptom onset date
        or "75325-1" // symptom
        or "75617-1" // residence type
        or "77974-4" // hospitalised
        or "82810-3" // pregnancy status
        or "86947-9" // reason for hospitalisation
        or "35659-2" or "30525-0" or "21612-7" // age
        or "76691-5" // gender identity
        or "223366009"; // SNOMED health-care occupation

    public static void Apply(ContextDraft context, string? code, in Hl7Segment obx, in Hl7Delimiters d, Hl7Charset charset)
    {
        ReadOnlySpan<byte> value = Hl7Spans.FirstRepetition(obx.Field(5), d);
        ReadOnlySpan<byte> answer = Hl7Spans.Component(value, 1, d).Trim((byte)' ');
        bool? yesNo = answer switch
        {
            [(byte)'Y'] or [(byte)'O'] or [(byte)'1'] => true, // Y, Oui
            [(byte)'N'] or [(byte)'0'] => false,
            _ when answer.SequenceEqual("373066001"u8) => true, // SNOMED yes
            _ when answer.SequenceEqual("373067005"u8) => false, // SNOMED no
            _ => null,
        };
        switch (code)
        {
            case "95418-0":
                context.HealthCareWorker = yesNo ?? context.HealthCareWorker;
                break;
            case "223366009":
                context.HealthCareWorker ??= answer.IsEmpty ? null : true;
                break;
            case "95419-8":
                context.Symptomatic = yesNo ?? context.Symptomatic;
                break;
            case "75325-1":
                context.Symptomatic ??= answer.IsEmpty ? null : true;
                break;
            case "65222-2" or "11368-8":
                if (DateTimeText.TryParseTimestamp(answer, out Timestamp onset))
                {
                    context.SymptomOnset = onset.Date;
                }
                break;
            case "95421-4":
                if (yesNo == true && context.Housing == HousingType.Unknown)
                {
                    context.Housing = HousingType.OtherCollective;
                }
                else if (yesNo == false && context.Housing == HousingType.Unknown)
                {
                    context.Housing = HousingType.Private;
                }
                break;
            case "75617-1":
                // SNOMED 30629002 retirement home, 42665001 nursing home
                if (answer.SequenceEqual("30629002"u8) || answer.SequenceEqual("42665001"u8))
                {
                    context.Housing = HousingType.NursingHome;
                }
                else if (!answer.IsEmpty && context.Housing == HousingType.Unknown)
                {
                    context.Housing = HousingType.OtherCollective;
                }
                break;
            case "95417-2":
                context.FirstTest = yesNo ?? context.FirstTest;
                break;
            case "77974-4":
                context.Hospitalised = yesNo ?? context.Hospitalised;
                break;
            case "82810-3":
                // 77386006 pregnant, 60001007 not pregnant
                context.Pregnant = answer.SequenceEqual("77386006"u8) ? true : answer.SequenceEqual("60001007"u8) ? false : yesNo ?? context.Pregnant;
                break;
        }
    }
}
