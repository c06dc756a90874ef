using Sidep.Identity.Quality;

namespace Sidep.Identity.Tests;

public class QualityTests
{
    [Fact]
    public void On_a_labelled_synthetic_population_the_matcher_meets_the_quality_targets()
    {
        List<LabelledResult> results = SyntheticIdentities.Generate(new SyntheticOptions(Persons: 20_000, Seed: 7));
        QualityReport q = QualityReport.Measure(results);
        Assert.True(q.FalseMergesPer10000LinkedPairs <= 1, q.ToString());
        Assert.True(q.RecallInsOrExact >= 0.99, q.ToString());
        Assert.True(q.Recall >= 0.95, q.ToString());
    }

    [Fact]
    public void The_generator_is_deterministic_for_a_seed()
    {
        var a = SyntheticIdentities.Generate(new SyntheticOptions(Persons: 500, Seed: 3));
        var b = SyntheticIdentities.Generate(new SyntheticOptions(Persons: 500, Seed: 3));
        Assert.Equal(a.Select(r => (r.TruePerson, r.Identity.BirthName, r.HasIns)), b.Select(r => (r.TruePerson, r.Identity.BirthName, r.HasIns)));
    }
}
