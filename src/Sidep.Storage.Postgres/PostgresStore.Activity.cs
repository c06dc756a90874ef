using Npgsql;
using Sidep.Pipeline;

namespace Sidep.Storage.Postgres;

/// <summary>The labs' activity by hour and the results' delays (distributed mode): every gateway adds its counts.</summary>
public sealed partial class PostgresStore
{
    public void AddActivity(IReadOnlyList<LabHour> hours, IReadOnlyList<DelayCount> delays, IReadOnlyList<RejectionCount>? rejections = null) => InTransaction((c, tx) =>
    {
        // Rows in key order, so that two gateways adding to the same rows never wait on each other in a cycle.
        LabHour[] h = [.. hours.OrderBy(x => x.Hour).ThenBy(x => x.Lab, StringComparer.Ordinal)];
        if (h.Length > 0)
        {
            using NpgsqlCommand add = Command(c, tx, """
                INSERT INTO lab_hours SELECT * FROM unnest($1::bigint[], $2::text[], $3::int[], $4::int[], $5::int[], $6::int[], $7::int[], $8::timestamptz[])
                ON CONFLICT (hour, lab) DO UPDATE SET received = lab_hours.received + excluded.received, stored = lab_hours.stored + excluded.stored,
                    rejected = lab_hours.rejected + excluded.rejected, quarantined = lab_hours.quarantined + excluded.quarantined,
                    duplicates = lab_hours.duplicates + excluded.duplicates,
                    last_received_at = greatest(lab_hours.last_received_at, excluded.last_received_at)
                """, h.Select(x => x.Hour).ToArray(), h.Select(x => x.Lab).ToArray(), h.Select(x => x.Received).ToArray(), h.Select(x => x.Stored).ToArray(),
                h.Select(x => x.Rejected).ToArray(), h.Select(x => x.Quarantined).ToArray(), h.Select(x => x.Duplicates).ToArray(),
                h.Select(x => x.LastReceivedAt?.UtcDateTime).ToArray());
            add.ExecuteNonQuery();
        }
        (string Lab, DateTime At)[] last = [.. h.Where(x => x.LastReceivedAt is not null).GroupBy(x => x.Lab, StringComparer.Ordinal)
            .Select(g => (g.Key, g.Max(x => x.LastReceivedAt!.Value).UtcDateTime)).OrderBy(x => x.Key, StringComparer.Ordinal)];
        if (last.Length > 0)
        {
            using NpgsqlCommand add = Command(c, tx, """
                INSERT INTO lab_last SELECT * FROM unnest($1::text[], $2::timestamptz[])
                ON CONFLICT (lab) DO UPDATE SET last_received_at = greatest(lab_last.last_received_at, excluded.last_received_at)
                """, last.Select(x => x.Lab).ToArray(), last.Select(x => x.At).ToArray());
            add.ExecuteNonQuery();
        }
        RejectionCount[] r = [.. (rejections ?? []).OrderBy(x => x.Hour).ThenBy(x => x.Lab, StringComparer.Ordinal).ThenBy(x => x.Reason, StringComparer.Ordinal)];
        if (r.Length > 0)
        {
            using NpgsqlCommand add = Command(c, tx, """
                INSERT INTO lab_rejections SELECT * FROM unnest($1::bigint[], $2::text[], $3::text[], $4::int[])
                ON CONFLICT (hour, lab, reason) DO UPDATE SET count = lab_rejections.count + excluded.count
                """, r.Select(x => x.Hour).ToArray(), r.Select(x => x.Lab).ToArray(), r.Select(x => x.Reason).ToArray(), r.Select(x => x.Count).ToArray());
            add.ExecuteNonQuery();
        }
        DelayCount[] d = [.. delays.OrderBy(x => x.Day).ThenBy(x => x.Delay)];
        if (d.Length > 0)
        {
            using NpgsqlCommand add = Command(c, tx, """
                INSERT INTO result_delays SELECT * FROM unnest($1::int[], $2::int[], $3::bigint[])
                ON CONFLICT (day, delay) DO UPDATE SET results = result_delays.results + excluded.results
                """, d.Select(x => x.Day).ToArray(), d.Select(x => x.Delay).ToArray(), d.Select(x => x.Results).ToArray());
            add.ExecuteNonQuery();
        }
        return 0;
    });

    public List<LabHour> LabHours(long fromHour, long toHour) =>
        Query("SELECT lab, hour, received, stored, rejected, quarantined, duplicates, last_received_at FROM lab_hours WHERE hour >= $1 AND hour < $2",
            r => new LabHour(r.GetString(0), r.GetInt64(1), r.GetInt32(2), r.GetInt32(3), r.GetInt32(4), r.GetInt32(5), r.GetInt32(6),
                r.IsDBNull(7) ? null : new DateTimeOffset(r.GetDateTime(7), TimeSpan.Zero)), fromHour, toHour);

    public List<LabDay> LabDays(int fromDay, int toDay) =>
        Query($"SELECT lab, (hour / 24 + {LabDay.UnixEpochDay})::int, sum(received), sum(stored), sum(rejected), sum(quarantined) FROM lab_hours " +
            "WHERE hour >= $1 AND hour < $2 GROUP BY lab, hour / 24",
            r => new LabDay(r.GetString(0), r.GetInt32(1), r.GetInt64(2), r.GetInt64(3), r.GetInt64(4), r.GetInt64(5)),
            (fromDay - (long)LabDay.UnixEpochDay) * 24, (toDay + 1 - (long)LabDay.UnixEpochDay) * 24);

    public Dictionary<string, DateTimeOffset> LastReceived() =>
        Query("SELECT lab, last_received_at FROM lab_last",
            r => (Lab: r.GetString(0), At: new DateTimeOffset(r.GetDateTime(1), TimeSpan.Zero))).ToDictionary(x => x.Lab, x => x.At, StringComparer.Ordinal);

    public List<RejectionCount> Rejections(long fromHour, long toHour) =>
        Query("SELECT lab, hour, reason, count FROM lab_rejections WHERE hour >= $1 AND hour < $2",
            r => new RejectionCount(r.GetString(0), r.GetInt64(1), r.GetString(2), r.GetInt32(3)), fromHour, toHour);

    public List<DelayCount> Delays(int fromDay, int toDay) =>
        Query("SELECT day, delay, results FROM result_delays WHERE day >= $1 AND day <= $2 ORDER BY day, delay",
            r => new DelayCount(r.GetInt32(0), r.GetInt32(1), r.GetInt64(2)), fromDay, toDay);
}
