using System.Buffers;
using System.Text;
using Sidep.Parsing.Hl7v2;

namespace Sidep.Parsing.Tests;

public class MllpFramerTests
{
    /// <summary>Feeds <paramref name="input"/> to a framer in chunks of the given sizes (cycled), as reads from a socket
    /// would arrive, each read appended to what the framer kept; returns the events, and checks that what is kept
    /// between reads never exceeds one frame's limit plus its start byte.</summary>
    private static List<string> Feed(byte[] input, int[] chunks, int max = 64)
    {
        var framer = new MllpFramer(max);
        var events = new List<string>();
        byte[] kept = [];
        int at = 0, c = 0;
        while (at < input.Length)
        {
            int n = Math.Min(chunks[c++ % chunks.Length], input.Length - at);
            byte[] joined = [.. kept, .. input.AsSpan(at, n)];
            at += n;
            var buffer = new ReadOnlySequence<byte>(joined);
            while (true)
            {
                MllpEvent e = framer.Next(ref buffer, out ReadOnlySequence<byte> message, out long garbage);
                if (e == MllpEvent.NeedMore)
                {
                    break;
                }
                events.Add(e switch
                {
                    MllpEvent.Frame => "frame " + Encoding.ASCII.GetString(message.ToArray()),
                    MllpEvent.Garbage => $"garbage {garbage}",
                    _ => "oversized",
                });
            }
            kept = buffer.ToArray();
            Assert.True(kept.Length <= max + 1, $"{kept.Length} bytes kept");
        }
        return events;
    }

    private static byte[] Frame(string message) => [0x0B, .. Encoding.ASCII.GetBytes(message), 0x1C, 0x0D];

    [Fact]
    public void Frames_split_at_any_byte_are_read_whole_and_in_order()
    {
        byte[] input = [.. Frame("MSH|one"), (byte)'\r', (byte)'\n', .. Frame("MSH|two"), .. Frame("MSH|three\x1Cnot the end")];
        List<string> expected = ["frame MSH|one", "frame MSH|two", "frame MSH|three\x1Cnot the end"];
        for (int size = 1; size <= input.Length; size++)
        {
            Assert.Equal(expected, Feed(input, [size]));
        }
        Assert.Equal(expected, Feed(input, [3, 1, 7, 2]));
    }

    [Fact]
    public void Bytes_outside_frames_are_counted_and_dropped_and_the_next_frame_is_read()
    {
        byte[] input = [.. "hello"u8, .. Frame("MSH|a"), .. " \r\n"u8, .. "xx"u8];
        // The count is of every byte discarded, whitespace beside the garbage included.
        Assert.Equal(["garbage 5", "frame MSH|a", "garbage 5"], Feed(input, [100]));
    }

    [Fact]
    public void An_oversized_frame_is_skipped_to_its_end_with_bounded_memory_and_the_stream_goes_on()
    {
        byte[] input = [.. Frame(new string('x', 1000)), .. Frame("MSH|after")];
        for (int size = 1; size <= 70; size += 3)
        {
            Assert.Equal(["oversized", "frame MSH|after"], Feed(input, [size]));
        }
    }

    [Fact]
    public void Random_bytes_never_throw_and_never_make_the_framer_keep_more_than_a_frame()
    {
        var random = new Random(11);
        byte[] alphabet = [0x0B, 0x1C, 0x0D, (byte)'A', (byte)' ', (byte)'\n'];
        for (int round = 0; round < 500; round++)
        {
            byte[] input = new byte[random.Next(1, 400)];
            for (int i = 0; i < input.Length; i++)
            {
                input[i] = alphabet[random.Next(alphabet.Length)];
            }
            Feed(input, [random.Next(1, 50), random.Next(1, 5)], max: random.Next(1, 80));
        }
    }
}
