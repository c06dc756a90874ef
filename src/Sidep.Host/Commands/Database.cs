namespace Sidep.Host;

/// <summary>`sidep db`: the distributed mode's PostgreSQL migrations.</summary>
public static partial class Cli
{
    private static Command Database()
    {
        var postgres = new Option<string?>("--postgres") { Description = "Npgsql connection string (default: $SIDEP_POSTGRES)" };
        var migrate = new Command("migrate", "Apply the schema migrations of infra/postgres/migrations not yet applied") { postgres };
        migrate.SetAction(async (parse, ct) =>
        {
            string? connection = parse.GetValue(postgres) ?? Environment.GetEnvironmentVariable("SIDEP_POSTGRES");
            if (string.IsNullOrEmpty(connection))
            {
                Console.Error.WriteLine("a connection string is needed (--postgres or $SIDEP_POSTGRES)");
                return 2;
            }
            try
            {
                List<string> applied = await Sidep.Storage.Postgres.PostgresStore.MigrateAsync(connection, ct);
                Console.WriteLine(applied.Count == 0 ? "schema up to date" : $"applied: {string.Join(", ", applied)}");
                return 0;
            }
            catch (Npgsql.NpgsqlException ex)
            {
                Console.Error.WriteLine($"migration failed: {ex.Message}");
                return 1;
            }
        });
        return new Command("db", "The PostgreSQL store of the distributed mode") { migrate };
    }
}
