using System.Text.Json;
using Sidep.Ingestion;
using Sidep.Pipeline;
using Sidep.Storage.Sqlite;
using Sidep.Tests;

namespace Sidep.Ingestion.Tests;

public class ResearchPartitionTests
{
    [Fact]
    public async Task A_date_of_more_rows_than_a_page_is_read_from_the_store_page_by_page_and_written_whole()
    {
        using var dir = new TempDir();
        using StateStore store = StateStore.Open(dir.Path);
        int total = 2 * ResearchSink.RowGroupRows + 1;
        string fields = JsonSerializer.Serialize(new ResearchFields(40, "Female", "69", null, "2026-12-01", null, "94500-6", null, "Negative", "69", null, null,
            "Unknown", null), ResearchRowJson.Default.ResearchFields);
        // Written in an order that is not the key order, and one row of another date.
        store.ApplyResearch("research/0", 1, [.. Enumerable.Range(0, total).Select(i => (ResearchChange)new ResearchUpsert(
            new ResearchRowRecord(new UInt128((ulong)(i * 7919 % total), 0).ToString("x32"), 1 + i, 1, "2026-12-01", fields))),
            new ResearchUpsert(new ResearchRowRecord(new string('f', 32), 1, 1, "2026-12-02", fields))]);
        string research = Path.Combine(dir.Path, "research");

        Assert.Equal(2, await ResearchSink.WritePartitionsAsync(store, EmbeddedStages.ResearchKeys, research, TimeProvider.System));

        ResearchManifest manifest = ResearchSink.ReadManifest(research)!;
        Assert.Equal((total, 1), (manifest.Partitions["2026-12-01"].Rows, manifest.Partitions["2026-12-02"].Rows));
        await using FileStream file = File.OpenRead(Path.Combine(research, manifest.Partitions["2026-12-01"].File));
        IList<ResearchRow> rows = (await Parquet.Serialization.ParquetSerializer.DeserializeAsync<ResearchRow>(file)).Data;
        // Every row once: the pages neither skip nor repeat a row.
        Assert.Equal(Enumerable.Range(1, total).Select(p => EmbeddedStages.ResearchKeys.Of(p)).Order(StringComparer.Ordinal),
            rows.Select(r => r.Pseudonym).Order(StringComparer.Ordinal));
    }

    [Fact]
    public async Task A_partition_larger_than_a_row_group_is_written_a_row_group_at_a_time_rows_made_as_the_writer_takes_them()
    {
        using var dir = new TempDir();
        string path = Path.Combine(dir.Path, "sample_date=2026-12-01", "part-0.parquet");
        int total = 2 * ResearchSink.RowGroupRows + 1;
        long writtenWhileMakingTheSecondGroup = -1;
        IEnumerable<ResearchRow> Rows()
        {
            for (int i = 0; i < total; i++)
            {
                if (i == ResearchSink.RowGroupRows + ResearchSink.RowGroupRows / 2)
                {
                    // Half-way through the second group: the first must be in the file already, not held with the rest.
                    writtenWhileMakingTheSecondGroup = new FileInfo(path + ".tmp").Length;
                }
                yield return new ResearchRow { Pseudonym = $"k1:{i:D8}", Sex = "Female", SampleDate = "2026-12-01", Result = "Negative", Housing = "Unknown" };
            }
        }
        string sha = await ResearchSink.WriteAtomicallyAsync(path, Rows(), CancellationToken.None);

        Assert.True(writtenWhileMakingTheSecondGroup > 10_000, $"{writtenWhileMakingTheSecondGroup} bytes written when the second row group was half made");
        Assert.Equal(64, sha.Length);
        await using FileStream file = File.OpenRead(path);
        await using (Parquet.ParquetReader reader = await Parquet.ParquetReader.CreateAsync(file, leaveStreamOpen: true))
        {
            Assert.Equal(3, reader.RowGroupCount);
        }
        file.Position = 0;
        IList<ResearchRow> back = (await Parquet.Serialization.ParquetSerializer.DeserializeAsync<ResearchRow>(file)).Data;
        Assert.Equal(total, back.Count);
        Assert.Equal(($"k1:{0:D8}", $"k1:{total - 1:D8}"), (back[0].Pseudonym, back[^1].Pseudonym));
    }
}
