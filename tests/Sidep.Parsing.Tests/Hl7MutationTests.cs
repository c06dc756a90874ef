using System.Buffers;
using Sidep.Parsing.Hl7v2;
using Sidep.Tests;

namespace Sidep.Parsing.Tests;

/// <summary>Deterministic mutation fuzzing: corpus messages with flipped bytes, cut tails, doubled delimiters,
/// injected escapes and control bytes. The parser must never throw, and must account for every item.</summary>
public class Hl7MutationTests
{
    private static readonly byte[] s_interesting = "|^~\\&\r\n\x0b\x1c\xff\xc3MSH"u8.ToArray();

    [Theory]
    [InlineData(1)]
    [InlineData(2)]
    [InlineData(3)]
    [InlineData(4)]
    public void Mutated_corpus_messages_never_throw_and_every_item_is_accounted_for(int seed)
    {
        var random = new Random(seed);
        var parser = new Hl7v2Parser();
        byte[][] corpus = Fixtures.Hl7Files.Select(File.ReadAllBytes).ToArray();
        for (int round = 0; round < 500; round++)
        {
            byte[] input = Mutate(corpus[random.Next(corpus.Length)], random);
            ParsedSubmission s = parser.Parse(input);
            Check(s, input.Length);
            // The multi-segment path must agree.
            ParsedSubmission split = parser.Parse(Split(input, random.Next(1, Math.Max(2, input.Length))));
            Assert.Equal(s.Messages.Count, split.Messages.Count);
            Assert.Equal(s.Messages.Sum(m => m.Items.Count), split.Messages.Sum(m => m.Items.Count));
        }
    }

    private static void Check(ParsedSubmission s, int length)
    {
        Assert.True(s.Messages.Count > 0 || s.Diagnostics.Count > 0, "an input produced neither a message nor a diagnostic");
        foreach (Diagnostic d in s.Diagnostics.Concat(s.Messages.SelectMany(m => m.Diagnostics.Concat(m.Items.SelectMany(i => i.Diagnostics)))))
        {
            Assert.InRange(d.Position.ByteOffset, 0, length);
            Assert.True(d.Position.Line >= 1);
        }
        foreach (ParsedItem item in s.Messages.SelectMany(m => m.Items))
        {
            Assert.True(item.Result is not null || item.IsNotAResult || item.Diagnostics.Exists(d => d.Severity == Severity.Error));
        }
    }

    private static byte[] Mutate(byte[] original, Random random)
    {
        var bytes = new List<byte>(original);
        int mutations = random.Next(1, 8);
        for (int i = 0; i < mutations && bytes.Count > 0; i++)
        {
            int at = random.Next(bytes.Count);
            switch (random.Next(6))
            {
                case 0:
                    bytes[at] = (byte)random.Next(256);
                    break;
                case 1:
                    bytes[at] = s_interesting[random.Next(s_interesting.Length)];
                    break;
                case 2:
                    bytes.RemoveRange(at, bytes.Count - at); // cut the tail
                    break;
                case 3:
                    bytes.InsertRange(at, Enumerable.Repeat(s_interesting[random.Next(5)], random.Next(1, 40)));
                    break;
                case 4:
                    bytes.InsertRange(at, "\\X"u8.ToArray().Concat(Enumerable.Repeat((byte)'f', random.Next(0, 9))));
                    break;
                default:
                    bytes.RemoveRange(at, Math.Min(random.Next(1, 64), bytes.Count - at));
                    break;
            }
        }
        return bytes.ToArray();
    }

    private static ReadOnlySequence<byte> Split(byte[] bytes, int at) =>
        at >= bytes.Length ? new ReadOnlySequence<byte>(bytes) : BufferFactory.Split(bytes, at);
}

/// <summary>The same mutation fuzzing for the HPRIM parsers (both dialects) and the FHIR fast path.</summary>
public class HprimAndFhirMutationTests
{
    [Theory]
    [InlineData(11)]
    [InlineData(12)]
    [InlineData(13)]
    public void Mutated_HPRIM_files_never_throw_and_every_item_is_accounted_for(int seed) =>
        Fuzz(Fixtures.HprimFiles, new Sidep.Parsing.Hprim.HprimParser().Parse, "|~^\\&\r\nA|H|P|OBR|OBX|RES|TEX|****LAB****\xe9\xff"u8.ToArray(), seed, rounds: 600, maxMutations: 8);

    [Theory]
    [InlineData(21)]
    [InlineData(22)]
    public void Mutated_FHIR_bundles_never_throw_and_every_item_is_accounted_for(int seed) =>
        Fuzz(Directory.GetFiles(Fixtures.FhirDir, "*.json"), new Sidep.Parsing.Fhir.FhirParser().Parse, "{}[],:\"\\0123456789truefalsenull \xff"u8.ToArray(), seed, rounds: 400, maxMutations: 6);

    private delegate ParsedSubmission Parser(ReadOnlySpan<byte> input);

    /// <summary>Bytes flipped, junk inserted, tails cut, runs removed; then: no exception, something said about the
    /// input, every position inside it, and every item a result, a rejection or part of a refused message.</summary>
    private static void Fuzz(IEnumerable<string> files, Parser parse, byte[] junk, int seed, int rounds, int maxMutations)
    {
        var random = new Random(seed);
        byte[][] corpus = files.Select(File.ReadAllBytes).ToArray();
        for (int round = 0; round < rounds; round++)
        {
            var bytes = new List<byte>(corpus[random.Next(corpus.Length)]);
            for (int m = random.Next(1, maxMutations); m > 0 && bytes.Count > 0; m--)
            {
                int at = random.Next(bytes.Count);
                switch (random.Next(4))
                {
                    case 0: bytes[at] = (byte)random.Next(256); break;
                    case 1: bytes.Insert(at, junk[random.Next(junk.Length)]); break;
                    case 2: bytes.RemoveRange(at, bytes.Count - at); break;
                    default: bytes.RemoveRange(at, Math.Min(random.Next(1, 40), bytes.Count - at)); break;
                }
            }
            byte[] input = bytes.ToArray();
            ParsedSubmission s = parse(input);
            Assert.True(s.Messages.Count > 0 || s.Diagnostics.Count > 0);
            foreach (Diagnostic d in s.Diagnostics)
            {
                Assert.InRange(d.Position.ByteOffset, 0, input.Length);
            }
            foreach (ParsedMessage message in s.Messages)
            {
                foreach (ParsedItem item in message.Items)
                {
                    Assert.True(item.Result is not null || item.HasError || item.IsNotAResult || message.IsRejected);
                    Assert.InRange(item.Position.ByteOffset, 0, input.Length);
                }
            }
        }
    }
}
