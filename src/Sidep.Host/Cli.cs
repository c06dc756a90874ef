namespace Sidep.Host;

/// <summary>The `sidep` command line: its commands, one file each under Commands/.</summary>
public static partial class Cli
{
    public const string DemoFiness = DemoSetup.Finess;
    public const string DemoFacility = DemoSetup.Facility;

    private static string DefaultDataDir => Environment.GetEnvironmentVariable("SIDEP_DATA") is { Length: > 0 } d ? d : ".sidep";

    public static RootCommand Build()
    {
        var root = new RootCommand("Sidep: national ingestion of laboratory test results (HL7 v2, HPRIM, FHIR R4; HTTP and MLLP), their identity matching, indicators and sinks.");
        root.Subcommands.Add(Serve("serve", gatewayOnly: false));
        root.Subcommands.Add(Serve("gateway", gatewayOnly: true));
        root.Subcommands.Add(Send());
        root.Subcommands.Add(Validate());
        root.Subcommands.Add(Labs());
        root.Subcommands.Add(Transcoding());
        root.Subcommands.Add(Quarantine());
        root.Subcommands.Add(IdentityQuality());
        root.Subcommands.Add(IdentityBench());
        root.Subcommands.Add(Indicators());
        root.Subcommands.Add(Agents());
        root.Subcommands.Add(Research());
        root.Subcommands.Add(Database());
        root.Subcommands.Add(KafkaCommand());
        root.Subcommands.Add(Worker());
        root.Subcommands.Add(JournalCommand());
        return root;
    }

    private static Option<string> DataDirOption() => new("--data-dir")
    {
        Description = "Directory of the journal and the database (default: $SIDEP_DATA or ./.sidep)",
        DefaultValueFactory = _ => DefaultDataDir,
    };
}

internal static class ServiceProviderExtensions
{
    public static MllpListener GetMllp(this IServiceProvider sp) => (MllpListener)sp.GetService(typeof(MllpListener))!;
}
