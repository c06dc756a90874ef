using Microsoft.Data.Sqlite;

using Sidep.Domain;
using Sidep.Pipeline;

namespace Sidep.Storage.Sqlite;

public sealed partial class StateStore
{
    private void CreateResearchTables() => Execute("""
        CREATE TABLE IF NOT EXISTS research_rows (
            key TEXT PRIMARY KEY,
            person_id INTEGER NOT NULL,
            version INTEGER NOT NULL,
            sample_date TEXT NOT NULL,
            json TEXT NOT NULL);
        CREATE INDEX IF NOT EXISTS research_rows_date ON research_rows (sample_date);
        CREATE INDEX IF NOT EXISTS research_rows_person ON research_rows (person_id);
        CREATE TABLE IF NOT EXISTS research_dirty (sample_date TEXT PRIMARY KEY);
        CREATE TABLE IF NOT EXISTS research_persons_merged (from_person INTEGER PRIMARY KEY, into_person INTEGER NOT NULL);
        CREATE TABLE IF NOT EXISTS oppositions (
            id INTEGER PRIMARY KEY,
            recorded_at INTEGER NOT NULL,
            person_id INTEGER,
            identity_key TEXT);
        CREATE INDEX IF NOT EXISTS oppositions_person ON oppositions (person_id);
        CREATE INDEX IF NOT EXISTS oppositions_identity ON oppositions (identity_key);
        """);

    /// <summary>Applies a batch of research changes with the stage's position in one transaction; the sample dates
    /// whose partition must be written again are remembered.</summary>
    public void ApplyResearch(string consumer, long nextSequence, IReadOnlyList<ResearchChange> changes)
    {
        lock (_lock)
        {
            if (GetOffset(consumer, -1) >= nextSequence)
            {
                return; // already applied: a batch written again after a crash before its transport heard of it
            }
            LoadOppositions(); // a query of its own: not inside the transaction below
            using DerivedWrite derived = BeginDerived();
            SqliteTransaction tx = derived.Transaction;
            // The statements of the common case, prepared once for the batch rather than once per row.
            using var dirtyOld = new RowStatement(_connection,
                "INSERT OR IGNORE INTO research_dirty (sample_date) SELECT sample_date FROM research_rows WHERE key = ?1 AND version < ?2");
            using var upsert = new RowStatement(_connection, "INSERT INTO research_rows (key, person_id, version, sample_date, json) VALUES (?1, ?2, ?3, ?4, ?5) " +
                "ON CONFLICT (key) DO UPDATE SET person_id = excluded.person_id, version = excluded.version, sample_date = excluded.sample_date, json = excluded.json " +
                "WHERE excluded.version > research_rows.version");
            using var dirtyNew = new RowStatement(_connection, "INSERT OR IGNORE INTO research_dirty (sample_date) VALUES (?1)");
            var markedNew = new HashSet<string>(StringComparer.Ordinal); // a batch's rows fall on a few dates: each marked once
            foreach (ResearchChange change in changes)
            {
                switch (change)
                {
                    case ResearchUpsert { Row: var r }:
                        if (r.Version > 1)
                        {
                            // The date of the version this one replaces (a first version replaces none).
                            dirtyOld.Text(1, r.Key).Integer(2, r.Version).Run();
                        }
                        if (upsert.Text(1, r.Key).Integer(2, r.PersonId).Integer(3, r.Version).Text(4, r.SampleDate).Text(5, r.Json).Run() > 0
                            && markedNew.Add(r.SampleDate))
                        {
                            dirtyNew.Text(1, r.SampleDate).Run();
                        }
                        break;
                    case ResearchRemove remove:
                        MarkDirty(tx, "SELECT sample_date FROM research_rows WHERE key = $k AND version < $v", ("$k", remove.Key), ("$v", remove.Version));
                        Run(tx, "DELETE FROM research_rows WHERE key = $k AND version < $v", ("$k", remove.Key), ("$v", remove.Version));
                        break;
                    case ResearchMerge merge:
                        MarkDirty(tx, "SELECT DISTINCT sample_date FROM research_rows WHERE person_id = $p", ("$p", merge.From));
                        Run(tx, "UPDATE research_rows SET person_id = $into WHERE person_id = $from", ("$into", merge.Into), ("$from", merge.From));
                        Run(tx, "INSERT OR IGNORE INTO research_persons_merged (from_person, into_person) VALUES ($from, $into)", ("$from", merge.From), ("$into", merge.Into));
                        if (Run(tx, "UPDATE oppositions SET person_id = $into WHERE person_id = $from", ("$into", merge.Into), ("$from", merge.From)) > 0)
                        {
                            LoadOppositions();
                            lock (_oppositionsLock)
                            {
                                _opposedPersons!.Add(merge.Into);
                            }
                        }
                        break;
                }
            }
            SetOffset(tx, consumer, -1, nextSequence);
            tx.Commit();
        }
    }

    private void MarkDirty(SqliteTransaction tx, string select, params (string Name, object Value)[] parameters)
    {
        Run(tx, $"INSERT OR IGNORE INTO research_dirty (sample_date) {select}", parameters);
    }

    /// <summary>Records an opposition to research use: for a known person, their rows go and every partition that held
    /// one is written again; an identity key (INS or traits) also stops rows of results not yet arrived.</summary>
    public void RecordOpposition(long? personId, string? identityKey, DateTimeOffset at)
    {
        lock (_lock)
        {
            LoadOppositions();
            using SqliteTransaction tx = _connection.BeginTransaction();
            Run(tx, "INSERT INTO oppositions (recorded_at, person_id, identity_key) VALUES ($at, $p, $i)",
                ("$at", at.ToUnixTimeMilliseconds()), ("$p", personId is long p ? p : DBNull.Value), ("$i", identityKey is string i ? i : DBNull.Value));
            LoadOppositions();
            lock (_oppositionsLock)
            {
                if (personId is long known)
                {
                    _opposedPersons!.Add(known);
                }
                if (identityKey is not null)
                {
                    _opposedKeys!.Add(identityKey);
                }
            }
            if (personId is long person)
            {
                MarkDirty(tx, "SELECT DISTINCT sample_date FROM research_rows WHERE person_id = $p", ("$p", person));
            }
            tx.Commit();
        }
    }

    /// <summary>Oppositions are rare and asked about for every result: kept in memory too, loaded once (under the
    /// store's lock, which holds the connection), then read under a lock of their own — the research stage asks for
    /// every result, and must not wait for another stage's transaction each time.</summary>
    private HashSet<long>? _opposedPersons;
    private HashSet<string>? _opposedKeys;
    private readonly Lock _oppositionsLock = new();

    private void LoadOppositions()
    {
        if (Volatile.Read(ref _opposedPersons) is not null)
        {
            return;
        }
        HashSet<string> keys = new(Query("SELECT identity_key FROM oppositions WHERE identity_key IS NOT NULL", r => r.GetString(0)), StringComparer.Ordinal);
        HashSet<long> persons = [.. Query("SELECT person_id FROM oppositions WHERE person_id IS NOT NULL", r => r.GetInt64(0))];
        lock (_oppositionsLock)
        {
            _opposedKeys = keys;
            Volatile.Write(ref _opposedPersons, persons);
        }
    }

    private void EnsureOppositions()
    {
        if (Volatile.Read(ref _opposedPersons) is null)
        {
            lock (_lock)
            {
                LoadOppositions();
            }
        }
    }

    /// <summary>Whether a person opposed research use.</summary>
    public bool OpposedPerson(long personId)
    {
        EnsureOppositions();
        lock (_oppositionsLock)
        {
            return _opposedPersons!.Contains(personId);
        }
    }

    /// <summary>Whether any opposition names an identity (INS or traits): only then are a result's keys worth making.</summary>
    public bool HasIdentityOppositions
    {
        get
        {
            EnsureOppositions();
            lock (_oppositionsLock)
            {
                return _opposedKeys!.Count > 0;
            }
        }
    }

    /// <summary>The first of these identity keys an opposition names, or null.</summary>
    public string? OpposedIdentity(IEnumerable<string> identityKeys)
    {
        EnsureOppositions();
        lock (_oppositionsLock)
        {
            return identityKeys.FirstOrDefault(_opposedKeys!.Contains);
        }
    }

    /// <summary>Ties an opposition made by identity to the person it turned out to be.</summary>
    public void AttachOpposition(long personId, string identityKey)
    {
        lock (_lock)
        {
            LoadOppositions();
            using SqliteTransaction tx = _connection.BeginTransaction();
            Run(tx, "UPDATE oppositions SET person_id = $p WHERE identity_key = $k AND person_id IS NULL", ("$p", personId), ("$k", identityKey));
            LoadOppositions();
            lock (_oppositionsLock)
            {
                _opposedPersons!.Add(personId);
            }
            MarkDirty(tx, "SELECT DISTINCT sample_date FROM research_rows WHERE person_id = $p", ("$p", personId));
            tx.Commit();
        }
    }

    /// <summary>Sample dates whose partition must be written again.</summary>
    public List<string> DirtyResearchDates(int limit) =>
        Query("SELECT sample_date FROM research_dirty ORDER BY sample_date LIMIT $limit", r => r.GetString(0), ("$limit", limit));

    /// <summary>The research rows of a sample date, without those of persons who opposed, in row order (a page: after
    /// the row <paramref name="after"/>, at most <paramref name="limit"/>): the sample date's index holds a date's rows in
    /// that order, so a page is a range of it. (Key order would need an index on (sample_date, key): measured on the
    /// peak day, its random-order inserts cost 30 s more of the server's system CPU.)</summary>
    public List<ResearchRowRecord> ResearchRows(string sampleDate, string? after = null, int limit = int.MaxValue) => Query(
        "SELECT rowid, key, person_id, version, sample_date, json FROM research_rows WHERE sample_date = $d AND rowid > $after " +
        "AND person_id NOT IN (SELECT person_id FROM oppositions WHERE person_id IS NOT NULL) ORDER BY rowid LIMIT $limit",
        r => new ResearchRowRecord(r.GetString(1), r.GetInt64(2), r.GetInt32(3), r.GetString(4), r.GetString(5))
        {
            Cursor = r.GetInt64(0).ToString(System.Globalization.CultureInfo.InvariantCulture),
        },
        ("$d", sampleDate), ("$after", after is null ? 0L : long.Parse(after, System.Globalization.CultureInfo.InvariantCulture)), ("$limit", limit));

    /// <summary>Marks partitions written (the research stage writes them between its batches, so nothing marks them
    /// meanwhile).</summary>
    public void ResearchWritten(IEnumerable<string> sampleDates)
    {
        lock (_lock)
        {
            foreach (string date in sampleDates)
            {
                Run(null, "DELETE FROM research_dirty WHERE sample_date = $d", ("$d", date));
            }
        }
    }

    /// <summary>Every person with research rows (for the pseudonym link table of a key rotation).</summary>
    public List<long> ResearchPersons() => Query("SELECT DISTINCT person_id FROM research_rows ORDER BY person_id", r => r.GetInt64(0));
}
