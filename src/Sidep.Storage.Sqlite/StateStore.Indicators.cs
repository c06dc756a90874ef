using Microsoft.Data.Sqlite;

using Sidep.Domain;
using Sidep.Pipeline;

namespace Sidep.Storage.Sqlite;

public sealed partial class StateStore
{
    /// <summary>Records a revision (its counter changes, stamped with <paramref name="processedAt"/>) and moves the
    /// consumer's position, in one transaction. A batch that changed no counter moves the position only.</summary>
    public long ApplyIndicatorRevision(string consumer, long nextSequence, DateTimeOffset processedAt, int results, IReadOnlyList<IndicatorDelta> deltas)
    {
        lock (_lock)
        {
            if (GetOffset(consumer, -1) >= nextSequence)
            {
                return 0; // already applied: a batch written again after a crash before its transport heard of it
            }
            using DerivedWrite derived = BeginDerived();
            SqliteTransaction tx = derived.Transaction;
            long rev = 0;
            if (deltas.Count > 0)
            {
                using (SqliteCommand revision = _connection.CreateCommand())
                {
                    revision.Transaction = tx;
                    revision.CommandText = "INSERT INTO indicator_revisions (processed_at, results, cells) VALUES ($at, $results, $cells) RETURNING rev";
                    revision.Parameters.AddWithValue("$at", processedAt.ToUnixTimeMilliseconds());
                    revision.Parameters.AddWithValue("$results", results);
                    revision.Parameters.AddWithValue("$cells", deltas.Count);
                    rev = (long)revision.ExecuteScalar()!;
                }
                using var insert = new RowStatement(_connection, "INSERT INTO indicator_deltas (rev, day, cell, dp, dt) VALUES (?1, ?2, ?3, ?4, ?5)");
                insert.Integer(1, rev);
                foreach (IndicatorDelta d in deltas)
                {
                    insert.Integer(2, d.Day).Integer(3, d.Cell).Integer(4, d.P).Integer(5, d.T).Run();
                }
            }
            SetOffset(tx, consumer, -1, nextSequence);
            tx.Commit();
            return rev;
        }
    }

    public IndicatorChanges IndicatorChangesSince(long afterRevision)
    {
        lock (_lock)
        {
            // One connection under one lock: revisions commit one at a time, in the order of their numbers.
            using SqliteCommand last = _connection.CreateCommand();
            last.CommandText = "SELECT coalesce(max(rev), 0) FROM indicator_revisions";
            long lastRevision = Math.Max(afterRevision, (long)last.ExecuteScalar()!);
            using SqliteCommand cmd = _connection.CreateCommand();
            cmd.CommandText = "SELECT day, cell, sum(dp), sum(dt) FROM indicator_deltas WHERE rev > $after AND rev <= $last GROUP BY day, cell";
            cmd.Parameters.AddWithValue("$after", afterRevision);
            cmd.Parameters.AddWithValue("$last", lastRevision);
            using SqliteDataReader r = cmd.ExecuteReader();
            var rows = new List<IndicatorDelta>();
            while (r.Read())
            {
                rows.Add(new IndicatorDelta(r.GetInt32(0), r.GetInt32(1), r.GetInt32(2), r.GetInt32(3)));
            }
            return new IndicatorChanges(lastRevision, rows);
        }
    }

    /// <summary>Revisions processed after <paramref name="since"/> (all when null), oldest first.</summary>
    public List<IndicatorRevision> ListIndicatorRevisions(DateTimeOffset? since = null, int limit = 1000)
    {
        lock (_lock)
        {
            using SqliteCommand cmd = _connection.CreateCommand();
            cmd.CommandText = "SELECT rev, processed_at, results, cells FROM indicator_revisions WHERE processed_at > $since ORDER BY rev LIMIT $limit";
            cmd.Parameters.AddWithValue("$since", since?.ToUnixTimeMilliseconds() ?? long.MinValue);
            cmd.Parameters.AddWithValue("$limit", limit);
            using SqliteDataReader r = cmd.ExecuteReader();
            var rows = new List<IndicatorRevision>();
            while (r.Read())
            {
                rows.Add(new IndicatorRevision(r.GetInt64(0), DateTimeOffset.FromUnixTimeMilliseconds(r.GetInt64(1)), r.GetInt32(2), r.GetInt32(3)));
            }
            return rows;
        }
    }

    /// <summary>The summed changes of every revision processed after <paramref name="asOf"/>, on days in
    /// [<paramref name="fromDay"/>, <paramref name="toDay"/>]: subtracted from the current counts, they give the counts
    /// as they were at <paramref name="asOf"/>.</summary>
    public List<IndicatorDelta> IndicatorChangesAfter(DateTimeOffset asOf, int fromDay, int toDay, long throughRevision = long.MaxValue)
    {
        lock (_lock)
        {
            using SqliteCommand cmd = _connection.CreateCommand();
            cmd.CommandText = "SELECT d.day, d.cell, sum(d.dp), sum(d.dt) FROM indicator_deltas d " +
                "WHERE d.rev IN (SELECT rev FROM indicator_revisions WHERE processed_at > $at AND rev <= $through) AND d.day BETWEEN $from AND $to GROUP BY d.day, d.cell";
            cmd.Parameters.AddWithValue("$through", throughRevision);
            cmd.Parameters.AddWithValue("$at", asOf.ToUnixTimeMilliseconds());
            cmd.Parameters.AddWithValue("$from", fromDay);
            cmd.Parameters.AddWithValue("$to", toDay);
            using SqliteDataReader r = cmd.ExecuteReader();
            var rows = new List<IndicatorDelta>();
            while (r.Read())
            {
                rows.Add(new IndicatorDelta(r.GetInt32(0), r.GetInt32(1), r.GetInt32(2), r.GetInt32(3)));
            }
            return rows;
        }
    }
}
