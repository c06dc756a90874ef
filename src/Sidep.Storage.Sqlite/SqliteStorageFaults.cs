using Microsoft.Data.Sqlite;
using Sidep.Pipeline;

namespace Sidep.Storage.Sqlite;

/// <summary>The files' and journal's storage failures, and SQLite's: a full database, an I/O error, a read-only or
/// unopenable file.</summary>
public sealed class SqliteStorageFaults : StorageFaults
{
    public static readonly SqliteStorageFaults Instance = new();

    protected override bool IsUnavailable(Exception e) =>
        e is SqliteException s ? (s.SqliteErrorCode & 0xFF) is 13 /* FULL */ or 10 /* IOERR */ or 8 /* READONLY */ or 14 /* CANTOPEN */ : base.IsUnavailable(e);

    public override string Describe(Exception ex) => ex is SqliteException s ? $"database: {s.Message}" : base.Describe(ex);
}
