using System.Text;
using BenchmarkDotNet.Attributes;
using Sidep.Parsing;
using Sidep.Parsing.Hprim;

namespace Sidep.Benchmarks;

/// <summary>HPRIM parsing into the canonical model: a 1,000-patient HPRIM Santé file (P, OBR, OBX, C records, one A
/// continuation per request) and a 1,000-patient HPRIM Médecin file, ISO-8859-1 with accents.</summary>
[MemoryDiagnoser]
[Config(typeof(ThroughputConfig))]
public class HprimParserBenchmarks : IMeasuredBytes
{
    private byte[] _sante = [];
    private byte[] _medecin = [];
    private System.Buffers.ReadOnlySequence<byte> _santeSplit, _medecinSplit;
    private readonly HprimParser _parser = new();

    [GlobalSetup]
    public void Setup()
    {
        var s = new StringBuilder("H|~^\\&|LABO.HPR||750000001~LABO DEMO||ORU|||SIDEP~ANS||P|H2.2~C|202201101200\r\n");
        var m = new StringBuilder();
        for (int i = 0; i < 1000; i++)
        {
            s.Append($"P|{i + 1}|{100000 + i}|||LEFÈVRE~HÉLOÏSE~MARIE|MARTIN|198503{1 + i % 28:D2}|F||12 RUE DES LILAS~~LYON~~69003|||\r\n")
             .Append($"OBR|1|D22-{i:D6}~||SCOV~SARS-CoV-2 PCR~L|R||202201100815||||N|||202201100930||PRESC~DR DUPONT J~L~CLINIQUE DU PA\r\n")
             .Append("A|RC~L|0478000000||||||||F\r\n")
             .Append($"OBX|1|CE|SCOV~SARS-CoV-2 PCR~L||{(i % 3 == 0 ? "POS~Positif" : "NEG~Négatif")}|||N|||F|||202201101000\r\n")
             .Append("C|1|L|Prélèvement nasopharyngé\r\n");
            m.Append($"{100000 + i}\r\nLEFÈVRE\r\nHÉLOÏSE\r\n12 RUE DES LILAS\r\n\r\n69003 LYON\r\n{1 + i % 28:D2}/03/1985\r\n2850369123456 12\r\nD22{i:D6}\r\n10/01/2022\r\nLABO DEMO\r\nDR DUPONT\r\n")
             .Append("****LAB****\r\n")
             .Append($"RES|SARS-CoV-2 PCR|SCOV|A|{(i % 3 == 0 ? "POSITIF" : "NEGATIF")}||||N|F\r\n")
             .Append("TEX|Prélèvement nasopharyngé\r\n")
             .Append("****FIN****\r\n");
        }
        s.Append("L|1\r\n");
        m.Append("****FINFICHIER****\r\n");
        _sante = Encoding.Latin1.GetBytes(s.ToString());
        _medecin = Encoding.Latin1.GetBytes(m.ToString());
        _santeSplit = Segments.Of(_sante, 4096);
        _medecinSplit = Segments.Of(_medecin, 4096);
        // A benchmark of a file that does not parse would measure nothing useful.
        if (Sante() != 1000 || Medecin() != 1000)
        {
            throw new InvalidOperationException($"the synthetic files should give 1000 results each, not {Sante()} and {Medecin()}");
        }
    }

    [Benchmark(Baseline = true, Description = "HPRIM Santé, 1000 patients")]
    public int Sante() => Count(_parser.Parse(_sante));

    [Benchmark(Description = "HPRIM Médecin, 1000 patients")]
    public int Medecin() => Count(_parser.Parse(_medecin));

    [Benchmark(Description = "HPRIM Santé, 4 KiB segments")]
    public int SanteSegmented() => Count(_parser.Parse(_santeSplit));

    [Benchmark(Description = "HPRIM Médecin, 4 KiB segments")]
    public int MedecinSegmented() => Count(_parser.Parse(_medecinSplit));

    public int BytesOf(string method) => method.StartsWith(nameof(Sante), StringComparison.Ordinal) ? _sante.Length : _medecin.Length;

    private static int Count(ParsedSubmission s)
    {
        int n = 0;
        foreach (ParsedMessage msg in s.Messages)
        {
            foreach (ParsedItem item in msg.Items)
            {
                n += item.Result is null ? 0 : 1;
            }
        }
        return n;
    }
}
