using Microsoft.Data.Sqlite;

using Sidep.Domain;
using Sidep.Pipeline;

namespace Sidep.Storage.Sqlite;

public sealed partial class StateStore
{
    private void CreateCaseTables() => Execute("""
        CREATE TABLE IF NOT EXISTS case_results (
            key TEXT PRIMARY KEY,
            version INTEGER NOT NULL,
            json TEXT NOT NULL);
        CREATE TABLE IF NOT EXISTS cases (
            seq INTEGER PRIMARY KEY,
            case_id TEXT NOT NULL UNIQUE,
            positive_key TEXT NOT NULL,
            person_id INTEGER NOT NULL,
            sample_date TEXT NOT NULL,
            territory TEXT NOT NULL,
            region TEXT NOT NULL,
            status TEXT NOT NULL,
            updated_at INTEGER NOT NULL,
            json TEXT NOT NULL);
        CREATE INDEX IF NOT EXISTS cases_key ON cases (positive_key);
        CREATE INDEX IF NOT EXISTS cases_person ON cases (person_id, sample_date);
        CREATE INDEX IF NOT EXISTS cases_territory ON cases (territory, seq);
        CREATE TABLE IF NOT EXISTS notices (
            id INTEGER PRIMARY KEY,
            case_id TEXT NOT NULL UNIQUE,
            channel TEXT NOT NULL,
            created_at INTEGER NOT NULL,
            acked_at INTEGER,
            json TEXT NOT NULL);
        CREATE TABLE IF NOT EXISTS audit (
            id INTEGER PRIMARY KEY,
            at INTEGER NOT NULL,
            agent TEXT NOT NULL,
            role TEXT NOT NULL,
            action TEXT NOT NULL,
            query TEXT NOT NULL,
            case_ids TEXT NOT NULL);
        CREATE TRIGGER IF NOT EXISTS audit_no_update BEFORE UPDATE ON audit BEGIN SELECT RAISE(ABORT, 'the audit log is append-only'); END;
        CREATE TRIGGER IF NOT EXISTS audit_no_delete BEFORE DELETE ON audit BEGIN SELECT RAISE(ABORT, 'the audit log is append-only'); END;
        """);

    /// <summary>
    /// Applies a batch of the fan-out in one transaction with its position: keeps the positive results, then the
    /// case changes in order. An episode that starts again (a merge, a correction of a detail) updates its case — found
    /// by its positive result, else by its person and day — and never opens a second one; a notice is written once
    /// per case, ever, so replays and restarts send nothing twice.
    /// </summary>
    public void ApplyFanOut(string consumer, long nextSequence, IReadOnlyList<PositiveResult> positives, IReadOnlyList<CaseChange> changes,
        Func<string, string> caseIdOf, DateTimeOffset now)
    {
        lock (_lock)
        {
            if (GetOffset(consumer, -1) >= nextSequence)
            {
                return; // already applied: a batch written again after a crash before its transport heard of it
            }
            using DerivedWrite derived = BeginDerived();
            SqliteTransaction tx = derived.Transaction;
            foreach (PositiveResult p in positives)
            {
                Run(tx, "INSERT INTO case_results (key, version, json) VALUES ($k, $v, $j) ON CONFLICT (key) DO UPDATE SET version = excluded.version, json = excluded.json WHERE excluded.version > case_results.version",
                    ("$k", p.Key), ("$v", p.Version), ("$j", p.Json));
            }
            long at = now.ToUnixTimeMilliseconds();
            foreach (CaseChange c in changes)
            {
                if (!c.Started)
                {
                    Run(tx, "UPDATE cases SET status = 'withdrawn', updated_at = $at, seq = (SELECT max(seq) + 1 FROM cases) WHERE positive_key = $k AND status = 'open'",
                        ("$at", at), ("$k", c.PositiveKey));
                    continue;
                }
                string? existing = Scalar(tx, "SELECT case_id FROM cases WHERE positive_key = $k", ("$k", c.PositiveKey)) as string
                    ?? Scalar(tx, "SELECT case_id FROM cases WHERE person_id = $p AND sample_date = $d", ("$p", c.PersonId), ("$d", c.SampleDate)) as string;
                string caseId = existing ?? caseIdOf(c.PositiveKey);
                string json = c.Json!;
                Run(tx, """
                    INSERT INTO cases (seq, case_id, positive_key, person_id, sample_date, territory, region, status, updated_at, json)
                    VALUES ((SELECT coalesce(max(seq), 0) + 1 FROM cases), $id, $k, $p, $d, $t, $r, 'open', $at, $j)
                    ON CONFLICT (case_id) DO UPDATE SET seq = (SELECT max(seq) + 1 FROM cases), positive_key = excluded.positive_key,
                        person_id = excluded.person_id, sample_date = excluded.sample_date, territory = excluded.territory, region = excluded.region,
                        status = 'open', updated_at = excluded.updated_at, json = excluded.json
                    """, ("$id", caseId), ("$k", c.PositiveKey), ("$p", c.PersonId), ("$d", c.SampleDate), ("$t", c.Territory), ("$r", c.Region), ("$at", at), ("$j", json));
                if (existing is null)
                {
                    Run(tx, "INSERT INTO notices (case_id, channel, created_at, json) VALUES ($id, $c, $at, $j) ON CONFLICT (case_id) DO NOTHING",
                        ("$id", caseId), ("$c", c.Channel ?? "none"), ("$at", at), ("$j", c.NoticeJson!));
                }
            }
            SetOffset(tx, consumer, -1, nextSequence);
            tx.Commit();
        }
    }

    /// <summary>The positive result kept under <paramref name="key"/>, if any.</summary>
    public string? PositiveResultJson(string key)
    {
        lock (_lock)
        {
            return Scalar(null, "SELECT json FROM case_results WHERE key = $k", ("$k", key)) as string;
        }
    }

    private const string CaseColumns = "SELECT seq, case_id, person_id, sample_date, territory, region, status, updated_at, json FROM cases";

    private static StoredCase ReadCase(SqliteDataReader r) => new(r.GetInt64(0), r.GetString(1), r.GetInt64(2), r.GetString(3), r.GetString(4),
        r.GetString(5), r.GetString(6), DateTimeOffset.FromUnixTimeMilliseconds(r.GetInt64(7)), r.GetString(8));

    /// <summary>Cases of the given départements changed after <paramref name="afterSeq"/> and at or after
    /// <paramref name="since"/>, in feed order.</summary>
    public List<StoredCase> Cases(IReadOnlyCollection<string> territories, long afterSeq, DateTimeOffset? since, int limit)
    {
        if (territories.Count == 0)
        {
            return []; // an agent with no territory sees no case
        }
        (string Name, object Value)[] places = [.. territories.Select((t, i) => ($"$t{i}", (object)t))];
        return Query($"{CaseColumns} WHERE territory IN ({string.Join(',', places.Select(p => p.Name))}) AND seq > $after AND updated_at >= $since ORDER BY seq LIMIT $limit",
            ReadCase, [.. places, ("$after", afterSeq), ("$since", since?.ToUnixTimeMilliseconds() ?? 0), ("$limit", limit)]);
    }

    /// <summary>Every case that changed after <paramref name="afterSeq"/>, in feed order, whatever its territory (the
    /// cases topic of the case-management system).</summary>
    public List<StoredCase> CasesChangedAfter(long afterSeq, int limit) =>
        Query($"{CaseColumns} WHERE seq > $after ORDER BY seq LIMIT $limit", ReadCase, ("$after", afterSeq), ("$limit", limit));

    /// <summary>Moves a consumer's position on its own (what it covers is not in this store: a topic it published to).
    /// Derived state, written as the stages' rows are: the cases topic's publication position, moved after every batch
    /// with a case change, was an fsync of its own each time; lost with the machine, it only makes the latest changes
    /// published again, which the topic's consumers expect (at least once, the highest cursor per case kept).</summary>
    public void SetConsumerOffset(string consumer, int partition, long next)
    {
        lock (_lock)
        {
            using DerivedWrite derived = BeginDerived();
            SetOffset(derived.Transaction, consumer, partition, next);
            derived.Transaction.Commit();
        }
    }

    /// <summary>One case by id, whatever its territory (callers check it).</summary>
    public StoredCase? Case(string caseId) => Query($"{CaseColumns} WHERE case_id = $id", ReadCase, ("$id", caseId)).FirstOrDefault();

    public List<StoredCase> OpenCasesOf(long personId) =>
        Query($"{CaseColumns} WHERE person_id = $p AND status = 'open' ORDER BY sample_date DESC", ReadCase, ("$p", personId));

    /// <summary>Notices not yet acknowledged by the sending service (those with a channel), oldest first.</summary>
    public List<StoredNotice> Outbox(int limit) => Query(
        "SELECT id, case_id, channel, created_at, acked_at, json FROM notices WHERE acked_at IS NULL AND channel <> 'none' ORDER BY id LIMIT $limit",
        r => new StoredNotice(r.GetInt64(0), r.GetString(1), r.GetString(2), DateTimeOffset.FromUnixTimeMilliseconds(r.GetInt64(3)),
            r.IsDBNull(4) ? null : DateTimeOffset.FromUnixTimeMilliseconds(r.GetInt64(4)), r.GetString(5)), ("$limit", limit));

    /// <summary>Marks a notice sent; false when there is no such notice or it was acknowledged already.</summary>
    public bool AcknowledgeNotice(long id, DateTimeOffset at)
    {
        lock (_lock)
        {
            using SqliteCommand cmd = _connection.CreateCommand();
            cmd.CommandText = "UPDATE notices SET acked_at = $at WHERE id = $id AND acked_at IS NULL";
            cmd.Parameters.AddWithValue("$at", at.ToUnixTimeMilliseconds());
            cmd.Parameters.AddWithValue("$id", id);
            return cmd.ExecuteNonQuery() == 1;
        }
    }

    /// <summary>Appends an audit record (the table refuses updates and deletes).</summary>
    public void Audit(string agent, string role, string action, string query, IReadOnlyList<string> caseIds, DateTimeOffset at)
    {
        lock (_lock)
        {
            Run(null, "INSERT INTO audit (at, agent, role, action, query, case_ids) VALUES ($at, $agent, $role, $action, $query, $ids)",
                ("$at", at.ToUnixTimeMilliseconds()), ("$agent", agent), ("$role", role), ("$action", action), ("$query", query), ("$ids", string.Join(',', caseIds)));
        }
    }

    public List<AuditRecord> AuditLog(long afterId, int limit) => Query(
        "SELECT id, at, agent, role, action, query, case_ids FROM audit WHERE id > $after ORDER BY id LIMIT $limit",
        r => new AuditRecord(r.GetInt64(0), DateTimeOffset.FromUnixTimeMilliseconds(r.GetInt64(1)), r.GetString(2), r.GetString(3), r.GetString(4),
            r.GetString(5), r.GetString(6).Split(',', StringSplitOptions.RemoveEmptyEntries)), ("$after", afterId), ("$limit", limit));
}
