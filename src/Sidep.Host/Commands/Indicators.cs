using System.Text.Json;

namespace Sidep.Host;

/// <summary>`sidep indicators`: exporting the published tables.</summary>
public static partial class Cli
{
    private static Command Indicators()
    {
        var server = new Option<string>("--server") { Description = "Sidep server", DefaultValueFactory = _ => "http://127.0.0.1:8080" };
        var token = new Option<string?>("--operator-token") { Description = "The operator token (default: $SIDEP_OPERATOR_TOKEN)" };
        var level = new Option<string>("--level") { Description = "dep, reg, fra or all", DefaultValueFactory = _ => "all" };
        level.AcceptOnlyFromAmong("dep", "reg", "fra", "all");
        var format = new Option<string>("--format") { Description = "csv or json", DefaultValueFactory = _ => "csv" };
        format.AcceptOnlyFromAmong("csv", "json");
        var output = new Option<DirectoryInfo>("--out") { Description = "Directory to write the files to", DefaultValueFactory = _ => new DirectoryInfo(".") };
        var from = new Option<string?>("--from") { Description = "First sample day, YYYY-MM-DD (default: the first with counts)" };
        var to = new Option<string?>("--to") { Description = "Last sample day, YYYY-MM-DD (default: the last with counts)" };
        var asOf = new Option<string?>("--asof") { Description = "The tables as they were at this moment (ISO 8601)" };
        var suppress = new Option<int>("--suppress") { Description = "Leave counts from 1 to k-1 empty (open data); 0: off" };
        var export = new Command("export", "Write the daily and rates tables of each level ({level}-daily.csv, {level}-rates.csv) as SPF publishes them")
            { server, token, level, format, output, from, to, asOf, suppress };
        export.SetAction(async (parse, ct) =>
        {
            string? operatorToken = parse.GetValue(token) ?? Environment.GetEnvironmentVariable("SIDEP_OPERATOR_TOKEN");
            if (string.IsNullOrEmpty(operatorToken))
            {
                Console.Error.WriteLine("the operator token is needed (--operator-token or $SIDEP_OPERATOR_TOKEN), as given to 'sidep serve'.");
                return 2;
            }
            using var http = new HttpClient { BaseAddress = new Uri(parse.GetValue(server)!), Timeout = TimeSpan.FromMinutes(10) };
            http.DefaultRequestHeaders.Add("X-Operator-Token", operatorToken);
            var query = new List<string>();
            foreach ((string name, string? value) in new[] { ("from", parse.GetValue(from)), ("to", parse.GetValue(to)), ("asof", parse.GetValue(asOf)) })
            {
                if (value is not null)
                {
                    query.Add($"{name}={Uri.EscapeDataString(value)}");
                }
            }
            if (parse.GetValue(suppress) is int k and > 0)
            {
                query.Add($"suppress={k}");
            }
            string ext = parse.GetValue(format)!;
            DirectoryInfo dir = parse.GetValue(output)!;
            dir.Create();
            string[] levels = parse.GetValue(level) == "all" ? ["dep", "reg", "fra"] : [parse.GetValue(level)!];
            foreach (string lvl in levels)
            {
                foreach (string table in new[] { "daily", "rates" })
                {
                    using HttpResponseMessage response = await http.GetAsync($"/v1/indicators/{lvl}/{table}.{ext}{(query.Count > 0 ? "?" + string.Join('&', query) : "")}", ct);
                    if (!response.IsSuccessStatusCode)
                    {
                        Console.Error.WriteLine($"HTTP {(int)response.StatusCode}: {ReportPrinter.ProblemDetail(await response.Content.ReadAsStringAsync(ct))}");
                        return 2;
                    }
                    byte[] body = await response.Content.ReadAsByteArrayAsync(ct);
                    string path = Path.Combine(dir.FullName, $"{lvl}-{table}.{ext}");
                    // Written whole or not at all: a reader never sees half a table.
                    string temporary = path + ".tmp";
                    await File.WriteAllBytesAsync(temporary, body, ct);
                    File.Move(temporary, path, overwrite: true);
                    int rows = ext == "csv" ? body.Count(b => b == (byte)'\n') - 1 : JsonDocument.Parse(body).RootElement.GetArrayLength();
                    Console.WriteLine($"{path}: {rows} rows");
                }
            }
            return 0;
        });
        return new Command("indicators", "Daily indicators (P, T, incidence, positivity, screening) as Santé publique France publishes them") { export };
    }
}
