namespace Sidep.Host;

/// <summary>`sidep identity-quality` and `sidep identity-bench`: the matcher's quality report and speed.</summary>
public static partial class Cli
{
    private static Command IdentityQuality()
    {
        var persons = new Option<int>("--persons") { Description = "Synthetic persons to generate", DefaultValueFactory = _ => 100_000 };
        var seed = new Option<int>("--seed") { Description = "Random seed (the same seed gives the same population)", DefaultValueFactory = _ => 1 };
        var withoutIns = new Option<double>("--without-ins") { Description = "Share of results without INS", DefaultValueFactory = _ => 0.4 };
        var typo = new Option<double>("--typo") { Description = "Chance of a typo per name of a result without INS", DefaultValueFactory = _ => 0.03 };
        var reference = new Option<DirectoryInfo>("--reference")
        {
            Description = "The reference files the population is drawn from (population by département and age, INSEE's first names and surnames)",
            DefaultValueFactory = _ => new DirectoryInfo(Path.Combine("..", "shared", "reference")),
        };
        var command = new Command("identity-quality", "Measure the identity matcher on a realistic labelled population: precision, recall, false merges, review share")
        { persons, seed, withoutIns, typo, reference };
        command.SetAction(parse =>
        {
            var options = new Sidep.Identity.Quality.SyntheticOptions(Persons: parse.GetValue(persons), Seed: parse.GetValue(seed),
                WithoutIns: parse.GetValue(withoutIns), Typo: parse.GetValue(typo));
            DirectoryInfo tables = parse.GetValue(reference)!;
            if (!File.Exists(Path.Combine(tables.FullName, "noms_frequents.csv")))
            {
                Console.Error.WriteLine($"no reference files in {tables.FullName} (--reference DIR: population_dep_age_2020.csv, insee_prenoms_decade.csv, noms_frequents.csv)");
                return 2;
            }
            var took = System.Diagnostics.Stopwatch.StartNew();
            // Drawn and matched as it goes: 10 million persons do not have to be kept.
            var meter = new Sidep.Identity.Quality.QualityMeter();
            var population = Sidep.Identity.Quality.SyntheticIdentities.Generate(options, Sidep.Identity.Quality.PopulationTables.Load(tables.FullName), meter.Add);
            Sidep.Identity.Quality.QualityReport report = meter.Report();
            Console.WriteLine($"population: {options}");
            Console.WriteLine($"{population.Persons:N0} persons, {report.Results:N0} results, {population.NearNamesakePairs:N0} pairs of near-namesakes " +
                $"(same first given name, birth date and sex; surnames with a Jaro-Winkler similarity of 0.9 or more); drawn and matched in {took.Elapsed.TotalSeconds:F1} s");
            Console.WriteLine(report);
            Sidep.Identity.Quality.QualityReport spf = meter.ReportSpf2021();
            Console.WriteLine($"counted by SPF's 2021 person key (birth name, first given name, age, sex) instead: {spf.FoundPersons:N0} persons " +
                $"({(spf.FoundPersons - spf.TruePersons) * 100.0 / spf.TruePersons:+0.00;-0.00} % against the true {spf.TruePersons:N0}; Sidep's matched persons: " +
                $"{(report.FoundPersons - report.TruePersons) * 100.0 / report.TruePersons:+0.00;-0.00} %); pairs: linked {spf.LinkedPairs:N0}, false merges {spf.FalseMergedPairs:N0} " +
                $"({spf.FalseMergesPer100000LinkedPairs:F1} per 100,000 linked), recall {spf.Recall:P2}");
            return 0;
        });
        return command;
    }

    private static Command IdentityBench()
    {
        var persons = new Option<int>("--persons") { Description = "Persons in the index", DefaultValueFactory = _ => 10_000_000 };
        var sample = new Option<int>("--sample") { Description = "Results matched against the full index (timed)", DefaultValueFactory = _ => 1_000_000 };
        var command = new Command("identity-bench", "Speed and memory of the identity matcher against a large index (one core)") { persons, sample };
        command.SetAction(parse =>
        {
            int n = parse.GetValue(persons), m = Math.Min(parse.GetValue(sample), parse.GetValue(persons));
            long before = GC.GetTotalMemory(forceFullCollection: true);
            var matcher = new Sidep.Identity.Matcher();
            var build = System.Diagnostics.Stopwatch.StartNew();
            var random = new Random(1);
            for (int i = 0; i < n; i++)
            {
                Domain.PatientIdentity p = Sidep.Identity.Quality.SyntheticIdentities.RandomPerson(random);
                // 40 % of the index was built from results without INS, as in 2020.
                matcher.Match(i % 5 < 2 ? p with { Ins = null } : p);
            }
            build.Stop();
            long after = GC.GetTotalMemory(forceFullCollection: true);
            Console.WriteLine($"index: {matcher.PersonCount:N0} persons from {n:N0} results in {build.Elapsed.TotalSeconds:F1} s ({n / build.Elapsed.TotalSeconds:N0} results/s while building)");
            Console.WriteLine($"memory: {(after - before) / 1048576.0:N0} MiB, {(double)(after - before) / matcher.PersonCount:N0} bytes per person");
            // The first m persons again (same seed, same sequence): a quarter as sent, a quarter without INS and with a typo,
            // a quarter as sent without INS, a quarter new persons.
            var again = new Random(1);
            var fresh = new Random(2);
            var results = new List<Domain.PatientIdentity>(m);
            for (int i = 0; i < m; i++)
            {
                Domain.PatientIdentity p = Sidep.Identity.Quality.SyntheticIdentities.RandomPerson(again);
                results.Add((i % 4) switch
                {
                    0 => p,
                    1 => Sidep.Identity.Quality.SyntheticIdentities.WithoutInsWithTypo(p, fresh),
                    2 => p with { Ins = null },
                    _ => Sidep.Identity.Quality.SyntheticIdentities.RandomPerson(fresh),
                });
            }
            TimeSpan pausedBefore = GC.GetTotalPauseDuration();
            var timed = System.Diagnostics.Stopwatch.StartNew();
            foreach (Domain.PatientIdentity p in results)
            {
                matcher.Match(p);
            }
            timed.Stop();
            Console.WriteLine($"matching: {m:N0} results against the index in {timed.Elapsed.TotalSeconds:F2} s: {m / timed.Elapsed.TotalSeconds:N0} results/s on one core " +
                $"(garbage collection pauses: {(GC.GetTotalPauseDuration() - pausedBefore).TotalSeconds:F2} s)");
            return 0;
        });
        return command;
    }
}
