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
    _ => null,
};
if (parse is null)
{
    Console.Error.WriteLine("usage: sidep-fuzz hl7|hprim|fhir [--replay FILE…]");
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
