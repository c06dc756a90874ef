using System.Text;
using BenchmarkDotNet.Attributes;
using Hl7.Fhir.Model;
using Hl7.Fhir.Serialization;
using Sidep.Parsing;
using Sidep.Parsing.Fhir;

namespace Sidep.Benchmarks;

/// <summary>The FHIR fast path against Firely's deserialisation of the same corpus bundles (the three lab bundles of
/// ../shared/corpus/fhir, one after the other). Firely builds the whole object model and nothing more; the fast path
/// goes all the way to canonical results.</summary>
[MemoryDiagnoser]
[Config(typeof(ThroughputConfig))]
public class FhirBenchmarks : IMeasuredBytes
{
    private byte[][] _bundles = [];
    private string[] _texts = [];
    private readonly FhirParser _parser = new();
    private readonly FhirJsonDeserializer _firely = new(new DeserializerSettings().UsingMode(DeserializationMode.Recoverable));

    [GlobalSetup]
    public void Setup()
    {
        string dir = Path.Combine(CorpusRoot.Find(), "fhir");
        _bundles = Directory.GetFiles(dir, "*.json").Where(f => !f.Contains("Patient_avec", StringComparison.Ordinal)).OrderBy(f => f, StringComparer.Ordinal)
            .Select(File.ReadAllBytes).ToArray();
        _texts = _bundles.Select(b => Encoding.UTF8.GetString(b)).ToArray();
        if (FastPath() != 3)
        {
            throw new InvalidOperationException("the three corpus bundles should give three results");
        }
    }

    [Benchmark(Baseline = true, Description = "Firely FhirJsonDeserializer (object model only)")]
    public int Firely()
    {
        int n = 0;
        foreach (string text in _texts)
        {
            n += ((Bundle)_firely.Deserialize<Resource>(text)).Entry.Count;
        }
        return n;
    }

    [Benchmark(Description = "Sidep fast path (to canonical results)")]
    public int FastPath()
    {
        int n = 0;
        foreach (byte[] bundle in _bundles)
        {
            foreach (ParsedMessage m in _parser.Parse(bundle).Messages)
            {
                n += m.Items.Count;
            }
        }
        return n;
    }

    public int BytesOf(string method) => _bundles.Sum(b => b.Length);
}

internal static class CorpusRoot
{
    public static string Find()
    {
        string? dir = AppContext.BaseDirectory;
        while (dir is not null && !File.Exists(Path.Combine(dir, "Sidep.sln")))
        {
            dir = Path.GetDirectoryName(dir);
        }
        return Path.GetFullPath(Path.Combine(dir ?? throw new InvalidOperationException("Sidep.sln not found"), "..", "shared", "corpus"));
    }
}
