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
        int common = 0;
        foreach (string text in texts)
        {
            // What the common-form reader takes, the general one takes the same way; the rest is the general one's.
            if (FhirDate.TryParseCommon(text, out Timestamp fast))
            {
                common++;
                Assert.True(FhirDate.TryParseGeneral(text, out Timestamp general), text);
                Assert.Equal(general, fast);
                Assert.Equal(general.Precision, fast.Precision);
                Assert.Equal(general.Value.Offset, fast.Value.Offset);
            }
        }
        Assert.True(common > 1500, $"the common form read {common} of the {texts.Count} texts");
    }
}
