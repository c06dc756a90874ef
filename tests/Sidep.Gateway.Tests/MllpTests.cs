using Sidep.Ingestion;

namespace Sidep.Gateway.Tests;

public class MllpTests
{
    private static string Message(string control, string accession = "ACC1", string ackModes = "") =>
        ResultMessages.Message(control, accession).Replace("|P|2.5\r", "|P|2.5" + ackModes + "\r");

    internal static string Msa(string ack) => ack.Split('\r')[1];

    /// <summary>A server with the demo lab registered for MLLP from 127.0.0.1.</summary>
    internal static async Task<SidepTestServer> ServerWithLabAsync(Func<GatewayOptions, GatewayOptions>? configure = null)
    {
        SidepTestServer server = await SidepTestServer.StartAsync(configure);
        server.Labs.AddLab("990000001", "Demo", ["SIDEP-DEMO"], ["127.0.0.1"]);
        return server;
    }

    [Fact]
    public async Task Each_message_gets_one_ACK_in_original_mode()
    {
        await using SidepTestServer server = await ServerWithLabAsync();
        await using MllpClient client = await MllpClient.ConnectAsync(server.MllpPort);
        await client.SendAsync(Message("C1", "A1"));
        await client.SendAsync(Message("C2", "A2"));
        Assert.Equal("MSA|AA|C1", Msa((await client.ReceiveAsync())!));
        Assert.Equal("MSA|AA|C2", Msa((await client.ReceiveAsync())!));
        await client.SendAsync(Message("C3", "A1"));
        Assert.Equal("MSA|AA|C3", Msa((await client.ReceiveAsync())!)); // a duplicate is acknowledged, stored once
    }

    [Fact]
    public async Task Honouring_ack_types_sends_the_commit_and_application_ACKs_a_message_asks_for()
    {
        await using SidepTestServer server = await ServerWithLabAsync(o => o with { MllpHonourAckTypes = true });
        await using MllpClient client = await MllpClient.ConnectAsync(server.MllpPort);
        await client.SendAsync(Message("E1", "A1", "|||AL|AL"));
        Assert.Equal("MSA|CA|E1", Msa((await client.ReceiveAsync())!));
        Assert.Equal("MSA|AA|E1", Msa((await client.ReceiveAsync())!));
        await client.SendAsync(Message("E2", "A2", "|||NE|NE"));
        await client.SendAsync(Message("E3", "A3", "|||AL|ER"));
        // E2 asked for nothing; E3 for a commit ACK only (its application ACK only on error).
        Assert.Equal("MSA|CA|E3", Msa((await client.ReceiveAsync())!));
        Assert.Null(await client.ReceiveAsync(TimeSpan.FromMilliseconds(300)));
    }

    [Fact]
    public async Task By_default_every_message_is_answered_once_whatever_MSH_15_and_16_ask()
    {
        await using SidepTestServer server = await ServerWithLabAsync();
        await using MllpClient client = await MllpClient.ConnectAsync(server.MllpPort);
        await client.SendAsync(Message("N1", "A1", "|||NE|NE"));
        Assert.Equal("MSA|AA|N1", Msa((await client.ReceiveAsync())!));
        await client.SendAsync(Message("N2", "A2", "|||AL|AL"));
        Assert.Equal("MSA|AA|N2", Msa((await client.ReceiveAsync())!));
        await client.SendAsync(Message("N3", "A3", "|||NE|NE").Replace("||||||F\r", "||||||Q\r"));
        Assert.Equal("MSA|AE|N3", Msa((await client.ReceiveAsync())!)); // a rejection is told, NE or not
        Assert.Null(await client.ReceiveAsync(TimeSpan.FromMilliseconds(300))); // and nothing more
    }

    [Fact]
    public async Task A_lab_sending_as_another_facility_over_MLLP_is_told_what_identified_it_not_an_API_key()
    {
        await using SidepTestServer server = await ServerWithLabAsync();
        await using MllpClient client = await MllpClient.ConnectAsync(server.MllpPort);
        await client.SendAsync(Message("F1").Replace("|SIDEP-DEMO^990000001|", "|OTHER-LAB^690000011|"));
        string refused = (await client.ReceiveAsync())!;
        Assert.Equal("MSA|AR|F1", Msa(refused));
        Assert.Contains("this MLLP connection (its source address or client certificate) identifies lab 990000001", refused);
        Assert.DoesNotContain("API key", refused);
    }

    [Fact]
    public async Task A_rejected_result_gets_AE_with_ERR_and_an_unknown_source_gets_AR()
    {
        await using SidepTestServer server = await ServerWithLabAsync();
        await using MllpClient client = await MllpClient.ConnectAsync(server.MllpPort);
        await client.SendAsync(Message("B1").Replace("||||||F\r", "||||||Q\r"));
        string ack = (await client.ReceiveAsync())!;
        Assert.Equal("MSA|AE|B1", Msa(ack));
        Assert.Contains("ERR||OBX^4^11^1|102^Data type error^HL70357|E|", ack);
        await using MllpClient stranger = await MllpClient.ConnectAsync(server.MllpPort, source: "127.0.0.2");
        await stranger.SendAsync(Message("S1"));
        string refused = (await stranger.ReceiveAsync())!;
        Assert.Equal("MSA|AR|S1", Msa(refused)); // MSA-2 names the message refused
        Assert.Contains("UnknownLab", refused);
    }

    [Fact]
    public async Task Unframed_bytes_are_answered_and_the_connection_stays_usable()
    {
        await using SidepTestServer server = await ServerWithLabAsync();
        await using MllpClient client = await MllpClient.ConnectAsync(server.MllpPort);
        await client.SendRawAsync("GET / HTTP/1.1\r\n\r\n"u8.ToArray());
        string answer = (await client.ReceiveAsync())!;
        Assert.StartsWith("MSA|AR", Msa(answer));
        Assert.Contains("outside MLLP framing", answer);
        await client.SendAsync(Message("U1"));
        Assert.Equal("MSA|AA|U1", Msa((await client.ReceiveAsync())!));
    }

    [Fact]
    public async Task An_oversized_frame_is_refused_and_the_next_frame_is_processed()
    {
        await using SidepTestServer server = await ServerWithLabAsync(o => o with { MllpMaxFrameBytes = 4096 });
        await using MllpClient client = await MllpClient.ConnectAsync(server.MllpPort);
        await client.SendAsync(Message("O1") + "NTE|1||" + new string('x', 20_000) + "\r");
        string refused = (await client.ReceiveAsync())!;
        Assert.StartsWith("MSA|AR", Msa(refused));
        Assert.Contains("4096-byte limit", refused);
        await client.SendAsync(Message("O2"));
        Assert.Equal("MSA|AA|O2", Msa((await client.ReceiveAsync())!));
    }

    [Fact]
    public async Task A_slowloris_client_is_disconnected_after_the_frame_timeout()
    {
        await using SidepTestServer server = await ServerWithLabAsync(o => o with { MllpFrameTimeout = TimeSpan.FromMilliseconds(500) });
        await using MllpClient client = await MllpClient.ConnectAsync(server.MllpPort);
        byte[] frame = [0x0B, .. System.Text.Encoding.ASCII.GetBytes(Message("SL"))];
        bool closed = false;
        for (int i = 0; i < 40 && !closed; i++)
        {
            try
            {
                await client.SendRawAsync(frame.AsSpan(i, 1).ToArray());
            }
            catch (IOException)
            {
                closed = true;
                break;
            }
            closed = await client.IsClosedAsync(TimeSpan.FromMilliseconds(100));
        }
        Assert.True(closed, "the server kept a never-ending frame open");
        // The server still serves others.
        await using MllpClient other = await MllpClient.ConnectAsync(server.MllpPort);
        await other.SendAsync(Message("OK"));
        Assert.Equal("MSA|AA|OK", Msa((await other.ReceiveAsync())!));
    }

    [Fact]
    public async Task Many_concurrent_connections_each_get_their_own_ACKs()
    {
        await using SidepTestServer server = await ServerWithLabAsync();
        string[] answers = await Task.WhenAll(Enumerable.Range(0, 32).Select(async i =>
        {
            await using MllpClient client = await MllpClient.ConnectAsync(server.MllpPort);
            await client.SendAsync(Message("P" + i, "ACC" + i));
            return Msa((await client.ReceiveAsync())!);
        }));
        Assert.Equal(Enumerable.Range(0, 32).Select(i => "MSA|AA|P" + i), answers);
    }
}
