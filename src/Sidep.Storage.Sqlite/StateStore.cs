using System.Diagnostics;
using System.Diagnostics.Metrics;
using System.Runtime.CompilerServices;
using System.Security.Cryptography;
using System.Text;
using Microsoft.Data.Sqlite;

using Sidep.Domain;
using Sidep.Pipeline;

namespace Sidep.Storage.Sqlite;



/// <summary>The embedded database (SQLite): labs, the latest version of every result, consumer positions.</summary>
public sealed partial class StateStore : IStageStore, ILabRegister
{
    private readonly SqliteConnection _connection;
    private readonly Lock _lock = new();
    /// <summary>A second connection for the lab register's lookups (every HTTP request, every MLLP connection): in WAL
    /// mode it reads while the stages write, instead of waiting for their transactions under <see cref="_lock"/>.</summary>
    private SqliteConnection? _reader;
    private readonly Lock _readLock = new();

    private StateStore(SqliteConnection connection) => _connection = connection;

    /// <param name="file">The database file in <paramref name="directory"/> (the embedded mode keeps each stage's rows in
    /// a file of its own: <see cref="EmbeddedStores"/>).</param>
    /// <param name="cacheMiB">The page cache of this file's writer.</param>
    public static StateStore Open(string directory, string file = "sidep.db", int cacheMiB = 256)
    {
        Directory.CreateDirectory(directory);
        var connection = new SqliteConnection(new SqliteConnectionStringBuilder
        {
            DataSource = Path.Combine(directory, file),
            Mode = SqliteOpenMode.ReadWriteCreate,
            Pooling = false,
        }.ToString());
        connection.Open();
        var store = new StateStore(connection);
        // A page cache of 256 MiB by default (the default 2 MiB made nearly every index insert of a busy day a read from
        // the operating system).
        store.Execute(string.Create(System.Globalization.CultureInfo.InvariantCulture, $"PRAGMA cache_size = -{cacheMiB * 1024}"));
        store.Execute("""
            PRAGMA journal_mode = WAL;
            PRAGMA synchronous = FULL;
            PRAGMA busy_timeout = 5000;
            -- A checkpoint every 10,000 WAL pages rather than 1,000.
            PRAGMA wal_autocheckpoint = 10000;
            -- Once checkpointed, the WAL is cut back to 8 MiB instead of staying at its largest (40 MiB a file).
            PRAGMA journal_size_limit = 8388608;
            CREATE TABLE IF NOT EXISTS labs (
                finess TEXT PRIMARY KEY,
                name TEXT NOT NULL,
                api_key_hash TEXT NOT NULL UNIQUE,
                facility_ids TEXT NOT NULL DEFAULT '',
                mllp_sources TEXT NOT NULL DEFAULT '',
                mllp_certs TEXT NOT NULL DEFAULT '',
                created_at TEXT NOT NULL);
            CREATE TABLE IF NOT EXISTS transcoding (
                lab TEXT NOT NULL,
                local_code TEXT NOT NULL,
                loinc TEXT NOT NULL,
                label TEXT,
                updated_at TEXT NOT NULL,
                PRIMARY KEY (lab, local_code));
            CREATE TABLE IF NOT EXISTS matches (
                lab_id TEXT NOT NULL,
                accession_id TEXT NOT NULL,
                test_code TEXT NOT NULL,
                version INTEGER NOT NULL,
                person_id INTEGER NOT NULL,
                rule TEXT NOT NULL,
                score REAL NOT NULL,
                decision TEXT NOT NULL,
                PRIMARY KEY (lab_id, accession_id, test_code, version));
            CREATE INDEX IF NOT EXISTS matches_person ON matches (person_id);
            CREATE TABLE IF NOT EXISTS person_merges (
                from_person INTEGER PRIMARY KEY,
                into_person INTEGER NOT NULL);
            CREATE TABLE IF NOT EXISTS consumer_offsets (
                consumer TEXT NOT NULL,
                partition INTEGER NOT NULL,
                next_offset INTEGER NOT NULL,
                PRIMARY KEY (consumer, partition));
            CREATE TABLE IF NOT EXISTS indicator_revisions (
                rev INTEGER PRIMARY KEY,
                processed_at INTEGER NOT NULL,
                results INTEGER NOT NULL,
                cells INTEGER NOT NULL);
            CREATE INDEX IF NOT EXISTS indicator_revisions_time ON indicator_revisions (processed_at);
            CREATE TABLE IF NOT EXISTS indicator_deltas (
                rev INTEGER NOT NULL,
                day INTEGER NOT NULL,
                cell INTEGER NOT NULL,
                dp INTEGER NOT NULL,
                dt INTEGER NOT NULL);
            CREATE INDEX IF NOT EXISTS indicator_deltas_rev ON indicator_deltas (rev);
            """);
        store.AddColumnIfMissing("labs", "mllp_certs", "TEXT NOT NULL DEFAULT ''");
        // Numbers the transcoding changes (what TranscodingChangedAfter follows); rows from before it count as change 0.
        store.AddColumnIfMissing("transcoding", "mark", "INTEGER NOT NULL DEFAULT 0");
        store.CreateCaseTables();
        store.CreateResearchTables();
        store.CreateActivityTables();
        store._reader = new SqliteConnection(connection.ConnectionString);
        store._reader.Open();
        using (SqliteCommand busy = store._reader.CreateCommand())
        {
            busy.CommandText = "PRAGMA busy_timeout = 5000";
            busy.ExecuteNonQuery();
        }
        return store;
    }

    /// <summary>
    /// A write of derived state (a stage's rows and position, all recomputable from the fsynced journal): committed with
    /// <c>synchronous = NORMAL</c>, durable across a crash of the process but not necessarily of the machine, where the
    /// last such commits may roll back and the stage replays from its older position (its outputs already written are
    /// recognised, as after a crash between its output and its store write). Everything else — labs, transcoding
    /// tables, oppositions, acknowledgements, audit — stays <c>FULL</c>: fsynced at each commit. A FULL commit also
    /// makes every earlier NORMAL one durable (one WAL).
    /// </summary>
    private DerivedWrite BeginDerived([CallerMemberName] string write = "")
    {
        long started = Stopwatch.GetTimestamp();
        Execute("PRAGMA synchronous = NORMAL");
        return new DerivedWrite(this, _connection.BeginTransaction(), write, started);
    }

    /// <summary>The store's metrics: how long each stage's write holds the store (its one connection), per write.</summary>
    public static readonly Meter Meter = new("Sidep.Storage");

    private static readonly Histogram<double> s_stageWrite = Meter.CreateHistogram<double>("sidep.store.stage_write", unit: "ms",
        description: "Time a stage's write (rows and position, one transaction) holds the embedded store, by write");

    private sealed class DerivedWrite(StateStore store, SqliteTransaction transaction, string write, long started) : IDisposable
    {
        public SqliteTransaction Transaction { get; } = transaction;

        public void Dispose()
        {
            Transaction.Dispose();
            store.Execute("PRAGMA synchronous = FULL");
            s_stageWrite.Record(Stopwatch.GetElapsedTime(started).TotalMilliseconds, new KeyValuePair<string, object?>("write", write));
        }
    }

    private void AddColumnIfMissing(string table, string column, string definition)
    {
        using SqliteCommand check = _connection.CreateCommand();
        check.CommandText = $"SELECT count(*) FROM pragma_table_info('{table}') WHERE name = '{column}'";
        if ((long)check.ExecuteScalar()! == 0)
        {
            Execute($"ALTER TABLE {table} ADD COLUMN {column} {definition}");
        }
    }

    /// <summary>Registers (or re-keys) labs in one transaction; returns their API keys in order, shown once. A lab
    /// registered again gets the name, facility ids, MLLP sources and certificates of this registration (they replace
    /// the old lists) and a new key.</summary>
    /// <exception cref="LabConflictException">A facility id (or FINESS) another lab sends as: nothing is registered.</exception>
    public List<string> AddLabs(IReadOnlyList<LabRegistration> labs)
    {
        var keys = new List<string>(labs.Count);
        lock (_lock)
        {
            if (LabRules.Conflicts(ListLabs(), labs) is [_, ..] conflicts)
            {
                throw new LabConflictException(conflicts);
            }
            using SqliteTransaction tx = _connection.BeginTransaction();
            using SqliteCommand cmd = _connection.CreateCommand();
            cmd.Transaction = tx;
            cmd.CommandText = """
                INSERT INTO labs (finess, name, api_key_hash, facility_ids, mllp_sources, mllp_certs, created_at)
                VALUES ($finess, $name, $hash, $facilities, $sources, $certs, $now)
                ON CONFLICT (finess) DO UPDATE SET name = excluded.name, api_key_hash = excluded.api_key_hash,
                    facility_ids = excluded.facility_ids, mllp_sources = excluded.mllp_sources, mllp_certs = excluded.mllp_certs
                """;
            SqliteParameter finess = cmd.Parameters.Add("$finess", SqliteType.Text), name = cmd.Parameters.Add("$name", SqliteType.Text),
                hash = cmd.Parameters.Add("$hash", SqliteType.Text), facilities = cmd.Parameters.Add("$facilities", SqliteType.Text),
                sources = cmd.Parameters.Add("$sources", SqliteType.Text), certs = cmd.Parameters.Add("$certs", SqliteType.Text),
                now = cmd.Parameters.Add("$now", SqliteType.Text);
            foreach (LabRegistration lab in labs)
            {
                string apiKey = LabRules.NewApiKey();
                finess.Value = lab.Finess;
                name.Value = lab.Name;
                hash.Value = LabRules.HashKey(apiKey);
                facilities.Value = string.Join('\n', lab.FacilityIds);
                sources.Value = string.Join('\n', lab.MllpSources);
                certs.Value = string.Join('\n', lab.MllpCertificates.Select(LabRules.Thumbprint));
                now.Value = DateTimeOffset.UtcNow.ToString("O");
                cmd.ExecuteNonQuery();
                keys.Add(apiKey);
            }
            tx.Commit();
        }
        return keys;
    }

    public Lab? FindLabByApiKey(string apiKey) => QueryLabs("WHERE api_key_hash = $p", LabRules.HashKey(apiKey)).FirstOrDefault();

    public Lab? FindLab(string finess) => QueryLabs("WHERE finess = $p", finess).FirstOrDefault();

    public List<Lab> ListLabs() => QueryLabs("ORDER BY finess", null);

    /// <summary>The lab whose plain-TCP MLLP connections come from <paramref name="address"/>, if any.</summary>
    public Lab? FindLabByMllpSource(string address) =>
        QueryLabs("WHERE instr(char(10) || mllp_sources || char(10), char(10) || $p || char(10)) > 0 ORDER BY finess", address).FirstOrDefault();

    private List<Lab> QueryLabs(string where, string? parameter)
    {
        lock (_readLock)
        {
            using SqliteCommand cmd = _reader!.CreateCommand();
            cmd.CommandText = $"SELECT finess, name, facility_ids, mllp_sources, mllp_certs FROM labs {where}";
            if (parameter is not null)
            {
                cmd.Parameters.AddWithValue("$p", parameter);
            }
            using SqliteDataReader r = cmd.ExecuteReader();
            var labs = new List<Lab>();
            while (r.Read())
            {
                labs.Add(new Lab(r.GetString(0), r.GetString(1), Split(r.GetString(2)), Split(r.GetString(3))) { MllpCertificates = Split(r.GetString(4)) });
            }
            return labs;
        }
    }

    public Lab? FindLabByCertificate(string thumbprint) =>
        QueryLabs("WHERE instr(char(10) || mllp_certs || char(10), char(10) || $p || char(10)) > 0 ORDER BY finess", LabRules.Thumbprint(thumbprint)).FirstOrDefault();

    private static string[] Split(string s) => s.Split('\n', StringSplitOptions.RemoveEmptyEntries);

    /// <summary>Adds or replaces mappings of a lab's local codes; returns how many were new and how many changed.</summary>
    public (int Added, int Updated) UpsertTranscoding(string lab, IReadOnlyList<TranscodingRow> rows)
    {
        lock (_lock)
        {
            using SqliteTransaction tx = _connection.BeginTransaction();
            int added = 0, updated = 0;
            using SqliteCommand find = _connection.CreateCommand();
            find.Transaction = tx;
            find.CommandText = "SELECT loinc FROM transcoding WHERE lab = $lab AND local_code = $code";
            SqliteParameter findLab = find.Parameters.Add("$lab", SqliteType.Text), findCode = find.Parameters.Add("$code", SqliteType.Text);
            using SqliteCommand upsert = _connection.CreateCommand();
            upsert.Transaction = tx;
            upsert.CommandText = "INSERT INTO transcoding (lab, local_code, loinc, label, updated_at, mark) " +
                "VALUES ($lab, $code, $loinc, $label, $now, (SELECT coalesce(max(mark), 0) + 1 FROM transcoding)) " +
                "ON CONFLICT (lab, local_code) DO UPDATE SET loinc = excluded.loinc, label = excluded.label, updated_at = excluded.updated_at, mark = excluded.mark";
            SqliteParameter labParameter = upsert.Parameters.Add("$lab", SqliteType.Text), code = upsert.Parameters.Add("$code", SqliteType.Text),
                loinc = upsert.Parameters.Add("$loinc", SqliteType.Text), label = upsert.Parameters.Add("$label", SqliteType.Text),
                now = upsert.Parameters.Add("$now", SqliteType.Text);
            foreach (TranscodingRow row in rows)
            {
                findLab.Value = lab;
                findCode.Value = row.LocalCode;
                object? existing = find.ExecuteScalar();
                if (existing is null)
                {
                    added++;
                }
                else if ((string)existing != row.Loinc)
                {
                    updated++;
                }
                labParameter.Value = lab;
                code.Value = row.LocalCode;
                loinc.Value = row.Loinc;
                label.Value = (object?)row.Label ?? DBNull.Value;
                now.Value = DateTimeOffset.UtcNow.ToString("O");
                upsert.ExecuteNonQuery();
            }
            tx.Commit();
            return (added, updated);
        }
    }

    public List<(string Lab, TranscodingRow Row)> ListTranscoding(string? lab = null) =>
        [.. Transcoding(lab is null ? "ORDER BY lab, local_code" : "WHERE lab = $p ORDER BY lab, local_code", lab).Select(c => (c.Lab, c.Row))];

    public List<TranscodingChange> TranscodingChangedAfter(long mark) => Transcoding("WHERE mark > $p ORDER BY mark", mark);

    /// <param name="clause">What follows FROM transcoding; <paramref name="parameter"/> is its $p, when it has one.</param>
    private List<TranscodingChange> Transcoding(string clause, object? parameter)
    {
        lock (_lock)
        {
            using SqliteCommand cmd = _connection.CreateCommand();
            cmd.CommandText = $"SELECT lab, local_code, loinc, label, mark FROM transcoding {clause}";
            if (parameter is not null)
            {
                cmd.Parameters.AddWithValue("$p", parameter);
            }
            using SqliteDataReader r = cmd.ExecuteReader();
            var rows = new List<TranscodingChange>();
            while (r.Read())
            {
                rows.Add(new TranscodingChange(r.GetInt64(4), r.GetString(0), new TranscodingRow(r.GetString(1), r.GetString(2), r.IsDBNull(3) ? null : r.GetString(3))));
            }
            return rows;
        }
    }

    /// <summary>Writes matches and moves the consumer's position in one transaction.</summary>
    public void ApplyMatches(string consumer, long nextSequence, IReadOnlyList<MatchRow> rows, IReadOnlyList<(long From, long Into)> merges)
    {
        lock (_lock)
        {
            if (GetOffset(consumer, -1) >= nextSequence)
            {
                return; // already applied: a batch written again after a crash before its transport heard of it
            }
            using DerivedWrite derived = BeginDerived();
            SqliteTransaction tx = derived.Transaction;
            using (var insert = new RowStatement(_connection, "INSERT INTO matches (lab_id, accession_id, test_code, version, person_id, rule, score, decision) " +
                "VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8) ON CONFLICT (lab_id, accession_id, test_code, version) DO NOTHING"))
            {
                foreach (MatchRow r in rows)
                {
                    insert.Text(1, r.LabId).Text(2, r.AccessionId).Text(3, r.TestCode).Integer(4, r.Version).Integer(5, r.PersonId).Text(6, r.Rule)
                        .Real(7, r.Score).Text(8, r.DecisionJson).Run();
                }
            }
            using (SqliteCommand merge = _connection.CreateCommand())
            {
                merge.Transaction = tx;
                merge.CommandText = "INSERT INTO person_merges (from_person, into_person) VALUES ($from, $into) ON CONFLICT DO NOTHING";
                SqliteParameter from = merge.Parameters.Add("$from", SqliteType.Integer), into = merge.Parameters.Add("$into", SqliteType.Integer);
                foreach ((long f, long i) in merges)
                {
                    (from.Value, into.Value) = (f, i);
                    merge.ExecuteNonQuery();
                }
            }
            SetOffset(tx, consumer, -1, nextSequence);
            tx.Commit();
        }
    }

    /// <summary>The decisions that placed results with a person (and with the persons merged into it).</summary>
    public List<MatchRow> DecisionsOf(long personId)
    {
        lock (_lock)
        {
            using SqliteCommand cmd = _connection.CreateCommand();
            cmd.CommandText = "SELECT lab_id, accession_id, test_code, version, person_id, rule, score, decision FROM matches " +
                "WHERE person_id = $p OR person_id IN (SELECT from_person FROM person_merges WHERE into_person = $p) ORDER BY rowid";
            cmd.Parameters.AddWithValue("$p", personId);
            using SqliteDataReader r = cmd.ExecuteReader();
            var rows = new List<MatchRow>();
            while (r.Read())
            {
                rows.Add(ReadMatch(r, 0));
            }
            return rows;
        }
    }

    private static MatchRow ReadMatch(SqliteDataReader r, int at) => new(r.GetString(at), r.GetString(at + 1), r.GetString(at + 2), r.GetInt32(at + 3),
        r.GetInt64(at + 4), r.GetString(at + 5), r.GetDouble(at + 6), r.GetString(at + 7));

    /// <summary>The decisions a person must review, oldest first: possible matches (similar, not linked) and INS
    /// conflicts (same INS, incompatible traits), after the one at <paramref name="afterRowId"/>.</summary>
    public List<(long Id, MatchRow Row)> ReviewQueue(long afterRowId, int limit)
    {
        lock (_lock)
        {
            using SqliteCommand cmd = _connection.CreateCommand();
            cmd.CommandText = "SELECT rowid, lab_id, accession_id, test_code, version, person_id, rule, score, decision FROM matches " +
                "WHERE rule IN ('PossibleMatch', 'InsConflict') AND rowid > $after ORDER BY rowid LIMIT $limit";
            cmd.Parameters.AddWithValue("$after", afterRowId);
            cmd.Parameters.AddWithValue("$limit", limit);
            using SqliteDataReader r = cmd.ExecuteReader();
            var rows = new List<(long, MatchRow)>();
            while (r.Read())
            {
                rows.Add((r.GetInt64(0), ReadMatch(r, 1)));
            }
            return rows;
        }
    }

    /// <summary>Where <paramref name="consumer"/> resumes on <paramref name="partition"/>.</summary>
    /// <summary>Committed positions, read without waiting for a stage's write (the pipeline's lag is read at every
    /// submission): an entry is dropped, under the write lock, by the transaction that moves it, and read back once
    /// that transaction has committed or rolled back.</summary>
    private readonly System.Collections.Concurrent.ConcurrentDictionary<(string Consumer, int Partition), long> _offsets = new();

    public long GetOffset(string consumer, int partition)
    {
        if (_offsets.TryGetValue((consumer, partition), out long cached))
        {
            return cached;
        }
        lock (_lock)
        {
            using SqliteCommand cmd = _connection.CreateCommand();
            cmd.CommandText = "SELECT next_offset FROM consumer_offsets WHERE consumer = $c AND partition = $p";
            cmd.Parameters.AddWithValue("$c", consumer);
            cmd.Parameters.AddWithValue("$p", partition);
            long offset = cmd.ExecuteScalar() is long stored ? stored : 0;
            // Committed: positions are read here only outside this connection's transactions (the writes read theirs
            // before they begin), and no other thread's transaction is open while this one holds the lock.
            _offsets[(consumer, partition)] = offset;
            return offset;
        }
    }

    /// <summary>Runs a query and reads every row with <paramref name="read"/>.</summary>
    private List<T> Query<T>(string sql, Func<SqliteDataReader, T> read, params (string Name, object Value)[] parameters)
    {
        lock (_lock)
        {
            using SqliteCommand cmd = Command(null, sql, parameters);
            using SqliteDataReader r = cmd.ExecuteReader();
            var rows = new List<T>();
            while (r.Read())
            {
                rows.Add(read(r));
            }
            return rows;
        }
    }

    private int Run(SqliteTransaction? tx, string sql, params (string Name, object Value)[] parameters)
    {
        using SqliteCommand cmd = Command(tx, sql, parameters);
        return cmd.ExecuteNonQuery();
    }

    private object? Scalar(SqliteTransaction? tx, string sql, params (string Name, object Value)[] parameters)
    {
        using SqliteCommand cmd = Command(tx, sql, parameters);
        return cmd.ExecuteScalar();
    }

    /// <summary>Moves a consumer's position inside the transaction of the writes it covers (-1: a consumer of the
    /// journal's global order rather than of one partition).</summary>
    private void SetOffset(SqliteTransaction tx, string consumer, int partition, long next)
    {
        _offsets.TryRemove((consumer, partition), out _);
        using SqliteCommand offset = _connection.CreateCommand();
        offset.Transaction = tx;
        offset.CommandText = "INSERT INTO consumer_offsets (consumer, partition, next_offset) VALUES ($c, $p, $o) " +
            "ON CONFLICT (consumer, partition) DO UPDATE SET next_offset = excluded.next_offset";
        offset.Parameters.AddWithValue("$c", consumer);
        offset.Parameters.AddWithValue("$p", partition);
        offset.Parameters.AddWithValue("$o", next);
        offset.ExecuteNonQuery();
    }

    /// <summary>A command with its parameters, in the transaction when there is one.</summary>
    private SqliteCommand Command(SqliteTransaction? tx, string sql, params (string Name, object Value)[] parameters)
    {
        SqliteCommand cmd = _connection.CreateCommand();
        cmd.Transaction = tx;
        cmd.CommandText = sql;
        foreach ((string name, object value) in parameters)
        {
            cmd.Parameters.AddWithValue(name, value);
        }
        return cmd;
    }

    private void Execute(string sql)
    {
        using SqliteCommand cmd = _connection.CreateCommand();
        cmd.CommandText = sql;
        cmd.ExecuteNonQuery();
    }

    public void Dispose()
    {
        _reader?.Dispose();
        _connection.Dispose();
    }
}
