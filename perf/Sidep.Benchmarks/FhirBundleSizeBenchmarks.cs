using System.Text;
using BenchmarkDotNet.Attributes;
using Hl7.Fhir.Model;
using Hl7.Fhir.Serialization;
using Sidep.Parsing;
using Sidep.Parsing.Fhir;

namespace Sidep.Benchmarks;

/// <summary>FHIR lab bundles of 1 to 10,000 observations, machine-written (one line), each observation with its own
/// accession and the bundle's one patient at its end (the worst place for positions counted from the start): the time
/// per observation must stay flat as the bundle grows (issue 24: it grew with the square of the bundle), and the fast
/// path must stay ahead of Firely at every size.</summary>
[MemoryDiagnoser]
[Config(typeof(ThroughputConfig))]
public class FhirBundleSizeBenchmarks : IMeasuredBytes
{
    [Params(1, 100, 1_000, 10_000)]
    public int Observations { get; set; }

    private byte[] _bundle = [];
    private System.Buffers.ReadOnlySequence<byte> _bundleSplit;
    private string _text = "";
    private readonly FhirParser _parser = new();
    private readonly FhirJsonDeserializer _firely = new(new DeserializerSettings().UsingMode(DeserializationMode.Recoverable));

    private const string ObservationTemplate =
        "{\"fullUrl\":\"urn:uuid:oINDEX\",\"resource\":{\"resourceType\":\"Observation\",\"id\":\"oINDEX\",\"status\":\"final\"," +
        "\"identifier\":[{\"value\":\"ACC-INDEX\"}],\"code\":{\"coding\":[{\"system\":\"http://loinc.org\",\"code\":\"94500-6\",\"display\":\"SARS-CoV-2 RNA\"}]}," +
        "\"subject\":{\"reference\":\"urn:uuid:pat\"},\"effectiveDateTime\":\"2022-01-10T08:15:00+01:00\"," +
        "\"valueCodeableConcept\":{\"coding\":[{\"system\":\"http://snomed.info/sct\",\"code\":\"OUTCOME\"}]}," +
        "\"performer\":[{\"identifier\":{\"system\":\"urn:oid:1.2.250.1.71.4.2.2\",\"value\":\"750000001\"}}]}}";

    private const string PatientEntry =
        ",{\"fullUrl\":\"urn:uuid:pat\",\"resource\":{\"resourceType\":\"Patient\",\"id\":\"pat\",\"name\":[{\"family\":\"DURAND\",\"given\":[\"PAUL\"]}]," +
        "\"gender\":\"male\",\"birthDate\":\"1970-01-01\"}}";

    internal static string Bundle(int observations)
    {
        var sb = new StringBuilder("{\"resourceType\":\"Bundle\",\"type\":\"batch\",\"entry\":[");
        for (int i = 0; i < observations; i++)
        {
            string index = i.ToString(System.Globalization.CultureInfo.InvariantCulture);
            sb.Append(i > 0 ? "," : "").Append(ObservationTemplate.Replace("INDEX", index, StringComparison.Ordinal)
                .Replace("OUTCOME", i % 10 == 0 ? "260373001" : "260415000", StringComparison.Ordinal));
        }
        return sb.Append(PatientEntry).Append("]}").ToString();
    }

    [GlobalSetup]
    public void Setup()
    {
        _text = Bundle(Observations);
        _bundle = Encoding.UTF8.GetBytes(_text);
        _bundleSplit = Segments.Of(_bundle, 4096);
        if (FastPath() != Observations)
        {
            throw new InvalidOperationException($"the bundle should give {Observations} results");
        }
    }

    [Benchmark(Baseline = true, Description = "Firely FhirJsonDeserializer (object model only)")]
    public int Firely() => ((Bundle)_firely.Deserialize<Resource>(_text)).Entry.Count;

    [Benchmark(Description = "Sidep fast path (to canonical results)")]
    public int FastPath() => Results(_parser.Parse(_bundle));

    [Benchmark(Description = "Sidep fast path, 4 KiB segments")]
    public int FastPathSegmented() => Results(_parser.Parse(_bundleSplit));

    private static int Results(ParsedSubmission submission)
    {
        int n = 0;
        foreach (ParsedMessage m in submission.Messages)
        {
            n += m.Items.Count(i => i.Result is not null);
        }
        return n;
    }

    /// <summary>Both read the same bundle (Firely from its text).</summary>
    public int BytesOf(string method) => _bundle.Length;
}
