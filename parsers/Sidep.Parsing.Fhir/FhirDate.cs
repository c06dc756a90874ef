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
        return TryParseCommon(text, out value) || TryParseGeneral(text, out value);
    }

    /// <summary>Any dateTime of more than a day .NET's readers take (the assumed zone when none is given).</summary>
    internal static bool TryParseGeneral(string text, out Timestamp value)
    {
        value = default;
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

    /// <summary>
    /// The form labs' software writes — YYYY-MM-DDThh:mm[:ss[.f…]](Z|±hh:mm)? — read character by character; false for
    /// anything else, which the general reader then takes (or refuses) as before. Same results as it (a test compares them).
    /// </summary>
    internal static bool TryParseCommon(string text, out Timestamp value)
    {
        value = default;
        if (text.Length < 16 || text[4] != '-' || text[7] != '-' || text[10] != 'T' || text[13] != ':'
            || !Number(text, 0, 4, out int year) || !Number(text, 5, 2, out int month) || !Number(text, 8, 2, out int day)
            || !Number(text, 11, 2, out int hour) || !Number(text, 14, 2, out int minute))
        {
            return false;
        }
        int at = 16, second = 0;
        long ticks = 0;
        TimestampPrecision precision = TimestampPrecision.Minute;
        if (at < text.Length && text[at] == ':')
        {
            if (!Number(text, at + 1, 2, out second))
            {
                return false;
            }
            at += 3;
            precision = TimestampPrecision.Second;
            if (at < text.Length && text[at] == '.')
            {
                int digits = 0;
                for (at++; at < text.Length && char.IsAsciiDigit(text[at]); at++, digits++)
                {
                    if (digits < 7)
                    {
                        ticks = ticks * 10 + (text[at] - '0');
                    }
                }
                if (digits is 0 or > 7)
                {
                    return false;
                }
                for (int d = digits; d < 7; d++)
                {
                    ticks *= 10;
                }
                precision = TimestampPrecision.Fraction;
            }
        }
        if (year is < 1800 or > 2200 || month is < 1 or > 12 || day < 1 || day > DateTime.DaysInMonth(year, month) || hour > 23 || minute > 59 || second > 59)
        {
            return false;
        }
        var clock = new DateTime(year, month, day, hour, minute, second, DateTimeKind.Unspecified).AddTicks(ticks);
        if (at == text.Length)
        {
            value = new Timestamp(new DateTimeOffset(clock, DateTimeText.AssumedOffset(clock)), precision, TimeZoneGiven: false);
            return true;
        }
        TimeSpan offset;
        if (text[at] == 'Z' && at + 1 == text.Length)
        {
            offset = TimeSpan.Zero;
        }
        else if ((text[at] is '+' or '-') && at + 6 == text.Length && text[at + 3] == ':' && Number(text, at + 1, 2, out int zh) && Number(text, at + 4, 2, out int zm)
            && zh <= 14 && zm <= 59 && (zh < 14 || zm == 0))
        {
            offset = new TimeSpan(zh, zm, 0);
            offset = text[at] == '-' ? -offset : offset;
        }
        else
        {
            return false;
        }
        value = new Timestamp(new DateTimeOffset(clock, offset), precision, TimeZoneGiven: true);
        return true;
    }

    private static bool Number(string text, int start, int length, out int value)
    {
        value = 0;
        if (start + length > text.Length)
        {
            return false;
        }
        for (int i = start; i < start + length; i++)
        {
            if (!char.IsAsciiDigit(text[i]))
            {
                return false;
            }
            value = value * 10 + (text[i] - '0');
        }
        return true;
    }

    public static bool TryParsePartialDate(string? text, out PartialDate value)
    {
        value = default;
        if (string.IsNullOrWhiteSpace(text))
        {
            return false;
        }
        // Read in place (a date per patient and per result: no trimmed copy, no split).
        ReadOnlySpan<char> trimmed = text.AsSpan().Trim();
        ReadOnlySpan<char> rest = trimmed[..Math.Min(trimmed.Length, 10)];
        Span<Range> parts = stackalloc Range[4];
        int count = rest.Split(parts, '-');
        if (count is < 1 or > 3 || rest[parts[0]].Length != 4 || !int.TryParse(rest[parts[0]], NumberStyles.None, CultureInfo.InvariantCulture, out int year)
            || year is < 1800 or > 2200)
        {
            return false; // the range the HL7 v2 and HPRIM readers take too (year 0000 threw: found by fuzzing)
        }
        int? month = null, day = null;
        if (count >= 2)
        {
            if (rest[parts[1]].Length != 2 || !int.TryParse(rest[parts[1]], NumberStyles.None, CultureInfo.InvariantCulture, out int m) || m is < 1 or > 12)
            {
                return false;
            }
            month = m;
        }
        if (count == 3)
        {
            if (rest[parts[2]].Length != 2 || !int.TryParse(rest[parts[2]], NumberStyles.None, CultureInfo.InvariantCulture, out int d) || d < 1 || d > DateTime.DaysInMonth(year, month!.Value))
            {
                return false;
            }
            day = d;
        }
        value = new PartialDate(year, month, day);
        return true;
    }
}
