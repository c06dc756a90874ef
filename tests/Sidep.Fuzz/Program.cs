using SharpFuzz;
using Sidep.Parsing.Fhir;
using Sidep.Parsing.Hl7v2;
using Sidep.Parsing.Hprim;

// sidep-fuzz TARGET              run under afl-fuzz (the parsers instrumented by sharpfuzz): one input per run on stdin
// sidep-fuzz TARGET --replay F…  parse the files given (a crash or hang found, reproduced outside the fuzzer)
// The parsers promise never to throw on any input (every problem is a positioned diagnostic): any exception is a finding.
Action<byte[]>? parse = args.FirstOrDefault() switch
{
    "hl7" => bytes => new Hl7v2Parser().Parse(bytes),
    "hprim" => bytes => new HprimParser().Parse(bytes),
    "fhir" => bytes => new FhirParser().Parse(bytes),
    "mllp" => Mllp,
    _ => null,
};
if (parse is null)
{
    Console.Error.WriteLine("usage: sidep-fuzz hl7|hprim|fhir|mllp [--replay FILE…]");
    return 2;
}
if (args.Length > 1 && args[1] == "--replay")
{
    foreach (string file in args[2..])
    {
        parse(File.ReadAllBytes(file));
        Console.WriteLine($"{file}: parsed");
    }
    return 0;
}
Fuzzer.OutOfProcess.Run(stream =>
{
    using var buffer = new MemoryStream();
    stream.CopyTo(buffer);
    parse(buffer.ToArray());
});
return 0;

// The MLLP framer, fed the input as a socket would deliver it: the first byte sets the read sizes (1 to 64 bytes, then
// cycling), the rest is the stream. Besides never throwing, it must never keep more than one frame's limit plus its
// start byte between reads (bounded memory whatever the peer sends): a violation is thrown, so the fuzzer records it.
static void Mllp(byte[] input)
{
    if (input.Length < 2)
    {
        return;
    }
    const int max = 256;
    var framer = new MllpFramer(max);
    int[] sizes = [1 + input[0] % 64, 1 + input[0] / 64 % 7, 1 + (input[0] * 7) % 13];
    byte[] kept = [];
    int at = 1, c = 0;
    while (at < input.Length)
    {
        int n = Math.Min(sizes[c++ % sizes.Length], input.Length - at);
        byte[] joined = [.. kept, .. input.AsSpan(at, n)];
        at += n;
        var buffer = new System.Buffers.ReadOnlySequence<byte>(joined);
        while (framer.Next(ref buffer, out System.Buffers.ReadOnlySequence<byte> message, out long garbage) != MllpEvent.NeedMore)
        {
            if (message.Length > joined.Length || garbage > joined.Length)
            {
                throw new InvalidOperationException("the framer reported more bytes than it was given");
            }
        }
        kept = System.Buffers.BuffersExtensions.ToArray(buffer);
        if (kept.Length > max + 1)
        {
            throw new InvalidOperationException($"the framer kept {kept.Length} bytes between reads (limit {max} + 1)");
        }
    }
}
