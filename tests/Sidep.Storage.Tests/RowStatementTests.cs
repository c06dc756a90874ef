using Microsoft.Data.Sqlite;
using Sidep.Storage.Sqlite;

namespace Sidep.Storage.Tests;

public class RowStatementTests
{
    [Fact]
    public void Rows_bound_in_place_read_back_as_written_empty_null_accented_and_long_strings_included()
    {
        using var connection = new SqliteConnection("Data Source=:memory:");
        connection.Open();
        using (SqliteCommand create = connection.CreateCommand())
        {
            create.CommandText = "CREATE TABLE t (id INTEGER PRIMARY KEY, a TEXT NOT NULL, b TEXT, r REAL NOT NULL)";
            create.ExecuteNonQuery();
        }
        string longText = string.Concat(Enumerable.Repeat("Hélène Ærø ✓ 𝄞 ", 200)); // longer than the statement's first buffer
        (long Id, string A, string? B, double R)[] rows = [(1, "", null, 0.5), (2, "Hélène ✓", "x", -1e300), (3, longText, longText, 0), (4, "a", "", 3.25)];
        using (var insert = new RowStatement(connection, "INSERT INTO t (id, a, b, r) VALUES (?1, ?2, ?3, ?4)"))
        {
            foreach ((long id, string a, string? b, double r) in rows)
            {
                Assert.Equal(1, insert.Integer(1, id).Text(2, a).Text(3, b).Real(4, r).Run());
            }
            // A failed row says why, and the statement goes on with the next one.
            Assert.Throws<SqliteException>(() => insert.Integer(1, 1).Text(2, "again").Run());
            Assert.Equal(1, insert.Integer(1, 5).Text(2, "after").Text(3, null).Real(4, 1).Run());
        }

        using SqliteCommand read = connection.CreateCommand();
        read.CommandText = "SELECT id, a, b, r FROM t ORDER BY id";
        using SqliteDataReader reader = read.ExecuteReader();
        var back = new List<(long, string, string?, double)>();
        while (reader.Read())
        {
            back.Add((reader.GetInt64(0), reader.GetString(1), reader.IsDBNull(2) ? null : reader.GetString(2), reader.GetDouble(3)));
        }
        Assert.Equal([.. rows, (5, "after", null, 1)], back);
    }
}
