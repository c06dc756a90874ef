using System.Globalization;
using System.Runtime.InteropServices;
using System.Text;
using Sidep.Domain;
using Sidep.Identity.Quality;
using Sidep.Indicators;

namespace Sidep.LoadGen;

/// <summary>The formats a synthetic lab sends in.</summary>
public enum LabFormat { Hl7v2, HprimSante, HprimMedecin, Fhir }

/// <summary>Sex as the epidemiologists' tables count it: HPRIM Médecin sends none.</summary>
public enum TruthSex : byte { Female, Male, Unknown }

/// <summary>Knobs of the national workload (shares in [0, 1]).</summary>
public sealed record WorkloadOptions
{
    public int Results { get; init; } = 100_000;
    public int Labs { get; init; } = 5_000;
    /// <summary>Results per HTTP submission, at most (a lab sends what it has in batches of this size).</summary>
    public int Batch { get; init; } = 1_000;
    public int Seed { get; init; } = 1;
    public double WithoutIns { get; init; } = 0.4;
    public double Positivity { get; init; } = 0.1;
    /// <summary>Share of results resent unchanged later (reported duplicates, no effect).</summary>
    public double Duplicates { get; init; } = 0.01;
    /// <summary>Share of results corrected later (positive ↔ negative, status C).</summary>
    public double Corrections { get; init; } = 0.01;
    /// <summary>Share of invalid items (rejected with a reason; the rest of their submission accepted), on top.</summary>
    public double Invalid { get; init; } = 0.005;
    /// <summary>Share of results that are an earlier person's test again, on another day or the same one.</summary>
    public double Retests { get; init; } = 0.1;
    /// <summary>Share of results arriving late: sampled 8 to 20 days before, not in the last week.</summary>
    public double Late { get; init; } = 0.02;
    /// <summary>Share of HL7 v2 and HPRIM Santé labs that send their own analysis codes (HPRIM Médecin labs always do;
    /// FHIR labs send LOINC); each registers its transcoding table first.</summary>
    public double LocalCodes { get; init; } = 0.3;
    /// <summary>Share of HL7 v2 labs that send over MLLP, one message per result, instead of HTTP batches.</summary>
    public double Mllp { get; init; } = 0.2;
    /// <summary>Relative weights of the labs' formats: HL7 v2, HPRIM Santé, HPRIM Médecin, FHIR.</summary>
    public IReadOnlyList<double> FormatWeights { get; init; } = [55, 20, 5, 20];
    /// <summary>Sample dates are drawn in the week before this day (today when null).</summary>
    public DateOnly? Today { get; init; }
}

/// <summary>A laboratory of the workload: where it is, what it sends, how, and as whom.</summary>
public sealed record SyntheticLab(int Index, string Finess, string Name, string Facility, string Dep, LabFormat Format, bool Mllp, string? LocalCode,
    string Loinc, string Label, string MllpSource)
{
    public string MediaType => Format switch { LabFormat.Fhir => "application/fhir+json", LabFormat.Hl7v2 => "application/hl7-v2", _ => "application/x-hprim" };
}

/// <summary>What one generated result finally is, for the ground truth.</summary>
public readonly record struct Truth(int Person, DateOnly Day, TruthSex Sex, string Dep, int AgeClass, bool Positive);

/// <summary>One HTTP submission of a lab, and what its answer must count.</summary>
public sealed record Submission(SyntheticLab Lab, byte[] Body, int Results);

/// <summary>A lab's MLLP messages, sent one after the other on its own connection.</summary>
public sealed record MllpStream(SyntheticLab Lab, List<byte[]> Messages);

/// <summary>What the answers must add up to, per channel.</summary>
public sealed record ExpectedAnswers(int Accepted, int Corrections, int Duplicates, int Rejected, int MllpAccepted, int MllpRejected)
{
    public int Total => Accepted + Corrections + Duplicates + Rejected + MllpAccepted + MllpRejected;
}

/// <summary>
/// A synthetic national day: persons drawn by département and age class as France's population is
/// (<c>population_dep_age_2020.csv</c>), French names, a share with INS; labs spread the same way, each with its format
/// (HL7 v2, HPRIM Santé, HPRIM Médecin, FHIR), channel (HTTP batches or MLLP) and local codes; a positivity rate,
/// retests, late results, then corrections and duplicates once the originals are acknowledged, and invalid items.
/// Every result's truth is kept, so that the published indicators can be computed without Sidep.
/// </summary>
public sealed class Workload
{
    public required WorkloadOptions Options { get; init; }
    public required List<SyntheticLab> Labs { get; init; }
    public required List<Submission> Http { get; init; }
    public required List<Submission> LateHttp { get; init; }
    public required List<MllpStream> Mllp { get; init; }
    public required List<MllpStream> LateMllp { get; init; }
    public required ExpectedAnswers Expected { get; init; }
    public required List<Truth> Truths { get; init; }
    public required int Persons { get; init; }
    public required int Corrections { get; init; }
    public required int Duplicates { get; init; }
    public required DateOnly Today { get; init; }

    /// <summary>Local analysis codes labs use, with the LOINC each means (PCR and antigen: what the indicators count).</summary>
    private static readonly (string Local, string Loinc, string Label)[] s_codes =
    [
        ("SCOV", "94500-6", "SARS-CoV-2 PCR"), ("COVPCR", "94309-2", "PCR SARS-CoV-2"), ("2019NCOV", "94759-8", "ARN SARS-CoV-2 nasopharynx"),
        ("TAGCOV", "94558-4", "Test antigénique SARS-CoV-2"), ("COVSAL", "94845-5", "PCR SARS-CoV-2 salivaire"),
    ];

    /// <summary>A person of the workload, and where the labs say they live.</summary>
    internal sealed record Person(PatientIdentity Identity, bool WithIns, string Dep, string Postcode, string City, bool Medecin);

    /// <summary>The street line of every synthetic home (the postcode and city are the département's).</summary>
    private const string Line = "1 RUE DE LA PAIX";

    /// <summary>One lab's items in the order it sends them; each is a whole message (HL7, HPRIM Médecin block), a P/OBR/OBX
    /// group (HPRIM Santé) or a Patient and Observation pair (FHIR).</summary>
    private sealed class LabItems
    {
        public readonly List<string> Main = [];
        public readonly List<string> Late = [];
        public int MainValid, MainInvalid, LateCorrections, LateDuplicates;
    }

    public static Workload Generate(WorkloadOptions o)
    {
        var random = new Random(o.Seed);
        DateOnly today = o.Today ?? DateOnly.FromDateTime(DateTime.UtcNow);
        (string Dep, string Postcode, string City)[] places = Places();
        var byDep = places.ToDictionary(p => p.Dep, p => p);
        // Persons: (département, age class) cells weighted by their population; labs: départements by population.
        var cells = new List<(string Dep, int Age)>();
        var cellWeights = new List<double>();
        var depWeights = new List<double>();
        foreach ((string dep, _, _) in places)
        {
            int d = Geography.France.DepartementIndex(dep);
            for (int age = 0; age < 10; age++)
            {
                cells.Add((dep, age));
                cellWeights.Add((double)Geography.France.Population(d, age));
            }
            depWeights.Add((double)Geography.France.Population(d, AgeClasses.All));
        }
        var cellDraw = new WeightedDraw(cellWeights);
        var depDraw = new WeightedDraw(depWeights);
        var formatDraw = new WeightedDraw(o.FormatWeights);

        var labs = new List<SyntheticLab>(o.Labs);
        for (int i = 0; i < Math.Max(1, o.Labs); i++)
        {
            string dep = places[depDraw.Next(random)].Dep;
            var format = (LabFormat)formatDraw.Next(random);
            (string local, string loinc, string label) = s_codes[random.Next(s_codes.Length)];
            bool localCodes = format == LabFormat.HprimMedecin || format is LabFormat.Hl7v2 or LabFormat.HprimSante && random.NextDouble() < o.LocalCodes;
            bool overMllp = format == LabFormat.Hl7v2 && random.NextDouble() < o.Mllp;
            string prefix = dep.Length == 3 ? "9" + dep[2] : dep;
            labs.Add(new SyntheticLab(i, $"{prefix}9{i:D6}", $"LABORATOIRE SYNTHÉTIQUE {i}", $"LAB{i}", dep, format, overMllp, localCodes ? local : null, loinc, label,
                $"127.1.{i / 250}.{1 + i % 250}"));
        }
        var labsOfDep = labs.GroupBy(l => l.Dep).ToDictionary(g => g.Key, g => g.ToArray());
        SyntheticLab[] allLabs = [.. labs];
        SyntheticLab[] notMedecin = [.. labs.Where(l => l.Format != LabFormat.HprimMedecin)];
        var items = labs.Select(_ => new LabItems()).ToArray();

        // Persons sharing a block (birth date + sex) never share a first given name; nor are they so alike that identity
        // vigilance would take them for one (with a few hundred names, namesakes born the same day are far more frequent
        // than in life, and the matcher rightly links them): such a person is drawn again, so that the truth is countable.
        var firstNames = new HashSet<(DateOnly, Sex, string)>();
        var separable = new Sidep.Identity.Matcher();
        var persons = new List<Person>();
        var truths = new List<Truth>(o.Results);
        var retestable = new List<int>();
        for (int i = 0; i < o.Results; i++)
        {
            int person;
            SyntheticLab lab;
            if (retestable.Count > 0 && random.NextDouble() < o.Retests)
            {
                person = retestable[random.Next(retestable.Count)];
                SyntheticLab[] local = labsOfDep.GetValueOrDefault(persons[person].Dep, notMedecin);
                lab = local[random.Next(local.Length)];
                if (lab.Format == LabFormat.HprimMedecin)
                {
                    lab = notMedecin.Length > 0 ? notMedecin[random.Next(notMedecin.Length)] : lab;
                }
            }
            else
            {
                (string dep, int age) = cells[cellDraw.Next(random)];
                SyntheticLab[] local = labsOfDep.GetValueOrDefault(dep, allLabs);
                lab = local[random.Next(local.Length)];
                bool medecin = lab.Format == LabFormat.HprimMedecin;
                (string _, string postcode, string city) = byDep[dep];
                // The home the labs will send (every person of a département at its one postcode): the separability check
                // must see it, since a shared home corroborates a link made on approximate names.
                var home = new Address(Line, city, postcode, null, "FRA");
                PatientIdentity p = NewPerson(random, today, age) with { Address = home };
                for (int tries = 0; tries < 100 && !Separable(p, medecin, firstNames, separable); tries++)
                {
                    p = NewPerson(random, today, age) with { Address = home };
                }
                separable.Match(medecin ? p with { Ins = null, Sex = Sex.Unknown } : p with { Ins = null });
                persons.Add(new Person(p, random.NextDouble() >= o.WithoutIns, dep, postcode, city, medecin));
                person = persons.Count - 1;
                // An HPRIM Médecin result carries no sex: its person is counted apart, and not tested again elsewhere,
                // where the matcher could not tell whether the two are one.
                if (!medecin)
                {
                    retestable.Add(person);
                }
            }
            DateOnly day = random.NextDouble() < o.Late ? today.AddDays(-8 - random.Next(13)) : today.AddDays(-random.Next(7));
            bool positive = random.NextDouble() < o.Positivity;
            string accession = $"LG{o.Seed}-{i}";
            LabItems mine = items[lab.Index];
            mine.Main.Add(Render(lab, persons[person], person, accession, day, positive, "F", valid: true));
            mine.MainValid++;
            truths.Add(TruthOf(persons[person], person, day, positive));
            double later = random.NextDouble();
            if (later < o.Corrections)
            {
                mine.Late.Add(Render(lab, persons[person], person, accession, day, !positive, "C", valid: true));
                mine.LateCorrections++;
                truths[^1] = truths[^1] with { Positive = !positive };
            }
            else if (later < o.Corrections + o.Duplicates)
            {
                mine.Late.Add(mine.Main[^1]);
                mine.LateDuplicates++;
            }
            if (random.NextDouble() < o.Invalid)
            {
                mine.Main.Add(Render(lab, persons[person], person, $"LG{o.Seed}-X{i}", day, positive, "F", valid: false));
                mine.MainInvalid++;
            }
        }

        var http = new List<Submission>();
        var lateHttp = new List<Submission>();
        var mllp = new List<MllpStream>();
        var lateMllp = new List<MllpStream>();
        int accepted = 0, corrections = 0, duplicates = 0, rejected = 0, mllpAccepted = 0, mllpRejected = 0;
        int allCorrections = items.Sum(i => i.LateCorrections), allDuplicates = items.Sum(i => i.LateDuplicates);
        foreach (SyntheticLab lab in labs)
        {
            LabItems mine = items[lab.Index];
            if (lab.Mllp)
            {
                if (mine.Main.Count > 0)
                {
                    mllp.Add(new MllpStream(lab, [.. mine.Main.Select(Encoding.UTF8.GetBytes)]));
                }
                if (mine.Late.Count > 0)
                {
                    lateMllp.Add(new MllpStream(lab, [.. mine.Late.Select(Encoding.UTF8.GetBytes)]));
                }
                mllpAccepted += mine.MainValid + mine.LateCorrections + mine.LateDuplicates;
                mllpRejected += mine.MainInvalid;
                continue;
            }
            http.AddRange(Batches(lab, mine.Main, o.Batch, o.Seed));
            lateHttp.AddRange(Batches(lab, mine.Late, o.Batch, o.Seed));
            accepted += mine.MainValid;
            rejected += mine.MainInvalid;
            corrections += mine.LateCorrections;
            duplicates += mine.LateDuplicates;
        }
        // Labs send at the same time: their submissions interleave.
        random.Shuffle(CollectionsMarshal.AsSpan(http));
        random.Shuffle(CollectionsMarshal.AsSpan(lateHttp));
        random.Shuffle(CollectionsMarshal.AsSpan(mllp));
        return new Workload
        {
            Options = o, Labs = labs, Http = http, LateHttp = lateHttp, Mllp = mllp, LateMllp = lateMllp, Truths = truths, Persons = persons.Count, Today = today,
            Corrections = allCorrections, Duplicates = allDuplicates,
            Expected = new ExpectedAnswers(accepted, corrections, duplicates, rejected, mllpAccepted, mllpRejected),
        };
    }

    /// <summary>A person of the age class, of either sex, born on a day from 1 to 28 (no 29 February), and before the
    /// earliest sample date (three weeks ago).</summary>
    private static PatientIdentity NewPerson(Random random, DateOnly today, int ageClass)
    {
        int age = ageClass * 10 + random.Next(ageClass == 9 ? 15 : 10);
        DateOnly birth = today.AddYears(-age).AddDays(-21 - random.Next(344));
        birth = new DateOnly(birth.Year, birth.Month, Math.Min(birth.Day, 28));
        return SyntheticIdentities.RandomPerson(random, random.Next(2) == 0 ? Sex.Female : Sex.Male, birth);
    }

    private static bool Separable(PatientIdentity p, bool medecin, HashSet<(DateOnly, Sex, string)> firstNames, Sidep.Identity.Matcher separable)
    {
        PartialDate b = p.BirthDate!.Value;
        var birth = new DateOnly(b.Year, b.Month!.Value, b.Day!.Value);
        if (firstNames.Contains((birth, p.Sex, p.GivenNames[0])) || medecin && firstNames.Contains((birth, Sex.Unknown, p.GivenNames[0]))
            || separable.Find(p with { Ins = null }) is not null
            || separable.Find(p with { Ins = null, Sex = Sex.Unknown }) is not null)
        {
            return false;
        }
        firstNames.Add((birth, p.Sex, p.GivenNames[0]));
        if (medecin)
        {
            firstNames.Add((birth, Sex.Unknown, p.GivenNames[0]));
        }
        return true;
    }

    internal static Truth TruthOf(Person p, int person, DateOnly day, bool positive)
    {
        PartialDate b = p.Identity.BirthDate!.Value;
        var birth = new DateOnly(b.Year, b.Month!.Value, b.Day!.Value);
        int age = day.Year - birth.Year - (day < birth.AddYears(day.Year - birth.Year) ? 1 : 0);
        TruthSex sex = p.Medecin ? TruthSex.Unknown : p.Identity.Sex == Sex.Female ? TruthSex.Female : TruthSex.Male;
        return new Truth(person, day, sex, p.Dep, Math.Min(age / 10, 9), positive);
    }

    /// <summary>Every département with a postcode that names it (977 and 978 share 971's postcodes: left out).</summary>
    private static (string Dep, string Postcode, string City)[] Places()
    {
        var places = new List<(string, string, string)>();
        foreach (string dep in Geography.France.Departements)
        {
            string postcode = dep switch { "2A" => "20000", "2B" => "20200", { Length: 3 } => dep + "00", _ => dep + "000" };
            if (Geography.France.FromPostcode(postcode) == Geography.France.DepartementIndex(dep))
            {
                places.Add((dep, postcode, $"VILLE {dep}"));
            }
        }
        return [.. places];
    }

    private static IEnumerable<Submission> Batches(SyntheticLab lab, List<string> items, int size, int seed)
    {
        int n = 0;
        foreach (string[] chunk in items.Chunk(Math.Max(1, size)))
        {
            n++;
            string file = $"LG{seed}-{lab.Index}-{n}";
            byte[] body = lab.Format switch
            {
                LabFormat.HprimSante => Encoding.Latin1.GetBytes(
                    $"H|~^\\&|{file}.HPR||{lab.Finess}~{lab.Name}||ORU|||SIDEP~ANS||P|H2.2~C|{DateTime.UtcNow:yyyyMMddHHmm}\r\n" + string.Concat(chunk) + "L|1\r\n"),
                LabFormat.HprimMedecin => Encoding.Latin1.GetBytes(string.Concat(chunk) + "****FINFICHIER****\r\n"),
                LabFormat.Fhir => Encoding.UTF8.GetBytes(
                    "{\"resourceType\":\"Bundle\",\"type\":\"collection\",\"entry\":[{\"fullUrl\":\"urn:uuid:00000000-0000-4000-8000-000000000000\",\"resource\":" +
                    $"{{\"resourceType\":\"Organization\",\"identifier\":[{{\"system\":\"urn:oid:1.2.250.1.71.4.2.2\",\"value\":\"{lab.Finess}\"}}],\"name\":\"{lab.Name}\"}}}}," +
                    string.Join(',', chunk) + "]}"),
                _ => Encoding.UTF8.GetBytes(string.Concat(chunk)),
            };
            yield return new Submission(lab, body, chunk.Length);
        }
    }

    /// <summary>One result as the lab sends it, in its format (a whole message, or the part of a file or bundle it fills).</summary>
    internal static string Render(SyntheticLab lab, Person person, int id, string accession, DateOnly day, bool positive, string status, bool valid)
    {
        PatientIdentity p = person.Identity;
        PartialDate b = p.BirthDate!.Value;
        string code = lab.LocalCode ?? lab.Loinc;
        switch (lab.Format)
        {
            case LabFormat.HprimSante:
            {
                // HPRIM numbering counts the record type: OBR.8 sample date, OBX.4 analysis, OBX.6 value, OBX.12 status.
                string system = lab.LocalCode is null ? "LN" : "L";
                string value = positive ? "POS~Positif" : "NEG~Négatif";
                return $"P|1|P{id}|||{p.BirthName}~{p.GivenNames[0]}~{p.GivenNames[1]}|{p.BirthName}|{b.Year:D4}{b.Month:D2}{b.Day:D2}|{(p.Sex == Sex.Female ? 'F' : 'M')}||{Line}~~{person.City}~~{person.Postcode}|||\r\n" +
                    $"OBR|1|{accession}~||{code}~{lab.Label}~{system}|R||{day:yyyyMMdd}0800||||N|||{day:yyyyMMdd}0930||\r\n" +
                    $"OBX|1|CE|{code}~{lab.Label}~{system}||{value}|||N|||{(valid ? status : "")}|||{day:yyyyMMdd}1000\r\n";
            }
            case LabFormat.HprimMedecin:
                return $"P{id}\r\n{p.BirthName}\r\n{p.GivenNames[0]} {p.GivenNames[1]}\r\n{Line}\r\n\r\n{person.Postcode} {person.City}\r\n" +
                    $"{b.Day:D2}/{b.Month:D2}/{b.Year:D4}\r\n\r\n{accession}\r\n{day:dd/MM/yyyy}\r\n{lab.Finess}\r\nSIDEP\r\n****LAB****\r\n" +
                    $"RES|{lab.Label}|{code}|A|{(valid ? positive ? "POSITIF" : "NEGATIF" : "")}||||N|{status}\r\n****FIN****\r\n";
            case LabFormat.Fhir:
            {
                long n = long.Parse(accession.AsSpan(accession.LastIndexOfAny(['-', 'X']) + 1), CultureInfo.InvariantCulture) * 2 + (valid ? 0 : 1);
                string patientUrl = $"urn:uuid:00000000-0000-4000-8001-{n:x12}", observationUrl = $"urn:uuid:00000000-0000-4000-8002-{n:x12}";
                string identifier = person.WithIns
                    ? $"{{\"system\":\"urn:oid:1.2.250.1.213.1.4.8\",\"value\":\"{p.Ins!.Matricule}\"}}"
                    : $"{{\"system\":\"https://lab{lab.Index}.sidep-loadgen.invalid/patients\",\"value\":\"P{id}\"}}";
                string result = positive ? "{\"system\":\"http://snomed.info/sct\",\"code\":\"260373001\",\"display\":\"Détecté\"}" : "{\"system\":\"http://snomed.info/sct\",\"code\":\"260415000\",\"display\":\"Non détecté\"}";
                // Invalid: a sample time that is not a FHIR dateTime (a missing one would count on a fallback date, with a warning).
                string effective = valid ? $",\"effectiveDateTime\":\"{day:yyyy-MM-dd}T08:00:00+01:00\"" : $",\"effectiveDateTime\":\"{day:dd/MM/yyyy}\"";
                return $"{{\"fullUrl\":\"{patientUrl}\",\"resource\":{{\"resourceType\":\"Patient\",\"identifier\":[{identifier}],\"name\":[{{\"use\":\"official\",\"family\":\"{p.BirthName}\",\"given\":[\"{p.GivenNames[0]}\",\"{p.GivenNames[1]}\"]}}]," +
                    $"\"gender\":\"{(p.Sex == Sex.Female ? "female" : "male")}\",\"birthDate\":\"{b.Year:D4}-{b.Month:D2}-{b.Day:D2}\",\"address\":[{{\"line\":[\"{Line}\"],\"city\":\"{person.City}\",\"postalCode\":\"{person.Postcode}\"}}]}}}}," +
                    $"{{\"fullUrl\":\"{observationUrl}\",\"resource\":{{\"resourceType\":\"Observation\",\"status\":\"{(status == "C" ? "corrected" : "final")}\",\"identifier\":[{{\"value\":\"{accession}\"}}]," +
                    $"\"code\":{{\"coding\":[{{\"system\":\"http://loinc.org\",\"code\":\"{lab.Loinc}\",\"display\":\"{lab.Label}\"}}]}},\"subject\":{{\"reference\":\"{patientUrl}\"}}," +
                    $"\"performer\":[{{\"reference\":\"urn:uuid:00000000-0000-4000-8000-000000000000\"}}]{effective},\"valueCodeableConcept\":{{\"coding\":[{result}]}}}}}}";
            }
            default:
            {
                string system = lab.LocalCode is null ? "LN" : "L";
                string result = positive ? "260373001^Détecté^SCT" : "260415000^Non détecté^SCT";
                string ins = person.WithIns ? $"{p.Ins!.Matricule}^^^ASIP-SANTE-INS-NIR&1.2.250.1.213.1.4.8&ISO^INS" : $"P{id}^^^{lab.Facility}^PI";
                string sample = $"{day:yyyyMMdd}080000+0100";
                return $"MSH|^~\\&|LOADGEN|{lab.Facility}^{lab.Finess}^FINESS|SIDEP|ANS|{day:yyyyMMdd}120000+0100||ORU^R01^ORU_R01|{accession}{status}|P|2.5|||||FRA|UNICODE UTF-8\r" +
                    $"PID|1||{ins}||{p.BirthName}^{p.GivenNames[0]}^{p.GivenNames[1]}||{b.Year:D4}{b.Month:D2}{b.Day:D2}|{(p.Sex == Sex.Female ? 'F' : 'M')}|||{Line}^^{person.City}^^{person.Postcode}^FRA^H\r" +
                    $"OBR|1||{accession}|{code}^{lab.Label}^{system}|||{sample}\r" +
                    $"OBX|1|CWE|{code}^{lab.Label}^{system}||{result}||||||{(valid ? status : "")}|||{sample}\r";
            }
        }
    }

    /// <summary>Writes the workload as files: the labs and their transcoding tables, each lab's submissions (then its
    /// late ones), the truth of every result, and the national daily table it implies.</summary>
    public void WriteTo(string directory)
    {
        Directory.CreateDirectory(directory);
        using (var labs = new StreamWriter(Path.Combine(directory, "labs.csv")))
        {
            labs.WriteLine("finess;name;facility;dep;format;channel;local_code;loinc;mllp_source");
            foreach (SyntheticLab l in Labs)
            {
                labs.WriteLine($"{l.Finess};{l.Name};{l.Facility};{l.Dep};{l.Format};{(l.Mllp ? "mllp" : "http")};{l.LocalCode};{l.Loinc};{l.MllpSource}");
            }
        }
        string Extension(SyntheticLab l) => l.Format switch { LabFormat.Fhir => "json", LabFormat.Hl7v2 => "hl7", _ => "hpr" };
        var counters = new Dictionary<(int, string), int>();
        void Write(SyntheticLab lab, string phase, byte[] body)
        {
            string dir = Path.Combine(directory, lab.Finess);
            Directory.CreateDirectory(dir);
            int n = counters[(lab.Index, phase)] = counters.GetValueOrDefault((lab.Index, phase)) + 1;
            File.WriteAllBytes(Path.Combine(dir, $"{phase}-{n:D5}.{Extension(lab)}"), body);
        }
        foreach (Submission s in Http) Write(s.Lab, "1", s.Body);
        foreach (Submission s in LateHttp) Write(s.Lab, "2-late", s.Body);
        foreach (MllpStream m in Mllp) foreach (byte[] message in m.Messages) Write(m.Lab, "1-mllp", message);
        foreach (MllpStream m in LateMllp) foreach (byte[] message in m.Messages) Write(m.Lab, "2-late-mllp", message);
        using (var truth = new StreamWriter(Path.Combine(directory, "truth.csv")))
        {
            truth.WriteLine("person;day;sex;dep;cl_age;positive");
            foreach (Truth t in Truths)
            {
                truth.WriteLine($"{t.Person};{t.Day:yyyy-MM-dd};{t.Sex};{t.Dep};{t.AgeClass};{(t.Positive ? 1 : 0)}");
            }
        }
        File.WriteAllText(Path.Combine(directory, "expected-fra-daily.csv"), GroundTruth.Of(Truths).NationalCsv());
    }
}

/// <summary>Draws an index with probability proportional to its weight.</summary>
internal sealed class WeightedDraw
{
    private readonly double[] _cumulative;

    public WeightedDraw(IReadOnlyList<double> weights)
    {
        _cumulative = new double[weights.Count];
        double sum = 0;
        for (int i = 0; i < weights.Count; i++)
        {
            sum += Math.Max(0, weights[i]);
            _cumulative[i] = sum;
        }
        if (sum <= 0)
        {
            throw new ArgumentException("at least one weight must be positive", nameof(weights));
        }
    }

    public int Next(Random random)
    {
        double x = random.NextDouble() * _cumulative[^1];
        int i = Array.BinarySearch(_cumulative, x);
        return Math.Min(i < 0 ? ~i : i + 1, _cumulative.Length - 1);
    }
}
