using Sidep.Indicators;
using Sidep.Ingestion;
using Sidep.Journal;
using Sidep.Pipeline;
using Sidep.Storage.Sqlite;
using Sidep.Tests;
using Sidep.Transport;
using static Sidep.Tests.IdentityFixtures;

using Sidep.Ingestion.Tests;

namespace Sidep.Storage.Tests;

public class EmbeddedStoresTests
{
    [Fact]
    public async Task Each_stage_writes_its_rows_and_positions_to_a_file_of_its_own_and_the_gateway_reads_them_all_through_one_store()
    {
        using var dir = new TempDir();
        await using EmbeddedLog log = EmbeddedLog.Open(Path.Combine(dir.Path, "log"), 4);
        using EmbeddedStores stores = EmbeddedStores.Open(dir.Path);
        var ingestion = new IngestionService(log);
        for (int i = 0; i < ThreeLabs.Length; i++)
        {
            await ingestion.SubmitAsync(IdentityFixtures.Lab, Message($"ACC{i}", ThreeLabs[i]), Formats.Hl7v2, "test", false);
        }
        await using (var pipeline = new EmbeddedStages(log, dir.Path, stores.Reads))
        {
            foreach (string name in Stages.Names)
            {
                pipeline.Add(Stages.Create(name, pipeline.Transport, stores.ForStage(name), pipeline.Terminology, sandbox: true,
                    EmbeddedStages.ResearchKeys, pipeline.ResearchDirectory));
            }
            await pipeline.DrainAsync();
        }

        Assert.All(EmbeddedStores.Files, f => Assert.True(File.Exists(Path.Combine(dir.Path, f)), f));
        // Rows and positions where each stage wrote them, and nowhere else.
        Assert.Equal(3, stores.Identity.DecisionsOf(1).Count);
        Assert.Empty(stores.Main.DecisionsOf(1));
        Assert.Equal(3, stores.Identity.GetOffset("identity/0", -1));
        Assert.Equal(0, stores.Main.GetOffset("identity/0", -1));
        Assert.Single(stores.Indicators.ListIndicatorRevisions());
        Assert.Empty(stores.Identity.ListIndicatorRevisions());
        Assert.Single(stores.Cases.CasesChangedAfter(0, 10));
        Assert.Empty(stores.Research.CasesChangedAfter(0, 10));
        // The gateway's one store reads each answer from its file.
        IStageStore reads = stores.Reads;
        Assert.Equal(3, reads.DecisionsOf(1).Count);
        Assert.Equal(3, reads.GetOffset("identity/0", -1));
        Assert.Equal(3, reads.GetOffset($"{IndicatorStage.ConsumerName}/0", -1));
        Assert.Single(reads.CasesChangedAfter(0, 10));
        CountTable counts = new StoredIndicators(reads).Snapshot();
        Assert.NotEmpty(counts.NonZero());
        reads.Audit("agent", "investigator", "cases.read", "test", [], DateTimeOffset.UtcNow);
        Assert.Single(stores.Main.AuditLog(0, 10));
        reads.RecordOpposition(1, null, DateTimeOffset.UtcNow);
        Assert.True(stores.Research.OpposedPerson(1)); // beside the research rows it filters
    }
}
