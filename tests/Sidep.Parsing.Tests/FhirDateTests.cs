using System.Globalization;
using Sidep.Domain;
using Sidep.Parsing.Fhir;

namespace Sidep.Parsing.Tests;

public class FhirDateTests
{
    /// <summary>FHIR dateTimes as labs write them and around them: the character-by-character reader gives what the
    /// general reader (DateTimeOffset/DateTime.TryParse, the assumed zone when none is given) gives, or refuses alike.</summary>
    [Fact]
    public void The_common_form_is_read_as_the_general_reader_reads_it()
    {
        var texts = new List<string>
        {
            "2022-01-10T08:15:00+01:00", "2022-01-10T08:15:00Z", "2022-01-10T08:15+01:00", "2022-01-10T08:15", "2022-01-10T08:15:00",
            "2022-01-10T08:15:00.5+01:00", "2022-01-10T08:15:00.1234567Z", "2022-01-10T08:15:00.12345678Z", "2022-03-27T02:30:00", "2022-10-30T02:30:00",
            "2022-02-29T08:15:00Z", "2024-02-29T08:15:00Z", "2022-13-10T08:15:00Z", "2022-01-10T24:00:00Z", "2022-01-10T08:60:00Z", "2022-01-10T08:15:60Z",
            "2022-01-10T08:15:00+14:00", "2022-01-10T08:15:00-12:00", "2022-01-10T08:15:00+15:00", "2022-01-10T08:15:00+01", "2022-01-10T08:15:00+0100",
            "1799-12-31T23:59:59Z", "1800-01-01T00:00:00+01:00", "2200-12-31T23:59:59-05:00", "2201-01-01T00:00:00Z", "2022-01-10T08:15:00.Z",
            "2022-01-10 08:15:00", "2022-01-10T8:15:00Z", "2022-01-10T08:15:00+01:00x", "２０２２-01-10T08:15:00Z",
        };
        var random = new Random(24);
        for (int i = 0; i < 2000; i++)
        {
            var at = new DateTime(1990, 1, 1).AddMinutes(random.Next(0, 40 * 365 * 24 * 60)).AddSeconds(random.Next(60));
            string zone = random.Next(4) switch { 0 => "", 1 => "Z", 2 => "+01:00", _ => $"-{random.Next(13):D2}:{random.Next(2) * 30:D2}" };
            string fraction = random.Next(3) == 0 ? "." + random.Next(1, 99999).ToString(CultureInfo.InvariantCulture) : "";
            texts.Add(at.ToString(random.Next(4) == 0 ? "yyyy-MM-ddTHH:mm" : "yyyy-MM-ddTHH:mm:ss", CultureInfo.InvariantCulture) + fraction + zone);
        }
        foreach (string text in texts)
        {
            bool general = General(text, out Timestamp expected);
            Assert.True(general == FhirDate.TryParseTimestamp(text, out Timestamp actual), text);
            if (general)
            {
                Assert.Equal(expected, actual);
            }
        }
    }

    /// <summary>The general reader, as FhirDate reads a dateTime of more than a day without its common-form path.</summary>
    private static bool General(string text, out Timestamp value)
    {
        value = default;
        bool zone = text.EndsWith('Z') || text.LastIndexOfAny(['+', '-']) > 10;
        int secondsColon = text.Length > 14 ? text.IndexOf(':', 14) : -1;
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
        value = new Timestamp(new DateTimeOffset(local, DateTimeText.AssumedZone.GetUtcOffset(local)), precision, TimeZoneGiven: false);
        return true;
    }
}
