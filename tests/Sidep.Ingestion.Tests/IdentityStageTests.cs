using System.Buffers;
using System.Text;
using Sidep.Ingestion;
using Sidep.Domain;
using Sidep.Journal;
using Sidep.Pipeline;
using Sidep.Storage.Sqlite;
using Sidep.Tests;
using static Sidep.Tests.IdentityFixtures;

namespace Sidep.Ingestion.Tests;

public class IdentityStageTests
{
    [Fact]
    public async Task Three_labs_one_person_three_stored_decisions_and_the_same_person_after_a_restart()
    {
        using var dir = new TempDir();
        long person;
        await using (EmbeddedLog log = EmbeddedLog.Open(Path.Combine(dir.Path, "log"), 4))
        using (StateStore store = StateStore.Open(dir.Path))
        {
            var ingestion = new IngestionService(log);
            for (int i = 0; i < ThreeLabs.Length; i++)
            {
                await ingestion.SubmitAsync(IdentityFixtures.Lab, Message($"ACC{i}", ThreeLabs[i]), Formats.Hl7v2, "test", false);
            }
            await using var stages = new EmbeddedStages(log, dir.Path, store);
            IdentityStage stage = stages.Identity();
            Assert.Equal(3, await stages.DrainAsync());
            Assert.Equal(1, stage.PersonCount);
            List<MatchRow> decisions = store.DecisionsOf(1);
            Assert.Equal(["InsNewPerson", "FuzzyTraits", "ExactTraits"], decisions.Select(d => d.Rule));
            Assert.Contains("\"birth name ~ used name\"", decisions[2].DecisionJson);
            Assert.DoesNotContain("MARTIN", decisions[2].DecisionJson); // nothing nominative in a decision
            person = decisions[0].PersonId;
        }
        await using (EmbeddedLog log = EmbeddedLog.Open(Path.Combine(dir.Path, "log"), 4))
        using (StateStore store = StateStore.Open(dir.Path))
        {
            await using var stages = new EmbeddedStages(log, dir.Path, store);
            IdentityStage stage = stages.Identity();
            stage.RestoreEveryPartition(); // rebuilt by replaying the journal up to its position
            Assert.Equal(1, stage.PersonCount);
            await new IngestionService(log).SubmitAsync(IdentityFixtures.Lab, Message("ACC9", "PID|1||44^^^LAB^PI||LEFEVRE^HELENE||19850314|F"), Formats.Hl7v2, "test", false);
            Assert.Equal(1, await stages.DrainAsync());
            Assert.Equal(4, store.DecisionsOf(person).Count);
            Assert.Equal(1, stage.PersonCount);
        }
    }
}
