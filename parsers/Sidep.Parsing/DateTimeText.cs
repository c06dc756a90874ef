using System.Buffers.Text;
using Sidep.Domain;

namespace Sidep.Parsing;

/// <summary>Reads HL7 DTM / HPRIM dates: YYYY[MM[DD[HH[MM[SS[.S…]]]]]][+/-ZZZZ], straight from the bytes.</summary>
public static class DateTimeText
{
    private static readonly TimeZoneInfo s_paris = FindParis();

    /// <summary>The zone assumed when a sender gives none: Sidep is a French national system.</summary>
    public static TimeZoneInfo AssumedZone => s_paris;

    /// <summary>Each day's offset from UTC in the assumed zone, when it holds all day: (day number + 1) &lt;&lt; 12 | (minutes + 2048),
    /// 0 empty; direct-mapped by day, one long per slot so that a read is never torn across threads.</summary>
    private static readonly long[] s_dayOffsets = new long[256];

    /// <summary>
    /// The assumed zone's offset from UTC at a local time. Same as <c>AssumedZone.GetUtcOffset(local)</c> (a test checks
    /// every hour of seven years), without its cost on every date of a batch: a day whose offset is the same at its
    /// first and last tick has it all day (the clocks change at most once a day in France), and is remembered.
    /// </summary>
    public static TimeSpan AssumedOffset(DateTime local)
    {
        int day = DateOnly.FromDateTime(local).DayNumber;
        ref long slot = ref s_dayOffsets[day & (s_dayOffsets.Length - 1)];
        long known = Volatile.Read(ref slot);
        if (known != 0 && (known >> 12) == day + 1L)
        {
            return TimeSpan.FromMinutes((known & 0xFFF) - 2048);
        }
        DateTime midnight = local.Date;
        TimeSpan first = s_paris.GetUtcOffset(midnight);
        if (midnight.Ticks + TimeSpan.TicksPerDay > DateTime.MaxValue.Ticks || first != s_paris.GetUtcOffset(midnight.AddTicks(TimeSpan.TicksPerDay - 1)))
        {
            return s_paris.GetUtcOffset(local); // the day the clocks change: hour by hour
        }
        Volatile.Write(ref slot, ((day + 1L) << 12) | ((long)first.TotalMinutes + 2048));
        return first;
    }

    private static TimeZoneInfo FindParis()
    {
        try
        {
            return TimeZoneInfo.FindSystemTimeZoneById("Europe/Paris");
        }
        catch (TimeZoneNotFoundException)
        {
            return TimeZoneInfo.Utc;
        }
    }

    public static bool TryParseTimestamp(ReadOnlySpan<byte> text, out Timestamp value) => TryParse(text, resolveZone: true, out value);

    private static bool TryParse(ReadOnlySpan<byte> text, bool resolveZone, out Timestamp value)
    {
        value = default;
        text = text.Trim((byte)' ');
        int zoneAt = text.IndexOfAny((byte)'+', (byte)'-');
        ReadOnlySpan<byte> local = zoneAt >= 0 ? text[..zoneAt] : text;
        if (local.Length < 4 || !TryNumber(local[..4], out int year) || year < 1800 || year > 2200)
        {
            return false;
        }
        int month = 1, day = 1, hour = 0, minute = 0, second = 0, ticks = 0;
        TimestampPrecision precision = TimestampPrecision.Year;
        if (local.Length >= 6)
        {
            if (!TryNumber(local.Slice(4, 2), out month)) return false;
            precision = TimestampPrecision.Month;
        }
        if (local.Length >= 8)
        {
            if (!TryNumber(local.Slice(6, 2), out day)) return false;
            precision = TimestampPrecision.Day;
        }
        if (local.Length >= 10)
        {
            if (!TryNumber(local.Slice(8, 2), out hour)) return false;
            precision = TimestampPrecision.Hour;
        }
        if (local.Length >= 12)
        {
            if (!TryNumber(local.Slice(10, 2), out minute)) return false;
            precision = TimestampPrecision.Minute;
        }
        if (local.Length >= 14)
        {
            if (!TryNumber(local.Slice(12, 2), out second)) return false;
            precision = TimestampPrecision.Second;
        }
        if (local.Length > 14)
        {
            if (local[14] != (byte)'.' || local.Length == 15 || local.Length > 19 || !TryNumber(local[15..], out int fraction)) return false;
            int digits = local.Length - 15;
            ticks = fraction * (digits switch { 1 => 1_000_000, 2 => 100_000, 3 => 10_000, _ => 1_000 });
            precision = TimestampPrecision.Fraction;
        }
        else if (local.Length is 5 or 7 or 9 or 11 or 13)
        {
            return false;
        }
        if (month is < 1 or > 12 || day < 1 || day > DateTime.DaysInMonth(year, month) || hour > 23 || minute > 59 || second > 59)
        {
            return false;
        }
        var clock = new DateTime(year, month, day, hour, minute, second, DateTimeKind.Unspecified).AddTicks(ticks);
        if (zoneAt >= 0)
        {
            ReadOnlySpan<byte> zone = text[(zoneAt + 1)..];
            if (zone.Length != 4 || !TryNumber(zone[..2], out int zh) || !TryNumber(zone[2..], out int zm) || zh > 14 || zm > 59)
            {
                return false;
            }
            var offset = new TimeSpan(zh, zm, 0);
            if (offset > s_maxOffset)
            {
                return false; // +1430 has the form of an offset, but no clock on Earth is that far from UTC (found by fuzzing)
            }
            return TryStamp(clock, text[zoneAt] == (byte)'-' ? -offset : offset, precision, zoneGiven: true, out value);
        }
        return TryStamp(clock, resolveZone ? AssumedOffset(clock) : TimeSpan.Zero, precision, zoneGiven: false, out value);
    }

    private static readonly TimeSpan s_maxOffset = TimeSpan.FromHours(14);

    /// <summary>The moment, unless it falls outside what a DateTimeOffset holds (year 1 east of UTC, year 9999 west of it).</summary>
    private static bool TryStamp(DateTime clock, TimeSpan offset, TimestampPrecision precision, bool zoneGiven, out Timestamp value)
    {
        long utc = clock.Ticks - offset.Ticks;
        if (utc < DateTime.MinValue.Ticks || utc > DateTime.MaxValue.Ticks)
        {
            value = default;
            return false;
        }
        value = new Timestamp(new DateTimeOffset(clock, offset), precision, TimeZoneGiven: zoneGiven);
        return true;
    }

    /// <summary>A birth date: YYYY, YYYYMM or YYYYMMDD (a time part, if any, is ignored).</summary>
    public static bool TryParsePartialDate(ReadOnlySpan<byte> text, out PartialDate value)
    {
        value = default;
        // A birth date is a calendar date: no time zone to look up.
        if (!TryParse(text, resolveZone: false, out Timestamp ts))
        {
            return false;
        }
        DateTime d = ts.Value.DateTime;
        value = ts.Precision switch
        {
            TimestampPrecision.Year => new PartialDate(d.Year, null, null),
            TimestampPrecision.Month => new PartialDate(d.Year, d.Month, null),
            _ => new PartialDate(d.Year, d.Month, d.Day),
        };
        return true;
    }

    /// <summary>ASCII digits only (no sign, no space) as a number.</summary>
    internal static bool TryNumber(ReadOnlySpan<byte> digits, out int value)
    {
        value = 0;
        foreach (byte b in digits)
        {
            if (b is < (byte)'0' or > (byte)'9')
            {
                return false;
            }
        }
        return Utf8Parser.TryParse(digits, out value, out int consumed) && consumed == digits.Length;
    }
}
