using System.Reflection;
using Npgsql;
using NpgsqlTypes;
using Sidep.Domain;
using Sidep.Pipeline;

namespace Sidep.Storage.Postgres;

/// <summary>
/// The stages' store on PostgreSQL (distributed mode), behind the same contract as the embedded one: binary COPY for
/// bulk writes, idempotent upserts keyed by result key and version, each consumer's position committed in the
/// transaction of the writes it covers, an append-only audit log. A write that fails on a transient error (the server
/// restarting, a dropped connection) is retried whole with backoff: nothing is lost, nothing is written twice.
/// </summary>
public sealed partial class PostgresStore : IStageStore, ILabRegister
{
    /// <summary>The store's metrics: <c>sidep.storage.retries</c>, the reads and writes tried again after a transient failure.</summary>
    public static readonly System.Diagnostics.Metrics.Meter Meter = new("Sidep.Storage.Postgres");
    private static readonly System.Diagnostics.Metrics.Counter<long> s_retries = Meter.CreateCounter<long>("sidep.storage.retries",
        description: "PostgreSQL reads and writes tried again after a transient failure (the server restarting, a dropped connection)");

    private readonly NpgsqlDataSource _source;
    private readonly TimeSpan _retryFor;
    private long _retries;

    /// <summary>How many times this store tried a read or write again after a transient failure.</summary>
    public long Retries => Interlocked.Read(ref _retries);

    private PostgresStore(NpgsqlDataSource source, TimeSpan retryFor)
    {
        _source = source;
        _retryFor = retryFor;
    }

    /// <param name="retryFor">How long a write keeps retrying transient failures before it gives up loudly.</param>
    public static PostgresStore Open(string connectionString, TimeSpan? retryFor = null) =>
        new(PostgresSources.Create(connectionString), retryFor ?? TimeSpan.FromMinutes(2));

    /// <summary>Applies the migrations of infra/postgres/migrations not yet applied, in order; returns their names.</summary>
    public static async Task<List<string>> MigrateAsync(string connectionString, CancellationToken cancellationToken = default)
    {
        await using NpgsqlDataSource source = NpgsqlDataSource.Create(connectionString);
        await using NpgsqlConnection connection = await source.OpenConnectionAsync(cancellationToken).ConfigureAwait(false);
        await using (var create = new NpgsqlCommand("CREATE TABLE IF NOT EXISTS schema_migrations (name TEXT PRIMARY KEY, applied_at TIMESTAMPTZ NOT NULL DEFAULT now())", connection))
        {
            await create.ExecuteNonQueryAsync(cancellationToken).ConfigureAwait(false);
        }
        var applied = new List<string>();
        Assembly assembly = typeof(PostgresStore).Assembly;
        foreach (string resource in assembly.GetManifestResourceNames().Where(n => n.StartsWith("migrations/", StringComparison.Ordinal)).Order(StringComparer.Ordinal))
        {
            string name = resource["migrations/".Length..];
            await using NpgsqlTransaction tx = await connection.BeginTransactionAsync(cancellationToken).ConfigureAwait(false);
            // One migrator at a time: concurrent workers wait here rather than racing.
            await using (var lockCmd = new NpgsqlCommand("SELECT pg_advisory_xact_lock(7350012)", connection, tx))
            {
                await lockCmd.ExecuteNonQueryAsync(cancellationToken).ConfigureAwait(false);
            }
            await using (var check = new NpgsqlCommand("SELECT 1 FROM schema_migrations WHERE name = $1", connection, tx) { Parameters = { new() { Value = name } } })
            {
                if (await check.ExecuteScalarAsync(cancellationToken).ConfigureAwait(false) is not null)
                {
                    continue;
                }
            }
            using var reader = new StreamReader(assembly.GetManifestResourceStream(resource)!);
            await using (var migrate = new NpgsqlCommand(await reader.ReadToEndAsync(cancellationToken).ConfigureAwait(false), connection, tx))
            {
                await migrate.ExecuteNonQueryAsync(cancellationToken).ConfigureAwait(false);
            }
            await using (var record = new NpgsqlCommand("INSERT INTO schema_migrations (name) VALUES ($1)", connection, tx) { Parameters = { new() { Value = name } } })
            {
                await record.ExecuteNonQueryAsync(cancellationToken).ConfigureAwait(false);
            }
            await tx.CommitAsync(cancellationToken).ConfigureAwait(false);
            applied.Add(name);
        }
        return applied;
    }

    /// <summary>Runs <paramref name="work"/> in a transaction, again from the start after a transient failure.</summary>
    private T InTransaction<T>(Func<NpgsqlConnection, NpgsqlTransaction, T> work) => Retrying(() =>
    {
        using NpgsqlConnection connection = _source.OpenConnection();
        using NpgsqlTransaction tx = connection.BeginTransaction();
        T result = work(connection, tx);
        tx.Commit();
        return result;
    });

    /// <summary>Runs <paramref name="attempt"/>, again from the start after a transient failure, with backoff, until
    /// the retry time is spent (then the failure surfaces: the worker stops loudly).</summary>
    private T Retrying<T>(Func<T> attempt)
    {
        DateTime giveUp = DateTime.UtcNow + _retryFor;
        TimeSpan wait = TimeSpan.FromMilliseconds(50);
        while (true)
        {
            try
            {
                return attempt();
            }
            catch (Exception ex) when (IsTransient(ex) && DateTime.UtcNow < giveUp)
            {
                Interlocked.Increment(ref _retries);
                s_retries.Add(1);
                NpgsqlConnection.ClearAllPools();
                Thread.Sleep(wait);
                wait = TimeSpan.FromMilliseconds(Math.Min(wait.TotalMilliseconds * 2, 2000));
            }
        }
    }

    internal static bool IsTransient(Exception ex) => ex switch
    {
        NpgsqlException { IsTransient: true } => true,
        PostgresException pg => pg.SqlState is "57P01" or "57P02" or "57P03" or "08000" or "08003" or "08006" or "40001" or "40P01",
        NpgsqlException { InnerException: IOException or System.Net.Sockets.SocketException } => true,
        _ => false,
    };

    private static NpgsqlCommand Command(NpgsqlConnection connection, NpgsqlTransaction? tx, string sql, params object?[] values)
    {
        var cmd = new NpgsqlCommand(sql, connection, tx);
        foreach (object? value in values)
        {
            cmd.Parameters.Add(new NpgsqlParameter { Value = value ?? DBNull.Value });
        }
        return cmd;
    }

    private static void SetOffset(NpgsqlConnection connection, NpgsqlTransaction tx, string consumer, int partition, long next)
    {
        using NpgsqlCommand cmd = Command(connection, tx,
            "INSERT INTO consumer_offsets (consumer, partition, next_offset) VALUES ($1, $2, $3) ON CONFLICT (consumer, partition) DO UPDATE SET next_offset = excluded.next_offset",
            consumer, partition, next);
        cmd.ExecuteNonQuery();
    }

    /// <summary>Runs a read, again after a transient failure (as writes do): a worker asking for its position while
    /// the server restarts waits for it rather than dying.</summary>
    /// <summary>Whether a batch is in already: the consumer's stored position covers it. A retry after a commit whose
    /// answer was lost (the connection cut just then) finds it so and writes nothing twice. The row lock also makes
    /// writers of one position take turns.</summary>
    private static bool AlreadyApplied(NpgsqlConnection c, NpgsqlTransaction tx, string consumer, int partition, long next)
    {
        using NpgsqlCommand cmd = Command(c, tx, "SELECT next_offset FROM consumer_offsets WHERE consumer = $1 AND partition = $2 FOR UPDATE", consumer, partition);
        return cmd.ExecuteScalar() is long stored && stored >= next;
    }

    private List<T> Query<T>(string sql, Func<NpgsqlDataReader, T> read, params object?[] values) => Retrying(() =>
    {
        using NpgsqlConnection connection = _source.OpenConnection();
        using NpgsqlCommand cmd = Command(connection, null, sql, values);
        using NpgsqlDataReader r = cmd.ExecuteReader();
        var rows = new List<T>();
        while (r.Read())
        {
            rows.Add(read(r));
        }
        return rows;
    });

    public long GetOffset(string consumer, int partition) =>
        Query("SELECT next_offset FROM consumer_offsets WHERE consumer = $1 AND partition = $2", r => r.GetInt64(0), consumer, partition).FirstOrDefault();

    public void ApplyMatches(string consumer, long nextSequence, IReadOnlyList<MatchRow> rows, IReadOnlyList<(long From, long Into)> merges) =>
        InTransaction((c, tx) =>
        {
            if (AlreadyApplied(c, tx, consumer, -1, nextSequence))
            {
                return 0;
            }
            if (rows.Count > 0)
            {
                // Binary COPY into a temporary table, then one insert in the batch's order (seq keeps it).
                Staging(c, tx, "incoming_matches", "ord INTEGER, lab_id TEXT, accession_id TEXT, test_code TEXT, version INTEGER, person_id BIGINT, " +
                    "rule TEXT, score DOUBLE PRECISION, decision TEXT");
                using (NpgsqlBinaryImporter copy = c.BeginBinaryImport(
                    "COPY incoming_matches (ord, lab_id, accession_id, test_code, version, person_id, rule, score, decision) FROM STDIN (FORMAT BINARY)"))
                {
                    for (int i = 0; i < rows.Count; i++)
                    {
                        MatchRow r = rows[i];
                        copy.StartRow();
                        copy.Write(i, NpgsqlDbType.Integer);
                        copy.Write(r.LabId, NpgsqlDbType.Text);
                        copy.Write(r.AccessionId, NpgsqlDbType.Text);
                        copy.Write(r.TestCode, NpgsqlDbType.Text);
                        copy.Write(r.Version, NpgsqlDbType.Integer);
                        copy.Write(r.PersonId, NpgsqlDbType.Bigint);
                        copy.Write(r.Rule, NpgsqlDbType.Text);
                        copy.Write(r.Score, NpgsqlDbType.Double);
                        copy.Write(r.DecisionJson, NpgsqlDbType.Text);
                    }
                    copy.Complete();
                }
                Execute(c, tx, "INSERT INTO matches (lab_id, accession_id, test_code, version, person_id, rule, score, decision) " +
                    "SELECT lab_id, accession_id, test_code, version, person_id, rule, score, decision FROM incoming_matches ORDER BY ord " +
                    "ON CONFLICT (lab_id, accession_id, test_code, version) DO NOTHING");
            }
            foreach ((long from, long into) in merges)
            {
                Execute(c, tx, "INSERT INTO person_merges (from_person, into_person) VALUES ($1, $2) ON CONFLICT DO NOTHING", from, into);
            }
            SetOffset(c, tx, consumer, -1, nextSequence);
            return 0;
        });

    public List<(long Id, MatchRow Row)> ReviewQueue(long after, int limit) => Query(
        "SELECT seq, lab_id, accession_id, test_code, version, person_id, rule, score, decision FROM matches " +
        "WHERE rule IN ('PossibleMatch', 'InsConflict') AND seq > $1 ORDER BY seq LIMIT $2",
        r => (r.GetInt64(0), new MatchRow(r.GetString(1), r.GetString(2), r.GetString(3), r.GetInt32(4), r.GetInt64(5), r.GetString(6), r.GetDouble(7), r.GetString(8))),
        after, limit);

    public List<MatchRow> DecisionsOf(long personId) => Query(
        "SELECT lab_id, accession_id, test_code, version, person_id, rule, score, decision FROM matches " +
        "WHERE person_id = $1 OR person_id IN (SELECT from_person FROM person_merges WHERE into_person = $1) ORDER BY seq",
        r => new MatchRow(r.GetString(0), r.GetString(1), r.GetString(2), r.GetInt32(3), r.GetInt64(4), r.GetString(5), r.GetDouble(6), r.GetString(7)),
        personId);

    public long ApplyIndicatorRevision(string consumer, long nextSequence, DateTimeOffset processedAt, int results, IReadOnlyList<IndicatorDelta> deltas) =>
        InTransaction((c, tx) =>
        {
            if (AlreadyApplied(c, tx, consumer, -1, nextSequence))
            {
                return 0L;
            }
            long rev = 0;
            if (deltas.Count > 0)
            {
                // Revisions of every aggregate worker one at a time: numbered and committed in the same order, so a reader
                // that has read up to a number never sees a smaller one appear later (IndicatorChangesSince).
                using (NpgsqlCommand serialise = Command(c, tx, "SELECT pg_advisory_xact_lock($1)", RevisionLock))
                {
                    serialise.ExecuteNonQuery();
                }
                using (NpgsqlCommand revision = Command(c, tx, "INSERT INTO indicator_revisions (processed_at, results, cells) VALUES ($1, $2, $3) RETURNING rev",
                    processedAt.ToUnixTimeMilliseconds(), results, deltas.Count))
                {
                    rev = (long)revision.ExecuteScalar()!;
                }
                using NpgsqlBinaryImporter copy = c.BeginBinaryImport("COPY indicator_deltas (rev, day, cell, dp, dt) FROM STDIN (FORMAT BINARY)");
                foreach (IndicatorDelta d in deltas)
                {
                    copy.StartRow();
                    copy.Write(rev, NpgsqlDbType.Bigint);
                    copy.Write(d.Day, NpgsqlDbType.Integer);
                    copy.Write(d.Cell, NpgsqlDbType.Integer);
                    copy.Write(d.P, NpgsqlDbType.Integer);
                    copy.Write(d.T, NpgsqlDbType.Integer);
                }
                copy.Complete();
            }
            SetOffset(c, tx, consumer, -1, nextSequence);
            return rev;
        });

    /// <summary>The advisory lock that serialises indicator revisions (any number: this database's only one).</summary>
    private const long RevisionLock = 0x5349_4445_5052_4556; // "SIDEPREV"

    public IndicatorChanges IndicatorChangesSince(long afterRevision) => Retrying(() =>
    {
        using NpgsqlConnection connection = _source.OpenConnection();
        // One snapshot for both statements: the last revision and the changes up to it.
        using NpgsqlTransaction tx = connection.BeginTransaction(System.Data.IsolationLevel.RepeatableRead);
        long last;
        using (NpgsqlCommand max = Command(connection, tx, "SELECT coalesce(max(rev), 0) FROM indicator_revisions"))
        {
            last = Math.Max(afterRevision, (long)max.ExecuteScalar()!);
        }
        var rows = new List<IndicatorDelta>();
        using (NpgsqlCommand cmd = Command(connection, tx, "SELECT day, cell, sum(dp)::int, sum(dt)::int FROM indicator_deltas WHERE rev > $1 AND rev <= $2 GROUP BY day, cell",
            afterRevision, last))
        using (NpgsqlDataReader r = cmd.ExecuteReader())
        {
            while (r.Read())
            {
                rows.Add(new IndicatorDelta(r.GetInt32(0), r.GetInt32(1), r.GetInt32(2), r.GetInt32(3)));
            }
        }
        tx.Commit();
        return new IndicatorChanges(last, rows);
    });

    public List<IndicatorRevision> ListIndicatorRevisions(DateTimeOffset? since = null, int limit = 1000) => Query(
        "SELECT rev, processed_at, results, cells FROM indicator_revisions WHERE processed_at > $1 ORDER BY rev LIMIT $2",
        r => new IndicatorRevision(r.GetInt64(0), DateTimeOffset.FromUnixTimeMilliseconds(r.GetInt64(1)), r.GetInt32(2), r.GetInt32(3)),
        since?.ToUnixTimeMilliseconds() ?? long.MinValue, limit);

    public List<IndicatorDelta> IndicatorChangesAfter(DateTimeOffset asOf, int fromDay, int toDay, long throughRevision = long.MaxValue) => Query(
        "SELECT d.day, d.cell, sum(d.dp)::int, sum(d.dt)::int FROM indicator_deltas d JOIN indicator_revisions r ON r.rev = d.rev " +
        "WHERE r.processed_at > $1 AND d.day BETWEEN $2 AND $3 AND r.rev <= $4 GROUP BY d.day, d.cell",
        r => new IndicatorDelta(r.GetInt32(0), r.GetInt32(1), r.GetInt32(2), r.GetInt32(3)), asOf.ToUnixTimeMilliseconds(), fromDay, toDay, throughRevision);

    public void SetConsumerOffset(string consumer, int partition, long next) => InTransaction((c, tx) =>
    {
        SetOffset(c, tx, consumer, partition, next);
        return 0;
    });

    private sealed class CaseRow
    {
        public long Seq;
        public required string CaseId;
        public required string PositiveKey;
        public long PersonId;
        public required string SampleDate;
        public required string Territory;
        public required string Region;
        public required string Status;
        public long UpdatedAt;
        public required string Json;
        public bool Changed;
    }

    public void ApplyFanOut(string consumer, long nextSequence, IReadOnlyList<PositiveResult> positives, IReadOnlyList<CaseChange> changes,
        Func<string, string> caseIdOf, DateTimeOffset now) => InTransaction((c, tx) =>
        {
            if (AlreadyApplied(c, tx, consumer, -1, nextSequence))
            {
                return 0;
            }
            // Fan-out workers of different partitions write one at a time: the feed cursor (seq) grows in commit order,
            // so a reader that has seen cursor n never misses a change committed later with a smaller one.
            Execute(c, tx, "LOCK TABLE cases IN EXCLUSIVE MODE");
            if (positives.Count > 0)
            {
                Staging(c, tx, "incoming_positives", "key TEXT, version INTEGER, json TEXT");
                using (NpgsqlBinaryImporter copy = c.BeginBinaryImport("COPY incoming_positives (key, version, json) FROM STDIN (FORMAT BINARY)"))
                {
                    foreach (PositiveResult p in positives.GroupBy(p => p.Key).Select(g => g.MaxBy(p => p.Version)!))
                    {
                        copy.StartRow();
                        copy.Write(p.Key, NpgsqlDbType.Text);
                        copy.Write(p.Version, NpgsqlDbType.Integer);
                        copy.Write(p.Json, NpgsqlDbType.Text);
                    }
                    copy.Complete();
                }
                Execute(c, tx, "INSERT INTO case_results (key, version, json) SELECT key, version, json FROM incoming_positives " +
                    "ON CONFLICT (key) DO UPDATE SET version = excluded.version, json = excluded.json WHERE excluded.version > case_results.version");
            }
            if (changes.Count == 0)
            {
                SetOffset(c, tx, consumer, -1, nextSequence);
                return 0;
            }
            // The cases the batch may touch, read at once; then the changes applied in order in memory, exactly as one
            // statement after another would (each change of a case moves it to the end of the feed); then written at once.
            var touched = new Dictionary<string, CaseRow>(StringComparer.Ordinal);
            const string columns = "SELECT seq, case_id, positive_key, person_id, sample_date, territory, region, status, updated_at, json FROM cases";
            CaseRow Read(NpgsqlDataReader r) => new()
            {
                Seq = r.GetInt64(0), CaseId = r.GetString(1), PositiveKey = r.GetString(2), PersonId = r.GetInt64(3), SampleDate = r.GetString(4),
                Territory = r.GetString(5), Region = r.GetString(6), Status = r.GetString(7), UpdatedAt = r.GetInt64(8), Json = r.GetString(9),
            };
            void Load(string sql, params object?[] values)
            {
                using NpgsqlCommand cmd = Command(c, tx, sql, values);
                using NpgsqlDataReader r = cmd.ExecuteReader();
                while (r.Read())
                {
                    CaseRow row = Read(r);
                    touched.TryAdd(row.CaseId, row);
                }
            }
            Load($"{columns} WHERE positive_key = ANY($1)", (object)changes.Select(x => x.PositiveKey).Distinct().ToArray());
            List<CaseChange> started = [.. changes.Where(x => x.Started)];
            if (started.Count > 0)
            {
                Load($"{columns} WHERE (person_id, sample_date) IN (SELECT * FROM unnest($1::bigint[], $2::text[]))",
                    started.Select(x => x.PersonId).ToArray(), started.Select(x => x.SampleDate).ToArray());
            }
            long seq = Scalar(c, tx, "SELECT coalesce(max(seq), 0) FROM cases") is long max ? max : 0;
            long at = now.ToUnixTimeMilliseconds();
            var notices = new List<(string CaseId, string Channel, string Json)>();
            foreach (CaseChange change in changes)
            {
                if (!change.Started)
                {
                    foreach (CaseRow row in touched.Values.Where(r => r.PositiveKey == change.PositiveKey && r.Status == "open").OrderBy(r => r.Seq).ToList())
                    {
                        (row.Status, row.UpdatedAt, row.Seq, row.Changed) = ("withdrawn", at, ++seq, true);
                    }
                    continue;
                }
                CaseRow? existing = touched.Values.Where(r => r.PositiveKey == change.PositiveKey).MinBy(r => r.Seq)
                    ?? touched.Values.Where(r => r.PersonId == change.PersonId && r.SampleDate == change.SampleDate).MinBy(r => r.Seq);
                if (existing is null)
                {
                    existing = new CaseRow
                    {
                        CaseId = caseIdOf(change.PositiveKey), PositiveKey = "", SampleDate = "", Territory = "", Region = "", Status = "", Json = "",
                    };
                    // Taken as it is if it exists already under that id (a case ever opens one notice).
                    if (!touched.TryAdd(existing.CaseId, existing))
                    {
                        existing = touched[existing.CaseId];
                    }
                    else
                    {
                        notices.Add((existing.CaseId, change.Channel ?? "none", change.NoticeJson!));
                    }
                }
                (existing.Seq, existing.PositiveKey, existing.PersonId, existing.SampleDate, existing.Territory, existing.Region, existing.Status, existing.UpdatedAt, existing.Json) =
                    (++seq, change.PositiveKey, change.PersonId, change.SampleDate, change.Territory, change.Region, "open", at, change.Json!);
                existing.Changed = true;
            }
            Staging(c, tx, "incoming_cases", "LIKE cases");
            using (NpgsqlBinaryImporter copy = c.BeginBinaryImport(
                "COPY incoming_cases (seq, case_id, positive_key, person_id, sample_date, territory, region, status, updated_at, json) FROM STDIN (FORMAT BINARY)"))
            {
                foreach (CaseRow row in touched.Values.Where(r => r.Changed))
                {
                    copy.StartRow();
                    copy.Write(row.Seq, NpgsqlDbType.Bigint);
                    copy.Write(row.CaseId, NpgsqlDbType.Text);
                    copy.Write(row.PositiveKey, NpgsqlDbType.Text);
                    copy.Write(row.PersonId, NpgsqlDbType.Bigint);
                    copy.Write(row.SampleDate, NpgsqlDbType.Text);
                    copy.Write(row.Territory, NpgsqlDbType.Text);
                    copy.Write(row.Region, NpgsqlDbType.Text);
                    copy.Write(row.Status, NpgsqlDbType.Text);
                    copy.Write(row.UpdatedAt, NpgsqlDbType.Bigint);
                    copy.Write(row.Json, NpgsqlDbType.Text);
                }
                copy.Complete();
            }
            Execute(c, tx, """
                INSERT INTO cases SELECT * FROM incoming_cases
                ON CONFLICT (case_id) DO UPDATE SET seq = excluded.seq, positive_key = excluded.positive_key, person_id = excluded.person_id,
                    sample_date = excluded.sample_date, territory = excluded.territory, region = excluded.region, status = excluded.status,
                    updated_at = excluded.updated_at, json = excluded.json
                """);
            if (notices.Count > 0)
            {
                Staging(c, tx, "incoming_notices", "ord INTEGER, case_id TEXT, channel TEXT, json TEXT");
                using (NpgsqlBinaryImporter copy = c.BeginBinaryImport("COPY incoming_notices (ord, case_id, channel, json) FROM STDIN (FORMAT BINARY)"))
                {
                    for (int i = 0; i < notices.Count; i++)
                    {
                        copy.StartRow();
                        copy.Write(i, NpgsqlDbType.Integer);
                        copy.Write(notices[i].CaseId, NpgsqlDbType.Text);
                        copy.Write(notices[i].Channel, NpgsqlDbType.Text);
                        copy.Write(notices[i].Json, NpgsqlDbType.Text);
                    }
                    copy.Complete();
                }
                Execute(c, tx, "INSERT INTO notices (case_id, channel, created_at, json) SELECT case_id, channel, $1, json FROM incoming_notices ORDER BY ord " +
                    "ON CONFLICT (case_id) DO NOTHING", at);
            }
            SetOffset(c, tx, consumer, -1, nextSequence);
            return 0;
        });

    /// <summary>A staging table for a batch's binary COPY, made once per connection (the pool keeps a connection's
    /// session, PostgresSources) and emptied at every commit: creating one per batch cost PostgreSQL more than the
    /// rows it staged (catalog rows written and removed each time).</summary>
    private static void Staging(NpgsqlConnection connection, NpgsqlTransaction tx, string table, string columns) =>
        Execute(connection, tx, $"CREATE TEMP TABLE IF NOT EXISTS {table} ({columns}) ON COMMIT DELETE ROWS");

    private static void Execute(NpgsqlConnection connection, NpgsqlTransaction tx, string sql, params object?[] values)
    {
        using NpgsqlCommand cmd = Command(connection, tx, sql, values);
        cmd.ExecuteNonQuery();
    }

    private static object? Scalar(NpgsqlConnection connection, NpgsqlTransaction tx, string sql, params object?[] values)
    {
        using NpgsqlCommand cmd = Command(connection, tx, sql, values);
        return cmd.ExecuteScalar();
    }

    public string? PositiveResultJson(string key) => Query("SELECT json FROM case_results WHERE key = $1", r => r.GetString(0), key).FirstOrDefault();

    private const string CaseColumns = "SELECT seq, case_id, person_id, sample_date, territory, region, status, updated_at, json FROM cases";

    private static StoredCase ReadCase(NpgsqlDataReader r) => new(r.GetInt64(0), r.GetString(1), r.GetInt64(2), r.GetString(3), r.GetString(4),
        r.GetString(5), r.GetString(6), DateTimeOffset.FromUnixTimeMilliseconds(r.GetInt64(7)), r.GetString(8));

    public List<StoredCase> Cases(IReadOnlyCollection<string> territories, long afterSeq, DateTimeOffset? since, int limit) => territories.Count == 0
        ? [] // an agent with no territory sees no case
        : Query($"{CaseColumns} WHERE territory = ANY($1) AND seq > $2 AND updated_at >= $3 ORDER BY seq LIMIT $4", ReadCase,
            territories.ToArray(), afterSeq, since?.ToUnixTimeMilliseconds() ?? 0, limit);

    public List<StoredCase> CasesChangedAfter(long afterSeq, int limit) =>
        Query($"{CaseColumns} WHERE seq > $1 ORDER BY seq LIMIT $2", ReadCase, afterSeq, limit);

    public StoredCase? Case(string caseId) => Query($"{CaseColumns} WHERE case_id = $1", ReadCase, caseId).FirstOrDefault();

    public List<StoredCase> OpenCasesOf(long personId) =>
        Query($"{CaseColumns} WHERE person_id = $1 AND status = 'open' ORDER BY sample_date DESC", ReadCase, personId);

    public List<StoredNotice> Outbox(int limit) => Query(
        "SELECT id, case_id, channel, created_at, acked_at, json FROM notices WHERE acked_at IS NULL AND channel <> 'none' ORDER BY id LIMIT $1",
        r => new StoredNotice(r.GetInt64(0), r.GetString(1), r.GetString(2), DateTimeOffset.FromUnixTimeMilliseconds(r.GetInt64(3)),
            r.IsDBNull(4) ? null : DateTimeOffset.FromUnixTimeMilliseconds(r.GetInt64(4)), r.GetString(5)), limit);

    public bool AcknowledgeNotice(long id, DateTimeOffset at) => InTransaction((c, tx) =>
    {
        using NpgsqlCommand cmd = Command(c, tx, "UPDATE notices SET acked_at = $1 WHERE id = $2 AND acked_at IS NULL", at.ToUnixTimeMilliseconds(), id);
        return cmd.ExecuteNonQuery() == 1;
    });

    private const string MarkDirtySql = "INSERT INTO research_dirty (sample_date) {0} ON CONFLICT (sample_date) DO UPDATE SET mark = nextval('research_dirty_mark')";

    private static void MarkDirty(NpgsqlConnection c, NpgsqlTransaction tx, string select, params object?[] values) =>
        Execute(c, tx, string.Format(System.Globalization.CultureInfo.InvariantCulture, MarkDirtySql, select), values);

    public void ApplyResearch(string consumer, long nextSequence, IReadOnlyList<ResearchChange> changes)
    {
        InTransaction((c, tx) =>
        {
            if (AlreadyApplied(c, tx, consumer, -1, nextSequence))
            {
                return 0;
            }
            // Runs of upserts and removals are applied set-based; merges, rare, one by one in their place.
            var run = new List<ResearchChange>();
            foreach (ResearchChange change in changes)
            {
                if (change is ResearchMerge merge)
                {
                    ApplyResearchRun(c, tx, run);
                    run.Clear();
                    MarkDirty(c, tx, "SELECT DISTINCT sample_date FROM research_rows WHERE person_id = $1", merge.From);
                    Execute(c, tx, "UPDATE research_rows SET person_id = $1 WHERE person_id = $2", merge.Into, merge.From);
                    Execute(c, tx, "INSERT INTO research_persons_merged (from_person, into_person) VALUES ($1, $2) ON CONFLICT DO NOTHING", merge.From, merge.Into);
                    Execute(c, tx, "UPDATE oppositions SET person_id = $1 WHERE person_id = $2", merge.Into, merge.From);
                }
                else
                {
                    run.Add(change);
                }
            }
            ApplyResearchRun(c, tx, run);
            SetOffset(c, tx, consumer, -1, nextSequence);
            return 0;
        });
        _oppositionsReadAt = 0; // a merge may have moved one
    }

    /// <summary>
    /// Upserts and removals, set-based, with the same effect as one by one in order: per key, an upsert of version u
    /// survives a removal of versions below r when u ≥ r, so only the strongest change of each key is applied. Every
    /// sample date a row leaves or enters is marked for writing again.
    /// </summary>
    private static void ApplyResearchRun(NpgsqlConnection c, NpgsqlTransaction tx, List<ResearchChange> run)
    {
        if (run.Count == 0)
        {
            return;
        }
        var strongest = new Dictionary<string, ResearchChange>(StringComparer.Ordinal);
        foreach (ResearchChange change in run)
        {
            (string key, int weight) = Weigh(change);
            if (!strongest.TryGetValue(key, out ResearchChange? kept) || weight > Weigh(kept).Weight)
            {
                strongest[key] = change;
            }
        }
        Staging(c, tx, "incoming_research", "key TEXT, person_id BIGINT, version INTEGER, sample_date TEXT, json TEXT, remove BOOLEAN");
        Execute(c, tx, "DELETE FROM incoming_research");
        using (NpgsqlBinaryImporter copy = c.BeginBinaryImport("COPY incoming_research (key, person_id, version, sample_date, json, remove) FROM STDIN (FORMAT BINARY)"))
        {
            foreach (ResearchChange change in strongest.Values)
            {
                copy.StartRow();
                switch (change)
                {
                    case ResearchUpsert { Row: var r }:
                        copy.Write(r.Key, NpgsqlDbType.Text);
                        copy.Write(r.PersonId, NpgsqlDbType.Bigint);
                        copy.Write(r.Version, NpgsqlDbType.Integer);
                        copy.Write(r.SampleDate, NpgsqlDbType.Text);
                        copy.Write(r.Json, NpgsqlDbType.Text);
                        copy.Write(false, NpgsqlDbType.Boolean);
                        break;
                    case ResearchRemove remove:
                        copy.Write(remove.Key, NpgsqlDbType.Text);
                        copy.WriteNull();
                        copy.Write(remove.Version, NpgsqlDbType.Integer);
                        copy.WriteNull();
                        copy.WriteNull();
                        copy.Write(true, NpgsqlDbType.Boolean);
                        break;
                }
            }
            copy.Complete();
        }
        // The dates rows leave (an older version replaced or removed), then the rows, then the dates rows enter.
        MarkDirty(c, tx, "SELECT DISTINCT r.sample_date FROM research_rows r JOIN incoming_research i ON r.key = i.key AND r.version < i.version");
        Execute(c, tx, "DELETE FROM research_rows r USING incoming_research i WHERE i.remove AND r.key = i.key AND r.version < i.version");
        Execute(c, tx, "WITH written AS (INSERT INTO research_rows (key, person_id, version, sample_date, json) " +
            "SELECT key, person_id, version, sample_date, json FROM incoming_research WHERE NOT remove " +
            "ON CONFLICT (key) DO UPDATE SET person_id = excluded.person_id, version = excluded.version, sample_date = excluded.sample_date, json = excluded.json " +
            "WHERE excluded.version > research_rows.version RETURNING sample_date) " +
            string.Format(System.Globalization.CultureInfo.InvariantCulture, MarkDirtySql, "SELECT DISTINCT sample_date FROM written"));
    }

    /// <summary>A change's key and strength: an upsert of version u weighs 2u, a removal of versions below r weighs 2r − 1
    /// (an upsert of version r outweighs it, one of r − 1 does not).</summary>
    private static (string Key, int Weight) Weigh(ResearchChange change) => change switch
    {
        ResearchUpsert u => (u.Row.Key, 2 * u.Row.Version),
        ResearchRemove r => (r.Key, 2 * r.Version - 1),
        _ => throw new ArgumentOutOfRangeException(nameof(change)),
    };

    public void RecordOpposition(long? personId, string? identityKey, DateTimeOffset at)
    {
        InTransaction((c, tx) =>
        {
            Execute(c, tx, "INSERT INTO oppositions (recorded_at, person_id, identity_key) VALUES ($1, $2, $3)", at.ToUnixTimeMilliseconds(), personId, identityKey);
            if (personId is long person)
            {
                MarkDirty(c, tx, "SELECT DISTINCT sample_date FROM research_rows WHERE person_id = $1", person);
            }
            return 0;
        });
        _oppositionsReadAt = 0;
    }

    /// <summary>Oppositions are rare and asked about for every result: read again at most every 5 s (they may be
    /// recorded by another process), and at once after a change made here.</summary>
    private (HashSet<long> Persons, HashSet<string> Keys) Oppositions()
    {
        lock (_oppositionsLock)
        {
            if (_oppositions.Persons is null || Environment.TickCount64 - _oppositionsReadAt > 5000)
            {
                _oppositions = ([.. Query("SELECT person_id FROM oppositions WHERE person_id IS NOT NULL", r => r.GetInt64(0))],
                    new HashSet<string>(Query("SELECT identity_key FROM oppositions WHERE identity_key IS NOT NULL", r => r.GetString(0)), StringComparer.Ordinal));
                _oppositionsReadAt = Environment.TickCount64;
            }
            return _oppositions;
        }
    }

    private readonly Lock _oppositionsLock = new();
    private (HashSet<long> Persons, HashSet<string> Keys) _oppositions;
    private long _oppositionsReadAt;

    public bool OpposedPerson(long personId) => Oppositions().Persons.Contains(personId);

    public bool HasIdentityOppositions => Oppositions().Keys.Count > 0;

    public string? OpposedIdentity(IEnumerable<string> identityKeys)
    {
        HashSet<string> keys = Oppositions().Keys;
        return identityKeys.FirstOrDefault(keys.Contains);
    }

    public void AttachOpposition(long personId, string identityKey)
    {
        InTransaction((c, tx) =>
        {
            Execute(c, tx, "UPDATE oppositions SET person_id = $1 WHERE identity_key = $2 AND person_id IS NULL", personId, identityKey);
            MarkDirty(c, tx, "SELECT DISTINCT sample_date FROM research_rows WHERE person_id = $1", personId);
            return 0;
        });
        _oppositionsReadAt = 0;
    }

    /// <summary>The marks of the dirty dates this instance listed: it clears only those (see the migration). The oldest
    /// listing is kept: clearing with an older mark is the safe side (the date is written once more).</summary>
    private readonly System.Collections.Concurrent.ConcurrentDictionary<string, long> _dirtyMarks = new(StringComparer.Ordinal);

    public List<string> DirtyResearchDates(int limit) => Query("SELECT sample_date, mark FROM research_dirty ORDER BY sample_date LIMIT $1", r =>
    {
        _dirtyMarks.TryAdd(r.GetString(0), r.GetInt64(1));
        return r.GetString(0);
    }, limit);

    /// <summary>A date's research rows in key order, a page after the key <paramref name="after"/> (the (sample_date, key)
    /// index serves it).</summary>
    public List<ResearchRowRecord> ResearchRows(string sampleDate, string? after = null, int limit = int.MaxValue) => Query(
        "SELECT key, person_id, version, sample_date, json FROM research_rows WHERE sample_date = $1 AND key > $2 " +
        "AND person_id NOT IN (SELECT person_id FROM oppositions WHERE person_id IS NOT NULL) ORDER BY key LIMIT $3",
        r => new ResearchRowRecord(r.GetString(0), r.GetInt64(1), r.GetInt32(2), r.GetString(3), r.GetString(4)) { Cursor = r.GetString(0) },
        sampleDate, after ?? "", (long)limit);

    public void ResearchWritten(IEnumerable<string> sampleDates) => InTransaction((c, tx) =>
    {
        foreach (string date in sampleDates)
        {
            if (_dirtyMarks.TryRemove(date, out long mark))
            {
                Execute(c, tx, "DELETE FROM research_dirty WHERE sample_date = $1 AND mark <= $2", date, mark);
            }
        }
        return 0;
    });

    public List<long> ResearchPersons() => Query("SELECT DISTINCT person_id FROM research_rows ORDER BY person_id", r => r.GetInt64(0));

    public void Audit(string agent, string role, string action, string query, IReadOnlyList<string> caseIds, DateTimeOffset at) => InTransaction((c, tx) =>
    {
        using NpgsqlCommand insert = Command(c, tx, "INSERT INTO audit (at, agent, role, action, query, case_ids) VALUES ($1, $2, $3, $4, $5, $6)",
            at.ToUnixTimeMilliseconds(), agent, role, action, query, string.Join(',', caseIds));
        return insert.ExecuteNonQuery();
    });

    public List<AuditRecord> AuditLog(long afterId, int limit) => Query(
        "SELECT id, at, agent, role, action, query, case_ids FROM audit WHERE id > $1 ORDER BY id LIMIT $2",
        r => new AuditRecord(r.GetInt64(0), DateTimeOffset.FromUnixTimeMilliseconds(r.GetInt64(1)), r.GetString(2), r.GetString(3), r.GetString(4), r.GetString(5),
            r.GetString(6).Split(',', StringSplitOptions.RemoveEmptyEntries)), afterId, limit);

    public void Dispose() => _source.Dispose();
}
