using System.Buffers;
using System.Text;
using Sidep.Ingestion;
using Sidep.Parsing.Hl7v2;
using Sidep.Tests;

namespace Sidep.Ingestion.Tests;

public sealed class FormatsTests
{
    [Fact]
    public void Every_format_is_found_by_its_name_and_each_of_its_media_types_and_an_unknown_one_is_refused_not_guessed()
    {
        Assert.Equal([Formats.Hl7v2, Formats.Fhir, Formats.Hprim], Formats.All.Select(f => f.Name));
        foreach (IFormat format in Formats.All)
        {
            Assert.Same(format, Formats.Named(format.Name));
            Assert.All(format.MediaTypes, m => Assert.Equal(format.Name, Formats.FromMediaType(m.ToUpperInvariant() + "; charset=UTF-8")));
            Assert.Equal(format.MediaTypes[0], Formats.MediaTypeOf(format.Name));
        }
        Assert.Null(Formats.FromMediaType("application/json"));
        Assert.Null(Formats.FromMediaType(null));
        ArgumentException unknown = Assert.Throws<ArgumentException>(() => Formats.Parse("csv", new ReadOnlySequence<byte>("MSH|^~\\&|"u8.ToArray()), Hl7ParserOptions.Default));
        Assert.Contains("unknown format 'csv'", unknown.Message);
        Assert.Throws<ArgumentException>(() => Formats.MediaTypeOf("csv"));
    }

    [Fact]
    public void Corpus_files_are_told_apart_by_their_first_bytes()
    {
        Assert.All(Fixtures.Hl7Files, f => Assert.Equal(Formats.Hl7v2, Formats.Sniff(File.ReadAllBytes(f))));
        Assert.All(Directory.GetFiles(Fixtures.FhirDir, "*.json"), f => Assert.Equal(Formats.Fhir, Formats.Sniff(File.ReadAllBytes(f))));
        Assert.All(Fixtures.HprimFiles, f => Assert.Equal(Formats.Hprim, Formats.Sniff(File.ReadAllBytes(f))));
        Assert.Equal(Formats.Hl7v2, Formats.Sniff(Encoding.UTF8.GetBytes("\uFEFF\r\nMSH|^~\\&|")));
    }
}
