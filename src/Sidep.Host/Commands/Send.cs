using System.Net.Http.Headers;
using System.Text.Json;

namespace Sidep.Host;

/// <summary>`sidep send`: submitting files to a server, and the client helpers of the commands that talk to one.</summary>
public static partial class Cli
{
    private static Command Send()
    {
        var files = new Argument<FileInfo[]>("files") { Arity = ArgumentArity.OneOrMore, Description = "HL7 v2 or HPRIM files to submit (the format is read from their first bytes)" };
        var server = new Option<string>("--server") { Description = "Sidep server", DefaultValueFactory = _ => "http://127.0.0.1:8080" };
        var apiKey = new Option<string?>("--api-key") { Description = "The lab's API key (default: $SIDEP_API_KEY)" };
        var reportFormat = FormatOption();
        var command = new Command("send", "Submit files to a Sidep server and print the per-item report (exit 1 if anything is rejected)") { files, server, apiKey, reportFormat };
        command.SetAction(async (parse, ct) =>
        {
            string? key = parse.GetValue(apiKey) ?? Environment.GetEnvironmentVariable("SIDEP_API_KEY");
            if (string.IsNullOrEmpty(key))
            {
                Console.Error.WriteLine("sidep send: an API key is needed (--api-key or $SIDEP_API_KEY); 'sidep labs add' issues one.");
                return 2;
            }
            using var http = new HttpClient { BaseAddress = new Uri(parse.GetValue(server)!), Timeout = TimeSpan.FromMinutes(30) };
            http.DefaultRequestHeaders.Authorization = new AuthenticationHeaderValue("Bearer", key);
            // Headers first: a refused submission (401, 403, 413) is answered before the body is sent.
            http.DefaultRequestHeaders.ExpectContinue = true;
            int exit = 0;
            foreach (FileInfo file in parse.GetValue(files)!)
            {
                if (!file.Exists)
                {
                    Console.Error.WriteLine($"{file}: no such file");
                    exit = Math.Max(exit, 2);
                    continue;
                }
                await using FileStream stream = file.OpenRead();
                string format = Sniff(stream);
                using var content = new ProgressContent(stream, file.Length, file.Name, showProgress: file.Length >= 1024 * 1024 && !Console.IsErrorRedirected);
                content.Headers.ContentType = new MediaTypeHeaderValue(Formats.MediaTypeOf(format));
                HttpResponseMessage response;
                try
                {
                    response = await http.PostAsync("/v1/submissions", content, ct);
                }
                catch (HttpRequestException ex)
                {
                    Console.Error.WriteLine($"{file.Name}: cannot reach {http.BaseAddress}: {ex.Message}");
                    return 2;
                }
                string body = await response.Content.ReadAsStringAsync(ct);
                if (response.Content.Headers.ContentType?.MediaType == "application/json")
                {
                    SubmissionReport report = JsonSerializer.Deserialize(body, SidepJson.Default.SubmissionReport)!;
                    Output(parse.GetValue(reportFormat)!, file.Name, report);
                    exit = Math.Max(exit, report.AnyRejected ? 1 : 0);
                }
                else if (parse.GetValue(reportFormat) == "json")
                {
                    // A refusal is JSON too, one line per file as the reports are: the file, the status, the server's answer.
                    Console.WriteLine(ReportPrinter.RefusalJson(file.Name, (int)response.StatusCode, body));
                    exit = 2;
                }
                else
                {
                    Console.WriteLine($"{file.Name}: HTTP {(int)response.StatusCode} {response.ReasonPhrase}: {ReportPrinter.ProblemDetail(body)}");
                    exit = 2;
                }
            }
            return exit;
        });
        return command;
    }

    private static Option<string> FormatOption()
    {
        var option = new Option<string>("--format") { Description = "Report format: text (for a person) or json (one report per line, for a program)", DefaultValueFactory = _ => "text" };
        option.AcceptOnlyFromAmong("text", "json");
        return option;
    }

    private static void Output(string format, string name, SubmissionReport report)
    {
        if (format == "json")
        {
            Console.WriteLine(JsonSerializer.Serialize(report, SidepJson.Default.SubmissionReport));
        }
        else
        {
            ReportPrinter.Print(Console.Out, name, report);
        }
    }

    private static (Option<string> Server, Option<string?> ApiKey) ServerOptions() => (
        new Option<string>("--server") { Description = "Sidep server", DefaultValueFactory = _ => "http://127.0.0.1:8080" },
        new Option<string?>("--api-key") { Description = "The lab's API key (default: $SIDEP_API_KEY)" });

    private static HttpClient? Client(ParseResult parse, Option<string> server, Option<string?> apiKey)
    {
        string? key = parse.GetValue(apiKey) ?? Environment.GetEnvironmentVariable("SIDEP_API_KEY");
        if (string.IsNullOrEmpty(key))
        {
            Console.Error.WriteLine("an API key is needed (--api-key or $SIDEP_API_KEY); 'sidep labs add' issues one.");
            return null;
        }
        var http = new HttpClient { BaseAddress = new Uri(parse.GetValue(server)!) };
        http.DefaultRequestHeaders.Authorization = new AuthenticationHeaderValue("Bearer", key);
        return http;
    }

    private static async Task<int> Print(HttpResponseMessage response, CancellationToken ct)
    {
        string body = await response.Content.ReadAsStringAsync(ct);
        if (!response.IsSuccessStatusCode)
        {
            Console.Error.WriteLine($"HTTP {(int)response.StatusCode}: {ReportPrinter.ProblemDetail(body)}");
            return 2;
        }
        using var doc = JsonDocument.Parse(body);
        Console.WriteLine(JsonSerializer.Serialize(doc.RootElement, new JsonSerializerOptions { WriteIndented = true }));
        return 0;
    }
}
