using Sidep.Storage.Sqlite;

namespace Sidep.Host;

/// <summary>`sidep labs`: the lab register (the data directory's, or PostgreSQL's).</summary>
public static partial class Cli
{
    private static Command Labs()
    {
        Option<string> dataDir = DataDirOption();
        Option<string?> postgres = LabRegisterOption();
        var finess = new Option<string>("--finess") { Required = true, Description = "The lab's FINESS number" };
        var name = new Option<string>("--name") { Required = true, Description = "The lab's name" };
        var facility = new Option<string[]>("--facility") { Description = "Other identifiers it sends as in MSH-4 (repeatable)", AllowMultipleArgumentsPerToken = true };
        var mllpSource = new Option<string[]>("--mllp-source") { Description = "Source IP address of its plain-TCP MLLP connections (repeatable)", AllowMultipleArgumentsPerToken = true };
        var mllpCert = new Option<string[]>("--mllp-cert") { Description = "SHA-256 thumbprint (hex) of a client certificate of its MLLP/TLS connections (repeatable)", AllowMultipleArgumentsPerToken = true };
        var add = new Command("add", "Register (or re-key) a lab and print its API key, shown only once; registering it again replaces its facility ids, MLLP sources and certificates") { dataDir, postgres, finess, name, facility, mllpSource, mllpCert };
        add.SetAction(async (parse, ct) =>
        {
            using IDisposable register = await OpenLabRegisterAsync(parse.GetValue(dataDir)!, parse.GetValue(postgres), ct);
            try
            {
                string key = ((ILabRegister)register).AddLab(parse.GetValue(finess)!, parse.GetValue(name)!, parse.GetValue(facility) ?? [], parse.GetValue(mllpSource) ?? [], parse.GetValue(mllpCert) ?? []);
                Console.WriteLine(key);
                return 0;
            }
            catch (LabConflictException ex)
            {
                Console.Error.WriteLine($"sidep: not registered: {ex.Message}");
                return 2;
            }
        });
        Option<string> listDir = DataDirOption();
        Option<string?> listPostgres = LabRegisterOption();
        var list = new Command("list", "List registered labs") { listDir, listPostgres };
        list.SetAction(async (parse, ct) =>
        {
            using IDisposable register = await OpenLabRegisterAsync(parse.GetValue(listDir)!, parse.GetValue(listPostgres), ct);
            foreach (Lab lab in ((ILabRegister)register).ListLabs())
            {
                Console.WriteLine($"{lab.Finess}\t{lab.Name}\tfacilities: {string.Join(",", lab.FacilityIds)}\tmllp sources: {string.Join(",", lab.MllpSources)}\tmllp certificates: {string.Join(",", lab.MllpCertificates)}");
            }
            return 0;
        });
        return new Command("labs", "Manage registered laboratories") { add, list };
    }

    private static Option<string?> LabRegisterOption() => new("--postgres")
    {
        Description = "The distributed mode's lab register: a PostgreSQL connection string (default $SIDEP_POSTGRES); without it, the data directory's (embedded mode)",
        DefaultValueFactory = _ => Environment.GetEnvironmentVariable("SIDEP_POSTGRES") is { Length: > 0 } env ? env : null,
    };

    /// <summary>The lab register of the embedded mode (the data directory's database) or of the distributed mode.</summary>
    private static async Task<IDisposable> OpenLabRegisterAsync(string dataDirectory, string? postgres, CancellationToken ct)
    {
        if (postgres is null)
        {
            return StateStore.Open(dataDirectory);
        }
        await Sidep.Storage.Postgres.PostgresStore.MigrateAsync(postgres, ct);
        return Sidep.Storage.Postgres.PostgresStore.Open(postgres);
    }
}
