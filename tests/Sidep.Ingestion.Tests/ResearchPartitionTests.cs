using Sidep.Ingestion;
using Sidep.Tests;

namespace Sidep.Ingestion.Tests;

public class ResearchPartitionTests
{
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
