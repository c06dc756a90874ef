using System.Text.Json;

namespace Sidep.Host;

/// <summary>`sidep validate`: checking files offline.</summary>
public static partial class Cli
{
    /// <summary>The format of a file from its first bytes; the stream is left at its start.</summary>
    private static string Sniff(FileStream stream)
    {
        Span<byte> head = stackalloc byte[64];
        int read = stream.ReadAtLeast(head, head.Length, throwOnEndOfStream: false);
        stream.Position = 0;
        return Formats.Sniff(head[..read]);
    }

    private static Command Validate()
    {
        var files = new Argument<FileInfo[]>("files") { Arity = ArgumentArity.OneOrMore, Description = "HL7 v2, HPRIM or FHIR files to check" };
        var format = FormatOption();
        var production = new Option<bool>("--production") { Description = "Check as production does (test and demo INS OIDs refused)" };
        var show = new Option<bool>("--show") { Description = "Also show what Sidep understood of each result: patient, INS check, test and LOINC, value, dates, how it counts and whether it reaches contact tracing (offline: identity not masked)" };
        var command = new Command("validate", "Offline conformance report: parse and check files, store nothing (exit 1 if anything is rejected)") { files, format, production, show };
        command.SetAction(async (parse, ct) =>
        {
            var ingestion = new IngestionService(null, new Parsing.Hl7v2.Hl7ParserOptions { Production = parse.GetValue(production) });
            int exit = 0;
            foreach (FileInfo file in parse.GetValue(files)!)
            {
                if (!file.Exists)
                {
                    Console.Error.WriteLine($"{file}: no such file");
                    exit = 2;
                    continue;
                }
                byte[] bytes = await File.ReadAllBytesAsync(file.FullName, ct);
                SubmissionOutcome outcome = await ingestion.SubmitAsync(null, new System.Buffers.ReadOnlySequence<byte>(bytes), Formats.Sniff(bytes), "validate", dryRun: true, ct);
                if (parse.GetValue(show) && outcome.Understood is { } understood)
                {
                    if (parse.GetValue(format) == "json")
                    {
                        Console.WriteLine(JsonSerializer.Serialize(new UnderstoodSubmission(outcome.Report, understood), SidepJson.Default.UnderstoodSubmission));
                    }
                    else
                    {
                        ReportPrinter.Print(Console.Out, file.Name, outcome.Report);
                        ReportPrinter.PrintUnderstood(Console.Out, understood);
                    }
                }
                else
                {
                    Output(parse.GetValue(format)!, file.Name, outcome.Report);
                }
                exit = Math.Max(exit, outcome.Report.AnyRejected ? 1 : 0);
            }
            return exit;
        });
        return command;
    }
}
