using Sidep.Identity.Quality;
using Sidep.Tests;

namespace Sidep.Identity.Tests;

public class QualityTests
{
    private static readonly PopulationTables s_tables = PopulationTables.Load(Fixtures.ReferenceDirectory);

    [Fact]
    public void On_a_realistic_labelled_population_the_matcher_meets_the_quality_targets()
    {
        SyntheticPopulation population = SyntheticIdentities.Generate(new SyntheticOptions(Persons: 100_000, Seed: 7), s_tables);
        QualityReport q = QualityReport.Measure(population.Results);
        string report = $"{population.NearNamesakePairs} near-namesake pairs\n{q}";
        Assert.True(q.FalseMergesPer100000LinkedPairs <= 1, report);
        Assert.True(q.RecallInsOrExact >= 0.99, report);
        Assert.True(q.Recall >= 0.95, report);
        Assert.True(q.ReviewShare < 0.005, report);
    }

    [Fact]
    public void The_generator_is_deterministic_for_a_seed()
    {
        var a = SyntheticIdentities.Generate(new SyntheticOptions(Persons: 500, Seed: 3), s_tables).Results;
        var b = SyntheticIdentities.Generate(new SyntheticOptions(Persons: 500, Seed: 3), s_tables).Results;
        Assert.Equal(a.Select(r => (r.TruePerson, r.Identity.BirthName, r.HasIns, r.Identity.Phone)), b.Select(r => (r.TruePerson, r.Identity.BirthName, r.HasIns, r.Identity.Phone)));
    }
}
