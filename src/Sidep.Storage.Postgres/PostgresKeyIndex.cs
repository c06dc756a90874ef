using System.Buffers.Binary;
using Npgsql;
using NpgsqlTypes;
using Sidep.Domain;
using Sidep.Pipeline;

namespace Sidep.Storage.Postgres;

/// <summary>
/// The result-key index every gateway of the distributed mode shares, in PostgreSQL (table <c>result_versions</c>):
/// one row per version of a key. A gateway decides a submission's results in as few statements as it can: one insert
/// proposes version 1 of every key (most results are new, and are decided there); the keys that had versions already
/// are read, answered, and their new versions inserted in one statement. The primary key (key, version) turns a race
/// between two gateways into a conflict, and the loser decides again against what the winner took. Inserts go in key
/// order, so two gateways never wait on each other in a cycle. Durable marks are grouped across submissions
/// (<see cref="DurableMarks"/>).
/// <para>
/// A version is journalled after its row is inserted and marked durable after the journal acknowledged it. A result
/// whose content matches a version not yet durable waits a moment for it (a gateway publishing it now); a version that
/// stays so (its write failed, its gateway died) is journalled again, under the same number, by the next gateway that
/// receives that content — the stages take a version they hold already as a no-op. So a duplicate is answered only for a
/// durable version, nothing acknowledged rests on a write that failed, and no failure leaves a key stuck.
/// </para>
/// Why PostgreSQL rather than routing each key to an owner partition: the decision must be made before the lab is
/// answered, by whichever gateway it reached; a shared table with compare-and-set inserts needs no routing between
/// gateways and no consumer in the acknowledgement path, and PostgreSQL is already there for the stores.
/// </summary>
public sealed class PostgresKeyIndex : IResultKeyIndex, IPartitionRouter, IDisposable
{
    private readonly NpgsqlDataSource _source;
    private readonly TimeSpan _retryFor;
    private readonly TimeSpan _inFlight;
    private readonly DurableMarks _confirmations;

    private PostgresKeyIndex(NpgsqlDataSource source, TimeSpan retryFor, TimeSpan inFlight)
    {
        _source = source;
        _retryFor = retryFor;
        _inFlight = inFlight;
        _confirmations = new DurableMarks(source);
    }

    /// <summary>Opens the shared index (migrations applied). When it is empty and the journal already holds results (a
    /// deployment from before the shared index), it is filled from the journal first, once, whichever gateway starts:
    /// the result keys, and where each INS was first seen.</summary>
    /// <param name="retryFor">How long a decision retries transient failures before the submission is refused as not
    /// stored (the lab sends it again).</param>
    /// <param name="inFlight">How long a version not yet durable is taken to be in flight (its gateway writing it now)
    /// and waited for; older, it is journalled again by the gateway that meets its content. Default 2 s: far above a
    /// journal write's time, far below a lab's patience.</param>
    public static async Task<PostgresKeyIndex> OpenAsync(string connectionString, IResultJournal journal, TimeSpan? retryFor = null, TimeSpan? inFlight = null,
        CancellationToken cancellationToken = default)
    {
        var index = new PostgresKeyIndex(PostgresSources.Create(connectionString), retryFor ?? TimeSpan.FromSeconds(15), inFlight ?? TimeSpan.FromSeconds(2));
        try
        {
            await index.ImportIfEmptyAsync(journal, cancellationToken).ConfigureAwait(false);
        }
        catch
        {
            index.Dispose();
            throw;
        }
        return index;
    }

    public void Dispose()
    {
        _confirmations.Dispose();
        _source.Dispose();
    }

    internal static Guid Uuid(UInt128 value)
    {
        Span<byte> bytes = stackalloc byte[16];
        BinaryPrimitives.WriteUInt128LittleEndian(bytes, value);
        return new Guid(bytes);
    }

    private async Task ImportIfEmptyAsync(IResultJournal journal, CancellationToken cancellationToken)
    {
        await using NpgsqlConnection c = await _source.OpenConnectionAsync(cancellationToken).ConfigureAwait(false);
        await using NpgsqlTransaction tx = await c.BeginTransactionAsync(cancellationToken).ConfigureAwait(false);
        await using (var lockCmd = new NpgsqlCommand("SELECT pg_advisory_xact_lock(7350013)", c, tx))
        {
            await lockCmd.ExecuteNonQueryAsync(cancellationToken).ConfigureAwait(false);
        }
        await using (var any = new NpgsqlCommand("SELECT EXISTS (SELECT 1 FROM result_versions)", c, tx))
        {
            if ((bool)(await any.ExecuteScalarAsync(cancellationToken).ConfigureAwait(false))!)
            {
                return;
            }
        }
        await using (var temp = new NpgsqlCommand("CREATE TEMP TABLE imported (key UUID, version INTEGER, content UUID) ON COMMIT DROP", c, tx))
        {
            await temp.ExecuteNonQueryAsync(cancellationToken).ConfigureAwait(false);
        }
        // One pass over the journal: every version's fingerprints, and where each INS already is (the partition of the
        // first read: before routing, an INS's results could be on several partitions; from now on they join the first).
        long rows = 0;
        var placed = new Dictionary<string, (byte[] Hash, string Key)>(StringComparer.Ordinal);
        await using (NpgsqlBinaryImporter copy = await c.BeginBinaryImportAsync("COPY imported (key, version, content) FROM STDIN (FORMAT BINARY)", cancellationToken).ConfigureAwait(false))
        {
            foreach (LogEntry entry in journal.ReadAllResults())
            {
                if (KeyedContent.OfRecord(entry) is not ((UInt128 key, UInt128 content), int version))
                {
                    continue;
                }
                await copy.StartRowAsync(cancellationToken).ConfigureAwait(false);
                await copy.WriteAsync(Uuid(key), NpgsqlDbType.Uuid, cancellationToken).ConfigureAwait(false);
                await copy.WriteAsync(version, NpgsqlDbType.Integer, cancellationToken).ConfigureAwait(false);
                await copy.WriteAsync(Uuid(content), NpgsqlDbType.Uuid, cancellationToken).ConfigureAwait(false);
                rows++;
                if (RoutedBy(entry) is (string ins, string partitionKey) && InsHash(ins) is byte[] hash && !placed.ContainsKey(Convert.ToHexString(hash)))
                {
                    placed[Convert.ToHexString(hash)] = (hash, partitionKey);
                }
            }
            await copy.CompleteAsync(cancellationToken).ConfigureAwait(false);
        }
        if (rows > 0)
        {
            await using var insert = new NpgsqlCommand(
                "INSERT INTO result_versions (key, version, content, durable) SELECT key, version, content, true FROM imported ON CONFLICT DO NOTHING", c, tx);
            await insert.ExecuteNonQueryAsync(cancellationToken).ConfigureAwait(false);
        }
        if (placed.Count > 0)
        {
            await using var route = new NpgsqlCommand(PlaceIns, c, tx)
            {
                Parameters = { new() { Value = placed.Values.Select(p => p.Hash).ToArray() }, new() { Value = placed.Values.Select(p => p.Key).ToArray() } },
            };
            await route.ExecuteNonQueryAsync(cancellationToken).ConfigureAwait(false);
        }
        await tx.CommitAsync(cancellationToken).ConfigureAwait(false);
    }

    /// <summary>The INS a journalled result would be routed by (any valid one: the test OIDs too, as a sandbox trusts
    /// them) and the partition key it is under; null when unreadable or without INS.</summary>
    private static (string Ins, string PartitionKey)? RoutedBy(LogEntry entry)
    {
        try
        {
            if (!ResultRecords.IsBinary(entry.Payload.Span))
            {
                return null; // a record of an earlier layout: its INS is not placed (its results stay where they are)
            }
            ResultEnvelope envelope = ResultRecords.Envelope(entry.Payload.Span);
            return envelope.Result.Patient.Ins is { } ins && InsNumber.IsValid(ins.Matricule) ? (ins.Matricule, envelope.Result.PartitionKey) : null;
        }
        catch (FormatException)
        {
            return null; // a damaged envelope: the stages dead-letter it; nothing to place
        }
    }

    /// <summary>Places INS (hashes, partition keys) not placed yet; one placed already keeps its place.</summary>
    private const string PlaceIns = "INSERT INTO ins_partitions SELECT * FROM unnest($1::bytea[], $2::text[]) ON CONFLICT DO NOTHING";

    private static byte[] InsHash(string ins) => System.Security.Cryptography.SHA256.HashData(System.Text.Encoding.ASCII.GetBytes(ins.ToUpperInvariant()));

    public Task<string[]> RouteAsync(IReadOnlyList<(string? Ins, string PartitionKey)> results, CancellationToken cancellationToken = default) =>
        RetryingAsync(async ct =>
        {
            var routes = new string[results.Count];
            var first = new Dictionary<string, (byte[] Hash, string Key)>(StringComparer.OrdinalIgnoreCase);
            for (int i = 0; i < results.Count; i++)
            {
                routes[i] = results[i].PartitionKey;
                if (results[i].Ins is string ins && !first.ContainsKey(ins))
                {
                    first[ins] = (InsHash(ins), results[i].PartitionKey);
                }
            }
            if (first.Count == 0)
            {
                return routes;
            }
            await using NpgsqlConnection c = await _source.OpenConnectionAsync(ct).ConfigureAwait(false);
            byte[][] hashes = [.. first.Values.Select(f => f.Hash)];
            // One round trip, two statements: an INS not seen before is placed under its first result's key; one placed
            // already (by any gateway, even one committing just now: the insert waits for it) keeps its place. The read
            // is a statement of its own so that it sees what the insert waited for.
            await using var batch = new NpgsqlBatch(c)
            {
                BatchCommands =
                {
                    new NpgsqlBatchCommand(PlaceIns) { Parameters = { new() { Value = hashes }, new() { Value = first.Values.Select(f => f.Key).ToArray() } } },
                    new NpgsqlBatchCommand("SELECT ins_hash, partition_key FROM ins_partitions WHERE ins_hash = ANY($1)") { Parameters = { new() { Value = hashes } } },
                },
            };
            var placed = new Dictionary<string, string>(StringComparer.Ordinal);
            await using (NpgsqlDataReader r = await batch.ExecuteReaderAsync(ct).ConfigureAwait(false))
            {
                do
                {
                    while (r.FieldCount == 2 && await r.ReadAsync(ct).ConfigureAwait(false)) // the insert's result has no columns
                    {
                        placed[Convert.ToHexString(r.GetFieldValue<byte[]>(0))] = r.GetString(1);
                    }
                }
                while (await r.NextResultAsync(ct).ConfigureAwait(false));
            }
            for (int i = 0; i < results.Count; i++)
            {
                if (results[i].Ins is string ins && placed.TryGetValue(Convert.ToHexString(first[ins].Hash), out string? key))
                {
                    routes[i] = key;
                }
            }
            return routes;
        }, cancellationToken);

    private readonly record struct Row(int Version, Guid Content, bool Durable, bool InFlight);

    public Task<KeyAnswer[]> PeekAsync(IReadOnlyList<KeyedContent> items, CancellationToken cancellationToken = default) =>
        RetryingAsync(async ct =>
        {
            await using NpgsqlConnection c = await _source.OpenConnectionAsync(ct).ConfigureAwait(false);
            Dictionary<Guid, List<Row>> known = await ReadAsync(c, items, _inFlight, ct).ConfigureAwait(false);
            return Answer(items, known, out _, out _);
        }, cancellationToken);

    public async Task<KeyAnswer[]> DecideAsync(IReadOnlyList<KeyedContent> items, Func<KeyAnswer[], Task> journal, CancellationToken cancellationToken = default)
    {
        (KeyAnswer[] answers, List<(Guid Key, int Version)> taken) = await ReserveAsync(items, cancellationToken).ConfigureAwait(false);
        // A failed write leaves its versions not durable: the next gateway to receive that content journals it again.
        await journal(answers).WaitAsync(cancellationToken).ConfigureAwait(false);
        if (taken.Count > 0)
        {
            // Answered once marked (a resend right after is then a duplicate through any gateway), with the marks of the
            // submissions decided meanwhile in one statement. PostgreSQL away: answered after the retry window anyway —
            // the results are durable; their versions stay marked not durable, which costs at most one more journal
            // record (same version, same content) if the same content comes again.
            try
            {
                await _confirmations.Confirm(taken).WaitAsync(_retryFor, cancellationToken).ConfigureAwait(false);
            }
            catch (TimeoutException)
            {
            }
        }
        return answers;
    }

    /// <summary>
    /// Decides a list and inserts the versions it takes. First, in one statement, every key that appears once in the
    /// list is proposed as version 1: a result never seen before (most are) is decided there, its row inserted. The
    /// others — keys known already (corrections, duplicates, resends) or repeated within the list — are decided against
    /// what the index holds: a read, then one insert of the versions taken.
    /// </summary>
    private async Task<(KeyAnswer[] Answers, List<(Guid Key, int Version)> Taken)> ReserveAsync(IReadOnlyList<KeyedContent> items, CancellationToken cancellationToken)
    {
        var answers = new KeyAnswer[items.Count];
        var taken = new List<(Guid Key, int Version)>(items.Count);
        HashSet<Guid> firsts = await InsertFirstVersionsAsync(items, cancellationToken).ConfigureAwait(false);
        var rest = new List<int>();
        for (int i = 0; i < items.Count; i++)
        {
            Guid key = Uuid(items[i].Key);
            if (firsts.Contains(key))
            {
                answers[i] = new KeyAnswer(1, 1, Duplicate: false);
                taken.Add((key, 1));
            }
            else
            {
                rest.Add(i);
            }
        }
        if (rest.Count > 0)
        {
            KeyedContent[] others = [.. rest.Select(i => items[i])];
            (KeyAnswer[] decided, List<(Guid Key, int Version)> more) = await DecideKnownAsync(others, cancellationToken).ConfigureAwait(false);
            for (int j = 0; j < rest.Count; j++)
            {
                answers[rest[j]] = decided[j];
            }
            taken.AddRange(more);
        }
        return (answers, taken);
    }

    /// <summary>Inserts version 1 of every key that appears once in <paramref name="items"/> and has no version yet;
    /// returns the keys inserted. In key order, so that two gateways inserting overlapping keys never wait on each other
    /// in a cycle.</summary>
    private Task<HashSet<Guid>> InsertFirstVersionsAsync(IReadOnlyList<KeyedContent> items, CancellationToken cancellationToken) =>
        RetryingAsync(async ct =>
        {
            var once = new Dictionary<Guid, Guid?>(items.Count);
            foreach (KeyedContent item in items)
            {
                Guid key = Uuid(item.Key);
                once[key] = once.ContainsKey(key) ? null : Uuid(item.Content);
            }
            (Guid Key, Guid Content)[] proposed = [.. once.Where(o => o.Value is not null).Select(o => (o.Key, o.Value!.Value)).OrderBy(o => o.Key)];
            var inserted = new HashSet<Guid>();
            if (proposed.Length == 0)
            {
                return inserted;
            }
            await using NpgsqlConnection c = await _source.OpenConnectionAsync(ct).ConfigureAwait(false);
            await using var insert = new NpgsqlCommand("""
                INSERT INTO result_versions (key, version, content)
                SELECT t.key, 1, t.content FROM unnest($1::uuid[], $2::uuid[]) WITH ORDINALITY AS t(key, content, n)
                ORDER BY t.n
                ON CONFLICT DO NOTHING
                RETURNING key
                """, c)
            {
                Parameters = { new() { Value = proposed.Select(p => p.Key).ToArray() }, new() { Value = proposed.Select(p => p.Content).ToArray() } },
            };
            await using NpgsqlDataReader r = await insert.ExecuteReaderAsync(ct).ConfigureAwait(false);
            while (await r.ReadAsync(ct).ConfigureAwait(false))
            {
                inserted.Add(r.GetGuid(0));
            }
            return inserted;
        }, cancellationToken);

    /// <summary>Decides items whose keys have versions already (or repeat in the list): a read, then one insert of the
    /// versions taken (each statement its own transaction). The primary key (key, version) is what makes the decision
    /// safe: when another gateway took one of these versions between the read and the insert, the insert fails whole and
    /// the items are decided again against what the other took (partly keeping this attempt could put two versions of
    /// one key out of their order). Again too while a matching version is being journalled by another gateway.</summary>
    private Task<(KeyAnswer[] Answers, List<(Guid Key, int Version)> Taken)> DecideKnownAsync(IReadOnlyList<KeyedContent> items, CancellationToken cancellationToken) =>
        RetryingAsync(async ct =>
        {
            var random = new Random();
            while (true)
            {
                await using NpgsqlConnection c = await _source.OpenConnectionAsync(ct).ConfigureAwait(false);
                Dictionary<Guid, List<Row>> known = await ReadAsync(c, items, _inFlight, ct).ConfigureAwait(false);
                KeyAnswer[] answers = Answer(items, known, out List<(Guid Key, int Version, Guid Content)> inserts, out bool waitFor);
                if (waitFor)
                {
                    // Another gateway is journalling that very content now: its answer (a duplicate) is better than a
                    // second copy; a version that stays in flight longer is journalled again below.
                    await Task.Delay(10 + random.Next(20), ct).ConfigureAwait(false);
                    continue;
                }
                var taken = new List<(Guid Key, int Version)>();
                for (int i = 0; i < items.Count; i++)
                {
                    if (!answers[i].Duplicate)
                    {
                        taken.Add((Uuid(items[i].Key), answers[i].Version));
                    }
                }
                if (inserts.Count > 0)
                {
                    inserts.Sort((a, b) => a.Key != b.Key ? a.Key.CompareTo(b.Key) : a.Version.CompareTo(b.Version));
                    await using var insert = new NpgsqlCommand("""
                        INSERT INTO result_versions (key, version, content)
                        SELECT t.key, t.version, t.content FROM unnest($1::uuid[], $2::int[], $3::uuid[]) WITH ORDINALITY AS t(key, version, content, n)
                        ORDER BY t.n
                        """, c)
                    {
                        Parameters =
                        {
                            new() { Value = inserts.Select(i => i.Key).ToArray() },
                            new() { Value = inserts.Select(i => i.Version).ToArray() },
                            new() { Value = inserts.Select(i => i.Content).ToArray() },
                        },
                    };
                    try
                    {
                        await insert.ExecuteNonQueryAsync(ct).ConfigureAwait(false);
                    }
                    catch (PostgresException ex) when (ex.SqlState == PostgresErrorCodes.UniqueViolation)
                    {
                        await Task.Delay(random.Next(5), ct).ConfigureAwait(false);
                        continue;
                    }
                }
                return (answers, taken);
            }
        }, cancellationToken);

    private static async Task<Dictionary<Guid, List<Row>>> ReadAsync(NpgsqlConnection c, IReadOnlyList<KeyedContent> items, TimeSpan inFlight, CancellationToken ct)
    {
        var known = new Dictionary<Guid, List<Row>>();
        if (items.Count == 0)
        {
            return known;
        }
        await using var read = new NpgsqlCommand($"""
            SELECT key, version, content, durable, NOT durable AND decided_at > now() - interval '{(int)inFlight.TotalMilliseconds} milliseconds'
            FROM result_versions WHERE key = ANY($1)
            """, c)
        {
            Parameters = { new() { Value = items.Select(i => Uuid(i.Key)).Distinct().ToArray() } },
        };
        await using NpgsqlDataReader r = await read.ExecuteReaderAsync(ct).ConfigureAwait(false);
        while (await r.ReadAsync(ct).ConfigureAwait(false))
        {
            Guid key = r.GetGuid(0);
            if (!known.TryGetValue(key, out List<Row>? rows))
            {
                known[key] = rows = [];
            }
            rows.Add(new Row(r.GetInt32(1), r.GetGuid(2), r.GetBoolean(3), r.GetBoolean(4)));
        }
        return known;
    }

    /// <summary>Answers the items in order against the versions read (and those taken earlier in the same list).</summary>
    private static KeyAnswer[] Answer(IReadOnlyList<KeyedContent> items, Dictionary<Guid, List<Row>> known,
        out List<(Guid Key, int Version, Guid Content)> inserts, out bool waitFor)
    {
        var answers = new KeyAnswer[items.Count];
        inserts = [];
        waitFor = false;
        // Versions taken by this list, durable together with it: a second copy in the same submission is its duplicate.
        var mine = new HashSet<(Guid, int)>();
        for (int i = 0; i < items.Count; i++)
        {
            Guid key = Uuid(items[i].Key), content = Uuid(items[i].Content);
            if (!known.TryGetValue(key, out List<Row>? rows))
            {
                known[key] = rows = [];
            }
            int latest = rows.Count == 0 ? 0 : rows.Max(r => r.Version);
            int same = rows.FindIndex(r => r.Content == content);
            if (same >= 0)
            {
                Row row = rows[same];
                if (row.Durable || mine.Contains((key, row.Version)))
                {
                    answers[i] = new KeyAnswer(row.Version, latest, Duplicate: true);
                    continue;
                }
                waitFor |= row.InFlight;
                // Not durable and no longer in flight: journalled again under its number.
                answers[i] = new KeyAnswer(row.Version, latest, Duplicate: false);
                rows[same] = row with { Durable = true };
                continue;
            }
            int version = latest + 1;
            rows.Add(new Row(version, content, Durable: false, InFlight: false));
            mine.Add((key, version));
            inserts.Add((key, version, content));
            answers[i] = new KeyAnswer(version, version, Duplicate: false);
        }
        return answers;
    }

    private async Task<T> RetryingAsync<T>(Func<CancellationToken, Task<T>> attempt, CancellationToken cancellationToken)
    {
        DateTime giveUp = DateTime.UtcNow + _retryFor;
        TimeSpan wait = TimeSpan.FromMilliseconds(50);
        while (true)
        {
            try
            {
                return await attempt(cancellationToken).ConfigureAwait(false);
            }
            catch (Exception ex) when (IsTransient(ex) && DateTime.UtcNow < giveUp)
            {
                NpgsqlConnection.ClearAllPools();
                await Task.Delay(wait, cancellationToken).ConfigureAwait(false);
                wait = TimeSpan.FromMilliseconds(Math.Min(wait.TotalMilliseconds * 2, 1000));
            }
        }
    }

    private static bool IsTransient(Exception ex) => PostgresStore.IsTransient(ex);
}
