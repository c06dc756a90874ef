using System.Text;
using Microsoft.Data.Sqlite;
using SQLitePCL;

namespace Sidep.Storage.Sqlite;

/// <summary>
/// A statement a store runs once per row of a batch, on SQLite's own API: prepared once for the batch, each row's
/// values bound in place (strings encoded to UTF-8 in a buffer the statement keeps), stepped and reset. Microsoft.Data.Sqlite's
/// <c>ExecuteNonQuery</c> makes a data reader, a statement enumerator, a binder per parameter and a UTF-8 copy of every
/// string for every row — a few microseconds and hundreds of bytes a row, on the stages' hottest writes. Runs inside
/// whatever transaction the connection has open.
/// </summary>
internal sealed class RowStatement : IDisposable
{
    private readonly sqlite3 _db;
    private readonly sqlite3_stmt _statement;

    public RowStatement(SqliteConnection connection, string sql)
    {
        _db = connection.Handle ?? throw new InvalidOperationException("the connection is not open");
        Check(raw.sqlite3_prepare_v2(_db, sql, out _statement));
    }

    /// <summary>Where strings are encoded before they are bound (SQLite copies a bound value: one buffer serves every row).</summary>
    private byte[] _utf8 = new byte[512];

    /// <summary>Binds parameter <paramref name="index"/> (1-based: <c>?1</c>, <c>?2</c>…) to a string, or NULL.</summary>
    public RowStatement Text(int index, string? value)
    {
        if (value is null)
        {
            Check(raw.sqlite3_bind_null(_statement, index));
            return this;
        }
        int most = Encoding.UTF8.GetMaxByteCount(value.Length);
        if (most > _utf8.Length)
        {
            _utf8 = new byte[Math.Max(most, 2 * _utf8.Length)];
        }
        int length = Encoding.UTF8.GetBytes(value, _utf8);
        Check(raw.sqlite3_bind_text(_statement, index, _utf8.AsSpan(0, length)));
        return this;
    }

    public RowStatement Integer(int index, long value)
    {
        Check(raw.sqlite3_bind_int64(_statement, index, value));
        return this;
    }

    public RowStatement Real(int index, double value)
    {
        Check(raw.sqlite3_bind_double(_statement, index, value));
        return this;
    }

    /// <summary>Runs the statement with the values bound; returns how many rows it changed.</summary>
    public int Run()
    {
        int step = raw.sqlite3_step(_statement);
        raw.sqlite3_reset(_statement); // ready for the next row; a failed step's code is the step's own (prepare_v2)
        if (step != raw.SQLITE_DONE)
        {
            SqliteException.ThrowExceptionForRC(step == raw.SQLITE_ROW ? raw.SQLITE_MISUSE : step, _db);
        }
        return raw.sqlite3_changes(_db);
    }

    private void Check(int rc)
    {
        if (rc != raw.SQLITE_OK)
        {
            SqliteException.ThrowExceptionForRC(rc, _db);
        }
    }

    public void Dispose() => _statement.Dispose();
}
