using System.Text;
using System.Text.Json;
using Sidep.Tests;
using static Sidep.Tests.TransportPolling;
using Sidep.Transport;

namespace Sidep.Journal.Tests;

/// <summary>What the in-process transport promises beyond the contract both transports pass: where a group's positions
/// live on disk, and what a crash in the middle of writing them leaves.</summary>
public class InProcessTransportTests
{
    private static async Task PublishAsync(IStageTransport transport, string topic, int count) =>
        await transport.PublishAsync(topic, [.. Enumerable.Range(0, count).Select(n => new OutgoingMessage("k", Encoding.UTF8.GetBytes(n.ToString(System.Globalization.CultureInfo.InvariantCulture))))]);

    [Fact]
    public async Task A_commit_torn_by_a_crash_leaves_the_one_before_and_the_group_gets_those_messages_again()
    {
        using var dir = new TempDir();
        await using (var transport = new InProcessTransport(dir.Path, partitions: 1))
        {
            await PublishAsync(transport, "t", 10);
            using IStageConsumer consumer = transport.Subscribe("t", "g");
            List<IncomingMessage> got = PollUntil(consumer, 10);
            consumer.Commit(got[..4]);
            consumer.Commit(got[4..7]);
        }
        // The second commit's slot damaged, as a write cut short by a crash would leave it.
        string file = Path.Combine(dir.Path, "groups", "g", "t.positions");
        byte[] bytes = File.ReadAllBytes(file);
        bytes[20] ^= 0xFF; // the first slot: the second commit's (sequence 2), the first partition's position in it
        File.WriteAllBytes(file, bytes);
        await using (var transport = new InProcessTransport(dir.Path, partitions: 1))
        {
            using IStageConsumer consumer = transport.Subscribe("t", "g");
            Assert.Equal(4, PollUntil(consumer, 6)[0].Offset); // resumes after the first commit: 4–9 again, nothing skipped
        }
        // Neither slot whole: from the start, never past what was committed.
        File.WriteAllBytes(file, new byte[bytes.Length]);
        await using (var transport = new InProcessTransport(dir.Path, partitions: 1))
        {
            using IStageConsumer consumer = transport.Subscribe("t", "g");
            Assert.Equal(0, PollUntil(consumer, 10)[0].Offset);
        }
    }

    [Fact]
    public async Task Positions_an_earlier_version_wrote_as_json_are_where_a_group_resumes_and_its_next_commit_is_kept()
    {
        using var dir = new TempDir();
        await using (var transport = new InProcessTransport(dir.Path, partitions: 2))
        {
            await PublishAsync(transport, "t", 6);
        }
        Directory.CreateDirectory(Path.Combine(dir.Path, "groups", "g"));
        File.WriteAllBytes(Path.Combine(dir.Path, "groups", "g", "t.json"), JsonSerializer.SerializeToUtf8Bytes(new long[] { 5, 5 }));
        await using (var transport = new InProcessTransport(dir.Path, partitions: 2))
        {
            using IStageConsumer consumer = transport.Subscribe("t", "g");
            List<IncomingMessage> rest = PollUntil(consumer, 1);
            Assert.Equal(5, rest.Single().Offset); // one key: all six on one partition, the first five consumed
            consumer.Commit(rest);
        }
        await using (var transport = new InProcessTransport(dir.Path, partitions: 2))
        {
            using IStageConsumer consumer = transport.Subscribe("t", "g");
            Assert.Empty(consumer.Poll(1000, TimeSpan.FromMilliseconds(200)));
        }
    }
}
