namespace Sidep.Host;

/// <summary>`sidep quarantine`: a lab's results waiting for a LOINC mapping.</summary>
public static partial class Cli
{
    private static Command Quarantine()
    {
        (Option<string> server, Option<string?> apiKey) = ServerOptions();
        var command = new Command("quarantine", "List the lab's results waiting for a LOINC mapping, per local code") { server, apiKey };
        command.SetAction(async (parse, ct) =>
        {
            using HttpClient? http = Client(parse, server, apiKey);
            return http is null ? 2 : await Print(await http.GetAsync("/v1/quarantine", ct), ct);
        });
        return command;
    }
}
