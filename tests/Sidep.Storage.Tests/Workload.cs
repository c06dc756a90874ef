using System.Buffers;
using System.Globalization;
using System.Text;
using System.Text.Json.Nodes;
using Sidep.Ingestion;
using Sidep.Domain;
using Sidep.Journal;
using Sidep.Pipeline;
using Sidep.Storage.Sqlite;
using Sidep.Tests;

namespace Sidep.Storage.Tests;

/// <summary>
/// A workload that exercises what the counts depend on: the whole corpus (HL7 v2, HPRIM, FHIR), and synthetic
/// persons with INS and without, typos, the same person under three labs (merges), retests on later days,
/// corrections, retractions and resent duplicates.
/// </summary>
public static class Workload
{
    public static IEnumerable<(string Format, byte[] Body)> Corpus() =>
        Fixtures.Hl7Files.Select(f => (Formats.Hl7v2, File.ReadAllBytes(f)))
            .Concat(Fixtures.HprimFiles.Select(f => (Formats.Hprim, File.ReadAllBytes(f))))
            .Concat(Directory.GetFiles(Fixtures.FhirDir, "*.json").Order(StringComparer.Ordinal).Select(f => (Formats.Fhir, File.ReadAllBytes(f))));

    private static readonly string[] Names = ["DUPONT", "MARTIN", "BERNARD", "PETIT", "DURAND", "LEROY", "MOREAU", "SIMON", "LAURENT", "MICHEL"];
    private static readonly string[] Given = ["MARIE", "JEAN", "LUCIE", "PAUL", "ANNE", "LOUIS", "CLAIRE", "HUGO", "EMMA", "JULES", "ALICE", "NOAH"];
    private static readonly string[] Deps = ["75", "93", "13", "69", "59", "2A", "971", "33"];

    private static string Ins(long nir13) => nir13.ToString(CultureInfo.InvariantCulture) + (97 - nir13 % 97).ToString("D2", CultureInfo.InvariantCulture);

    private static string Message(string accession, string pid, int day, string outcome, string status = "F", string dep = "75") =>
        "MSH|^~\\&|APP|LAB^990000001|SIDEP|ANS|20260120093000+0100||ORU^R01^ORU_R01|" + accession + "|P|2.5\r" + pid + "\r" +
        $"OBR|1||{accession}|94500-6^SARS-CoV-2^LN|||202601{day:D2}081500+0100\r" +
        $"OBX|1|CWE|94500-6^SARS-CoV-2^LN||{outcome}||||||{status}\r";

    /// <summary>The identity of the synthetic workload's person <paramref name="i"/> (birth date as YYYYMMDD).</summary>
    public sealed record Person(string Ins, string Name, string Given, string Birth, string Sex)
    {
        public string BirthDate => $"{Birth[..4]}-{Birth[4..6]}-{Birth[6..]}";
    }

    public static Person PersonOf(int i) => new(Ins(2_000_000_000_000 + (i % 2 == 0 ? 0 : 1_000_000_000_000) + 1_000L * i),
        Names[i % Names.Length], Given[i / Names.Length % Given.Length], $"19{50 + i % 45:D2}{1 + i % 12:D2}{1 + i / 12 % 28:D2}", i % 2 == 0 ? "F" : "M");

    /// <summary>Synthetic HL7 submissions, in the order they are sent (deterministic).</summary>
    public static List<byte[]> Synthetic(int persons = 240)
    {
        var random = new Random(7);
        var messages = new List<string>();
        var corrections = new List<string>();
        var mistyped = new List<string>();
        for (int i = 0; i < persons; i++)
        {
            (string ins, string name, string given, string birth, string sex) = PersonOf(i);
            string dep = Deps[i % Deps.Length];
            string address = $"||1 RUE DE LA PAIX^^PARIS^^{(dep.Length == 3 ? dep + "10" : dep + "100")}";
            string withIns = $"PID|1||{ins}^^^ASIP-SANTE-INS-NIR&1.2.250.1.213.1.4.8&ISO^INS||{name}^{given}||{birth}|{sex}{address}";
            string withoutIns = $"PID|1||L{i}^^^LAB^PI||{name}^{given}||{birth}|{sex}{address}";
            string typo = $"PID|1||M{i}^^^LAB^PI||{name[..^1]}E^{given}||{birth}|{sex}{address}";
            string positive = "260373001^Detected^SCT", negative = "260385009^Not detected^SCT";
            int day = 1 + random.Next(20);
            string first = random.NextDouble() < 0.3 ? positive : negative;
            // Without INS first, with INS later: the INS result links to (or merges) the trait-only person.
            messages.Add(Message($"S{i}A", i % 3 == 0 ? withoutIns : withIns, day, first, dep: dep));
            if (random.NextDouble() < 0.5)
            {
                messages.Add(Message($"S{i}B", i % 3 == 0 ? withIns : random.NextDouble() < 0.3 ? typo : withIns, Math.Min(28, day + 1 + random.Next(6)),
                    random.NextDouble() < 0.35 ? positive : negative, dep: dep));
            }
            if (random.NextDouble() < 0.08)
            {
                corrections.Add(Message($"S{i}A", withIns, day, first == positive ? negative : positive, "C", dep)); // a correction, later
            }
            if (random.NextDouble() < 0.03)
            {
                corrections.Add(Message($"S{i}A", withIns, day, first, "X", dep)); // cancelled: a retraction
            }
            // Later, an INS result with its sex or birth date mistyped or partly known: its own blocking key is another
            // partition's; the INS links it to its holder (or flags the conflict), in the distributed mode as in the embedded.
            if (i % 3 != 0 && i % 12 is 1 or 2 or 5)
            {
                string wrongDay = (int.Parse(birth[6..], CultureInfo.InvariantCulture) % 28 + 1).ToString("D2", CultureInfo.InvariantCulture);
                string other = (i % 12) switch
                {
                    1 => $"PID|1||{ins}^^^ASIP-SANTE-INS-NIR&1.2.250.1.213.1.4.8&ISO^INS||{name}^{given}||{birth}|{(sex == "F" ? "M" : "F")}{address}",
                    2 => $"PID|1||{ins}^^^ASIP-SANTE-INS-NIR&1.2.250.1.213.1.4.8&ISO^INS||{name}^{given}||{birth[..6]}|{sex}{address}",
                    _ => $"PID|1||{ins}^^^ASIP-SANTE-INS-NIR&1.2.250.1.213.1.4.8&ISO^INS||{name}^{given}||{birth[..6]}{wrongDay}|{sex}{address}",
                };
                mistyped.Add(Message($"S{i}M", other, Math.Min(28, day + 2), random.NextDouble() < 0.3 ? positive : negative, dep: dep));
            }
        }
        for (int i = 0; i < IdentityFixtures.ThreeLabs.Length; i++)
        {
            messages.Add(Message($"T{i}", IdentityFixtures.ThreeLabs[i], 12, "260373001^Detected^SCT"));
        }
        var batches = new List<byte[]>();
        for (int i = 0; i < messages.Count; i += 25)
        {
            batches.Add(Encoding.UTF8.GetBytes(string.Concat(messages.Skip(i).Take(25))));
        }
        batches.Add(Encoding.UTF8.GetBytes(string.Concat(messages.Take(10)))); // resent: duplicates
        batches.Add(Encoding.UTF8.GetBytes(string.Concat(corrections)));
        batches.Add(Encoding.UTF8.GetBytes(string.Concat(mistyped)));
        return batches;
    }

    /// <summary>Sends the corpus and the synthetic submissions; returns how many results were accepted or corrected.</summary>
    public static async Task<int> SendAsync(IngestionService ingestion)
    {
        int stored = 0;
        foreach ((string format, byte[] body) in Corpus().Concat(Synthetic().Select(b => (Formats.Hl7v2, b))))
        {
            SubmissionOutcome outcome = await ingestion.SubmitAsync(null, new ReadOnlySequence<byte>(body), format, "test", false);
            stored += outcome.Report.Counts.Stored;
        }
        return stored;
    }

    /// <summary>What the stages made, in a form both modes can be compared on (person ids differ between the modes: the
    /// distributed matcher numbers persons per partition, so they are replaced by the grouping they make).</summary>
    public sealed record Outcomes(List<string> Indicators, List<string> Cases, List<string> CasePersons, List<string> Research, List<string> ResearchPersons,
        List<string> ResearchPartitions)
    {
        /// <summary>Asserts every part equal, with the part's name in the message.</summary>
        public void AssertEqual(Outcomes other)
        {
            foreach ((string name, List<string> mine, List<string> theirs) in new[]
            {
                ("indicators", Indicators, other.Indicators), ("cases", Cases, other.Cases), ("case persons", CasePersons, other.CasePersons),
                ("research rows", Research, other.Research), ("research persons", ResearchPersons, other.ResearchPersons),
                ("research partitions", ResearchPartitions, other.ResearchPartitions),
            })
            {
                Assert.True(mine.SequenceEqual(theirs), $"{name} differ: {mine.Count} vs {theirs.Count}; first difference: " +
                    $"{mine.Except(theirs).FirstOrDefault()} / {theirs.Except(mine).FirstOrDefault()}");
            }
        }
    }

    /// <summary>The net indicator counts per day and cell, the cases, the research rows (of the partitions written in
    /// <paramref name="researchDirectory"/>) and the partitions' row counts.</summary>
    public static Outcomes Outcome(IStageStore store, string? researchDirectory = null)
    {
        List<string> indicators = [.. store.IndicatorChangesAfter(DateTimeOffset.MinValue, int.MinValue, int.MaxValue)
            .Where(d => d.P != 0 || d.T != 0).Select(d => $"{d.Day}/{d.Cell}: P={d.P} T={d.T}").Order(StringComparer.Ordinal)];
        List<StoredCase> cases = store.CasesChangedAfter(0, 100_000);
        List<string> described = [.. cases.Select(c =>
        {
            JsonObject json = JsonNode.Parse(c.Json)!.AsObject();
            json.Remove("personId");
            return $"{c.CaseId} {c.Status} {c.SampleDate} {c.Territory} {c.Region} {json.ToJsonString()}";
        }).Order(StringComparer.Ordinal)];
        Dictionary<string, ResearchPartition> partitions = researchDirectory is null ? [] :
            new(ResearchSink.ReadManifest(researchDirectory)?.Partitions ?? new Dictionary<string, ResearchPartition>());
        List<ResearchRowRecord> rows = [.. partitions.Keys.SelectMany(date => store.ResearchRows(date))];
        return new Outcomes(indicators, described, Grouping(cases.Select(c => (c.PersonId, c.CaseId))),
            [.. rows.Select(r => $"{r.Key} v{r.Version} {r.SampleDate} {r.Json}").Order(StringComparer.Ordinal)], Grouping(rows.Select(r => (r.PersonId, r.Key))),
            [.. partitions.Select(p => $"{p.Key}: {p.Value.Rows} rows").Order(StringComparer.Ordinal)]);
    }

    private static List<string> Grouping(IEnumerable<(long Person, string Item)> items) => [.. items.GroupBy(i => i.Person)
        .Select(g => string.Join(',', g.Select(i => i.Item).Order(StringComparer.Ordinal))).Order(StringComparer.Ordinal)];
}
