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
    public async Task A_partition_writer_waits_while_another_holds_the_directory_then_writes_every_dirty_date()
    {
        using var dir = new TempDir();
        using StateStore store = StateStore.Open(dir.Path);
        string research = Path.Combine(dir.Path, "research");
        store.ApplyResearch("research/0", 1, [.. Enumerable.Range(1, 3).Select(d => (ResearchChange)new ResearchUpsert(
            new ResearchRowRecord(new UInt128((ulong)d, 0).ToString("x32"), d, 1, $"2026-12-0{d}", Fields($"2026-12-0{d}"))))]);

        Task<int> waiting;
        await using (FileStream other = await ResearchSink.LockAsync(research, CancellationToken.None))
        {
            waiting = ResearchSink.WritePartitionsAsync(store, EmbeddedStages.ResearchKeys, research, TimeProvider.System);
            // It cannot finish while the other writer holds the lock: it has not even listed the dirty dates.
            await Task.Delay(200);
            Assert.False(waiting.IsCompleted);
            Assert.Equal(3, store.DirtyResearchDates(100).Count);
        }
        Assert.Equal(3, await waiting.WaitAsync(TimeSpan.FromSeconds(30)));
        Assert.Equal(["2026-12-01", "2026-12-02", "2026-12-03"], ResearchSink.ReadManifest(research)!.Partitions.Keys.Order(StringComparer.Ordinal));
    }

    [Fact]
    public async Task Two_writers_at_once_on_one_directory_both_finish_and_the_manifest_lists_every_date()
    {
        using var dir = new TempDir();
        using StateStore store = StateStore.Open(dir.Path);
        string research = Path.Combine(dir.Path, "research");
        for (int round = 0; round < 5; round++)
        {
            // New dates between rounds, so that each writer has something to add to the manifest the other wrote.
            store.ApplyResearch("research/0", round + 1, [.. Enumerable.Range(1, 4).Select(d => (ResearchChange)new ResearchUpsert(
                new ResearchRowRecord(new UInt128((ulong)(round * 10 + d), 0).ToString("x32"), d, 1, $"2026-11-{round * 4 + d:D2}", Fields($"2026-11-{round * 4 + d:D2}"))))]);
            int[] written = await Task.WhenAll(
                Task.Run(() => ResearchSink.WritePartitionsAsync(store, EmbeddedStages.ResearchKeys, research, TimeProvider.System)),
                Task.Run(() => ResearchSink.WritePartitionsAsync(store, EmbeddedStages.ResearchKeys, research, TimeProvider.System)));
            Assert.Equal(4, written.Sum());
        }
        Assert.Equal(20, ResearchSink.ReadManifest(research)!.Partitions.Count);
        Assert.Empty(Directory.GetFiles(research, "*.tmp", SearchOption.AllDirectories));
    }

    private static string Fields(string date) => JsonSerializer.Serialize(new ResearchFields(40, "Female", "69", null, date, null, "94500-6", null, "Negative",
        "69", null, null, "Unknown", null), ResearchRowJson.Default.ResearchFields);

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
