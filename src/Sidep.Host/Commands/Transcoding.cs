namespace Sidep.Host;

/// <summary>`sidep transcoding`: a lab's local codes mapped to LOINC.</summary>
public static partial class Cli
{
    private static Command Transcoding()
    {
        (Option<string> server, Option<string?> apiKey) = ServerOptions();
        var finess = new Option<string>("--finess") { Required = true, Description = "The lab's FINESS (its own table only)" };
        var file = new Argument<FileInfo>("file") { Description = "CSV (local_code;loinc;label) or JSON (.json) table" };
        var put = new Command("put", "Add or change mappings of local codes to LOINC; quarantined results of those codes are replayed") { file, finess, server, apiKey };
        put.SetAction(async (parse, ct) =>
        {
            using HttpClient? http = Client(parse, server, apiKey);
            if (http is null)
            {
                return 2;
            }
            FileInfo table = parse.GetValue(file)!;
            var content = new StringContent(await File.ReadAllTextAsync(table.FullName, ct), System.Text.Encoding.UTF8,
                table.Extension.Equals(".json", StringComparison.OrdinalIgnoreCase) ? "application/json" : "text/csv");
            return await Print(await http.PutAsync($"/v1/labs/{Uri.EscapeDataString(parse.GetValue(finess)!)}/transcoding", content, ct), ct);
        });
        (Option<string> getServer, Option<string?> getKey) = ServerOptions();
        var getFiness = new Option<string>("--finess") { Required = true, Description = "The lab's FINESS" };
        var get = new Command("get", "Print the lab's transcoding table") { getFiness, getServer, getKey };
        get.SetAction(async (parse, ct) =>
        {
            using HttpClient? http = Client(parse, getServer, getKey);
            return http is null ? 2 : await Print(await http.GetAsync($"/v1/labs/{Uri.EscapeDataString(parse.GetValue(getFiness)!)}/transcoding", ct), ct);
        });
        return new Command("transcoding", "A lab's table of local analysis codes → LOINC") { put, get };
    }
}
