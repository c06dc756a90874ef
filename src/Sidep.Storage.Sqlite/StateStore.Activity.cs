using Microsoft.Data.Sqlite;
using Sidep.Pipeline;

namespace Sidep.Storage.Sqlite;

/// <summary>The labs' activity by hour and the results' delays (the embedded mode's <see cref="ILabActivityLog"/>).</summary>
public sealed partial class StateStore
{
    private void CreateActivityTables() => Execute("""
        CREATE TABLE IF NOT EXISTS lab_hours (
            lab TEXT NOT NULL,
            hour INTEGER NOT NULL,
            received INTEGER NOT NULL,
            stored INTEGER NOT NULL,
            rejected INTEGER NOT NULL,
            quarantined INTEGER NOT NULL,
            duplicates INTEGER NOT NULL,
            last_received_at INTEGER,
            PRIMARY KEY (hour, lab)) WITHOUT ROWID;
        CREATE TABLE IF NOT EXISTS lab_last (
            lab TEXT PRIMARY KEY,
            last_received_at INTEGER NOT NULL);
        CREATE TABLE IF NOT EXISTS lab_rejections (
            hour INTEGER NOT NULL,
            lab TEXT NOT NULL,
            reason TEXT NOT NULL,
            count INTEGER NOT NULL,
            PRIMARY KEY (hour, lab, reason)) WITHOUT ROWID;
        CREATE TABLE IF NOT EXISTS result_delays (
            day INTEGER NOT NULL,
            delay INTEGER NOT NULL,
            results INTEGER NOT NULL,
            PRIMARY KEY (day, delay)) WITHOUT ROWID;
        """);

    public void AddActivity(IReadOnlyList<LabHour> hours, IReadOnlyList<DelayCount> delays, IReadOnlyList<RejectionCount>? rejections = null)
    {
        lock (_lock)
        {
            using SqliteTransaction tx = _connection.BeginTransaction();
            using (SqliteCommand add = Command(tx, """
                INSERT INTO lab_hours VALUES ($lab, $hour, $received, $stored, $rejected, $quarantined, $duplicates, $last)
                ON CONFLICT (hour, lab) DO UPDATE SET received = received + excluded.received, stored = stored + excluded.stored,
                    rejected = rejected + excluded.rejected, quarantined = quarantined + excluded.quarantined,
                    duplicates = duplicates + excluded.duplicates, last_received_at = max(coalesce(last_received_at, 0), coalesce(excluded.last_received_at, 0))
                """))
            {
                SqliteParameter lab = add.Parameters.Add("$lab", SqliteType.Text), hour = add.Parameters.Add("$hour", SqliteType.Integer),
                    received = add.Parameters.Add("$received", SqliteType.Integer), stored = add.Parameters.Add("$stored", SqliteType.Integer),
                    rejected = add.Parameters.Add("$rejected", SqliteType.Integer), quarantined = add.Parameters.Add("$quarantined", SqliteType.Integer),
                    duplicates = add.Parameters.Add("$duplicates", SqliteType.Integer), last = add.Parameters.Add("$last", SqliteType.Integer);
                foreach (LabHour h in hours)
                {
                    (lab.Value, hour.Value, received.Value, stored.Value) = (h.Lab, h.Hour, h.Received, h.Stored);
                    (rejected.Value, quarantined.Value, duplicates.Value) = (h.Rejected, h.Quarantined, h.Duplicates);
                    last.Value = h.LastReceivedAt is DateTimeOffset at ? at.ToUnixTimeMilliseconds() : DBNull.Value;
                    add.ExecuteNonQuery();
                }
            }
            using (SqliteCommand last = Command(tx, "INSERT INTO lab_last VALUES ($lab, $at) ON CONFLICT (lab) DO UPDATE SET last_received_at = max(last_received_at, excluded.last_received_at)"))
            {
                SqliteParameter lab = last.Parameters.Add("$lab", SqliteType.Text), at = last.Parameters.Add("$at", SqliteType.Integer);
                foreach (LabHour h in hours.Where(h => h.LastReceivedAt is not null))
                {
                    (lab.Value, at.Value) = (h.Lab, h.LastReceivedAt!.Value.ToUnixTimeMilliseconds());
                    last.ExecuteNonQuery();
                }
            }
            using (SqliteCommand add = Command(tx, "INSERT INTO lab_rejections VALUES ($hour, $lab, $reason, $count) " +
                "ON CONFLICT (hour, lab, reason) DO UPDATE SET count = count + excluded.count"))
            {
                SqliteParameter hour = add.Parameters.Add("$hour", SqliteType.Integer), lab = add.Parameters.Add("$lab", SqliteType.Text),
                    reason = add.Parameters.Add("$reason", SqliteType.Text), count = add.Parameters.Add("$count", SqliteType.Integer);
                foreach (RejectionCount r in rejections ?? [])
                {
                    (hour.Value, lab.Value, reason.Value, count.Value) = (r.Hour, r.Lab, r.Reason, r.Count);
                    add.ExecuteNonQuery();
                }
            }
            using (SqliteCommand add = Command(tx, "INSERT INTO result_delays VALUES ($day, $delay, $results) " +
                "ON CONFLICT (day, delay) DO UPDATE SET results = results + excluded.results"))
            {
                SqliteParameter day = add.Parameters.Add("$day", SqliteType.Integer), delay = add.Parameters.Add("$delay", SqliteType.Integer),
                    results = add.Parameters.Add("$results", SqliteType.Integer);
                foreach (DelayCount d in delays)
                {
                    (day.Value, delay.Value, results.Value) = (d.Day, d.Delay, d.Results);
                    add.ExecuteNonQuery();
                }
            }
            tx.Commit();
        }
    }

    public List<LabHour> LabHours(long fromHour, long toHour) =>
        Query("SELECT lab, hour, received, stored, rejected, quarantined, duplicates, nullif(last_received_at, 0) FROM lab_hours WHERE hour >= $from AND hour < $to",
            r => new LabHour(r.GetString(0), r.GetInt64(1), r.GetInt32(2), r.GetInt32(3), r.GetInt32(4), r.GetInt32(5), r.GetInt32(6),
                r.IsDBNull(7) ? null : DateTimeOffset.FromUnixTimeMilliseconds(r.GetInt64(7))),
            ("$from", fromHour), ("$to", toHour));

    public List<LabDay> LabDays(int fromDay, int toDay) =>
        Query($"SELECT lab, hour / 24 + {LabDay.UnixEpochDay}, sum(received), sum(stored), sum(rejected), sum(quarantined) FROM lab_hours " +
            "WHERE hour >= $from AND hour < $to GROUP BY lab, hour / 24",
            r => new LabDay(r.GetString(0), r.GetInt32(1), r.GetInt64(2), r.GetInt64(3), r.GetInt64(4), r.GetInt64(5)),
            ("$from", (fromDay - (long)LabDay.UnixEpochDay) * 24), ("$to", (toDay + 1 - (long)LabDay.UnixEpochDay) * 24));

    public Dictionary<string, DateTimeOffset> LastReceived() =>
        Query("SELECT lab, last_received_at FROM lab_last",
            r => (Lab: r.GetString(0), At: DateTimeOffset.FromUnixTimeMilliseconds(r.GetInt64(1)))).ToDictionary(x => x.Lab, x => x.At, StringComparer.Ordinal);

    public List<RejectionCount> Rejections(long fromHour, long toHour) =>
        Query("SELECT lab, hour, reason, count FROM lab_rejections WHERE hour >= $from AND hour < $to",
            r => new RejectionCount(r.GetString(0), r.GetInt64(1), r.GetString(2), r.GetInt32(3)), ("$from", fromHour), ("$to", toHour));

    public List<DelayCount> Delays(int fromDay, int toDay) =>
        Query("SELECT day, delay, results FROM result_delays WHERE day >= $from AND day <= $to ORDER BY day, delay",
            r => new DelayCount(r.GetInt32(0), r.GetInt32(1), r.GetInt64(2)), ("$from", fromDay), ("$to", toDay));
}
