using System.Text;
using Sidep.Parsing.Internals;

namespace Sidep.Parsing.Tests;

public class Hl7ComponentsTests
{
    private static readonly Hl7Delimiters s_d = new((byte)'|', (byte)'^', (byte)'~', (byte)'\\', (byte)'&');

    [Fact]
    public void Components_indexed_once_are_the_components_searched_one_by_one_for_every_value_and_position()
    {
        var random = new Random(24);
        // Short and long values, separators next to each other, at the ends, more than the 16 components indexed at once.
        string[] values = ["", "^", "a", "a^", "^a", "^^^", "FR^^Lyon^^69003^FRA^H^^69383", new string('^', 16), new string('^', 17),
            string.Join('^', Enumerable.Range(1, 30)), .. Enumerable.Range(0, 2000).Select(_ =>
                new string([.. Enumerable.Range(0, random.Next(0, 90)).Select(_ => "ab^&~"[random.Next(5)])]))];
        foreach (string value in values)
        {
            byte[] bytes = Encoding.ASCII.GetBytes(value);
            var components = new Hl7Components(bytes, s_d.Component);
            for (int c = 1; c <= 34; c++)
            {
                string expected = Encoding.ASCII.GetString(Hl7Spans.Component(bytes, c, s_d));
                Assert.True(expected == Encoding.ASCII.GetString(components[c]), $"component {c} of \"{value}\"");
            }
        }
    }
}
