using System.Globalization;
using Sidep.Domain;

namespace Sidep.Parsing.Fhir;

/// <summary>FHIR date and dateTime: YYYY, YYYY-MM, YYYY-MM-DD, or YYYY-MM-DDThh:mm(:ss(.s…))(Z|±hh:mm).</summary>
public static class FhirDate
{
    public static bool TryParseTimestamp(string? text, out Timestamp value)
    {
        value = default;
        if (string.IsNullOrWhiteSpace(text))
        {
            return false;
        }
        text = text.Trim();
        if (text.Length <= 10)
        {
            if (!TryParsePartialDate(text, out PartialDate d))
            {
                return false;
            }
            var clock = new DateTime(d.Year, d.Month ?? 1, d.Day ?? 1);
            value = new Timestamp(new DateTimeOffset(clock, DateTimeText.AssumedOffset(clock)),
                d.Month is null ? TimestampPrecision.Year : d.Day is null ? TimestampPrecision.Month : TimestampPrecision.Day, TimeZoneGiven: false);
            return true;
        }
        bool zone = text.EndsWith('Z') || text.LastIndexOfAny(['+', '-']) > 10;
        int secondsColon = text.Length > 14 ? text.IndexOf(':', 14) : -1; // (an 11- to 14-character text threw here: found by fuzzing)
        TimestampPrecision precision = text.Contains('.') ? TimestampPrecision.Fraction : secondsColon > 0 && secondsColon < 17 ? TimestampPrecision.Second : TimestampPrecision.Minute;
        if (zone)
        {
            if (!DateTimeOffset.TryParse(text, CultureInfo.InvariantCulture, DateTimeStyles.None, out DateTimeOffset dto) || dto.Year is < 1800 or > 2200)
            {
                return false;
            }
            value = new Timestamp(dto, precision, TimeZoneGiven: true);
            return true;
        }
        if (!DateTime.TryParse(text, CultureInfo.InvariantCulture, DateTimeStyles.None, out DateTime local) || local.Year is < 1800 or > 2200)
        {
            return false;
        }
        local = DateTime.SpecifyKind(local, DateTimeKind.Unspecified);
        value = new Timestamp(new DateTimeOffset(local, DateTimeText.AssumedOffset(local)), precision, TimeZoneGiven: false);
        return true;
    }

    public static bool TryParsePartialDate(string? text, out PartialDate value)
    {
        value = default;
        if (string.IsNullOrWhiteSpace(text))
        {
            return false;
        }
        string[] parts = text.Trim()[..Math.Min(text.Trim().Length, 10)].Split('-');
        if (parts.Length is < 1 or > 3 || parts[0].Length != 4 || !int.TryParse(parts[0], NumberStyles.None, CultureInfo.InvariantCulture, out int year)
            || year is < 1800 or > 2200)
        {
            return false; // the range the HL7 v2 and HPRIM readers take too (year 0000 threw: found by fuzzing)
        }
        int? month = null, day = null;
        if (parts.Length >= 2)
        {
            if (parts[1].Length != 2 || !int.TryParse(parts[1], NumberStyles.None, CultureInfo.InvariantCulture, out int m) || m is < 1 or > 12)
            {
                return false;
            }
            month = m;
        }
        if (parts.Length == 3)
        {
            if (parts[2].Length != 2 || !int.TryParse(parts[2], NumberStyles.None, CultureInfo.InvariantCulture, out int d) || d < 1 || d > DateTime.DaysInMonth(year, month!.Value))
            {
                return false;
            }
            day = d;
        }
        value = new PartialDate(year, month, day);
        return true;
    }
}
