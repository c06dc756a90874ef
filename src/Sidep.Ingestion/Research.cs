using System.Globalization;
using System.Security.Cryptography;
using System.Text;
using System.Text.Json;
using System.Text.Json.Serialization;
using Sidep.Domain;
using Sidep.Identity;
using Sidep.Indicators;
using Sidep.Pipeline;
using Sidep.Transport;

namespace Sidep.Ingestion;

/// <summary>
/// One pseudonymised line of the research sink: exactly these fields, nothing else — no name, no NIR, no birth date,
/// no address line, no phone or e-mail. The pseudonym carries the id of the key that made it.
/// </summary>
public sealed class ResearchRow
{
    public string Pseudonym { get; set; } = "";
    public int? AgeYears { get; set; }
    public string Sex { get; set; } = "";
    public string? Departement { get; set; }
    public string? Commune { get; set; }
    public string SampleDate { get; set; } = "";
    /// <summary>What the sample date is: "collection", else the fallback taken — "specimen-received", "result-reported"
    /// or "receipt" (the day Sidep received the result).</summary>
    public string SampleDateBasis { get; set; } = "collection";
    public string? ResultDate { get; set; }
    public string? Loinc { get; set; }
    public string? Method { get; set; }
    public string Result { get; set; } = "";
    public string? LabDepartement { get; set; }
    public bool? Symptomatic { get; set; }
    public int? DaysFromOnset { get; set; }
    public string Housing { get; set; } = "";
    public bool? HealthCareWorker { get; set; }
}

/// <summary>A research row before pseudonymisation (kept in the state store; the person id never leaves it).</summary>
public sealed record ResearchFields(int? AgeYears, string Sex, string? Departement, string? Commune, string SampleDate, string? ResultDate,
    string? Loinc, string? Method, string Result, string? LabDepartement, bool? Symptomatic, int? DaysFromOnset, string Housing, bool? HealthCareWorker,
    string? SampleDateBasis = null)
{
    public static ResearchFields Of(LabResult r, DateOnly sampleDate, SampleDateBasis basis)
    {
        PatientIdentity p = r.Patient;
        Geography g = Geography.France;
        int dep = g.Residence(p.Address);
        int labDep = Cases.LabDepartement(r.LabId);
        int? age = p.BirthDate is { } b ? (b.AgeOn(sampleDate) ?? (b.Year <= sampleDate.Year ? sampleDate.Year - b.Year : null)) : null;
        return new ResearchFields(age is >= 0 and < 130 ? age : null, p.Sex.ToString(), dep < 0 ? null : g.Departements[dep],
            dep < 0 ? null : p.Address?.CommuneCode, sampleDate.ToString("yyyy-MM-dd", CultureInfo.InvariantCulture),
            r.ResultedAt?.Date.ToString("yyyy-MM-dd", CultureInfo.InvariantCulture), r.Loinc, r.Method, r.Value.Interpretation.ToString(),
            labDep < 0 ? null : g.Departements[labDep], r.Context.Symptomatic,
            r.Context.SymptomOnset is DateOnly onset ? sampleDate.DayNumber - onset.DayNumber : null, r.Context.Housing.ToString(), r.Context.HealthCareWorker,
            BasisName(basis));
    }

    private static string BasisName(SampleDateBasis basis) => basis switch
    {
        Domain.SampleDateBasis.SpecimenReceived => "specimen-received",
        Domain.SampleDateBasis.ResultReported => "result-reported",
        Domain.SampleDateBasis.Receipt => "receipt",
        _ => "collection",
    };

    public ResearchRow Row(string pseudonym) => new()
    {
        Pseudonym = pseudonym, AgeYears = AgeYears, Sex = Sex, Departement = Departement, Commune = Commune, SampleDate = SampleDate,
        SampleDateBasis = SampleDateBasis ?? "collection",
        ResultDate = ResultDate, Loinc = Loinc, Method = Method, Result = Result, LabDepartement = LabDepartement, Symptomatic = Symptomatic,
        DaysFromOnset = DaysFromOnset, Housing = Housing, HealthCareWorker = HealthCareWorker,
    };
}

/// <summary>
/// Keyed pseudonyms: HMAC-SHA-256 under the research sink's own secret of the person's canonical identity (the
/// person Sidep's identity matcher holds them for, merges followed), so a person's results share one pseudonym. Keys
/// have ids; the last one is current; a pseudonym says which key made it ("k2.3f…"). Rotation: add a key, and the
/// research operator can obtain the old → new link table.
/// </summary>
public sealed class Pseudonyms
{
    private readonly List<(string Id, byte[] Secret)> _keys;

    public Pseudonyms(IEnumerable<(string Id, string Secret)> keys)
    {
        _keys = [.. keys.Select(k => (k.Id, Encoding.UTF8.GetBytes(k.Secret)))];
        if (_keys.Count == 0 || _keys.Any(k => k.Secret.Length < 32 || k.Id.Length == 0 || k.Id.Contains('.', StringComparison.Ordinal)))
        {
            throw new ArgumentException("research keys are id=secret pairs, the id without dots, the secret 32 bytes or more");
        }
    }

    /// <summary>"k1=secret;k2=secret" (the last is current).</summary>
    public static Pseudonyms Parse(string keys) => new(keys.Split(';', StringSplitOptions.RemoveEmptyEntries | StringSplitOptions.TrimEntries)
        .Select(k => k.Split('=', 2)).Select(p => p.Length == 2 ? (p[0], p[1]) : throw new ArgumentException("research keys are id=secret pairs, ';'-separated")));

    public string CurrentKeyId => _keys[^1].Id;

    public string Of(long person) => Of(person, _keys.Count - 1);

    public string Of(long person, string keyId) => Of(person, _keys.FindIndex(k => k.Id == keyId) is int i and >= 0 ? i : throw new ArgumentException($"no research key '{keyId}'"));

    private string Of(long person, int key)
    {
        Span<byte> mac = stackalloc byte[32];
        HMACSHA256.HashData(_keys[key].Secret, Encoding.UTF8.GetBytes($"sidep-person:{person.ToString(CultureInfo.InvariantCulture)}"), mac);
        return $"{_keys[key].Id}.{Convert.ToHexStringLower(mac[..16])}";
    }
}

/// <summary>What the research directory holds: one Parquet file per sample date, each with its row count and SHA-256.</summary>
public sealed record ResearchManifest(string KeyId, DateTimeOffset WrittenAt, IReadOnlyDictionary<string, ResearchPartition> Partitions);

public sealed record ResearchPartition(string File, int Rows, string Sha256, DateTimeOffset WrittenAt);

/// <summary>Each research row's fields as the research stage keeps them (one per result: compact).</summary>
[JsonSourceGenerationOptions(JsonSerializerDefaults.Web, DefaultIgnoreCondition = JsonIgnoreCondition.WhenWritingNull)]
[JsonSerializable(typeof(ResearchFields))]
public sealed partial class ResearchRowJson : JsonSerializerContext
{
}

/// <summary>The research manifests, written for people to read too.</summary>
[JsonSourceGenerationOptions(JsonSerializerDefaults.Web, WriteIndented = true, DefaultIgnoreCondition = JsonIgnoreCondition.WhenWritingNull)]
[JsonSerializable(typeof(ResearchManifest))]
[JsonSerializable(typeof(ResearchExtractManifest))]
public sealed partial class ResearchJson : JsonSerializerContext
{
}

/// <summary>
/// The research sink: the rows the research stage keeps (pseudonymisable, nothing nominative), the Parquet partitions
/// written from them (one file per sample date, temporary file then rename, and a manifest with rows and SHA-256), and
/// the identity keys oppositions are recorded under.
/// </summary>
public static class ResearchSink
{
    /// <summary>The identity keys an opposition can name before the person is known: the INS, and the normalised
    /// birth name + first given name + birth date + sex.</summary>
    public static IEnumerable<string> IdentityKeys(PatientIdentity p)
    {
        if (p.Ins is { } ins && InsNumber.IsValid(ins.Matricule))
        {
            yield return "ins:" + ins.Matricule;
        }
        var t = Traits.Of(p);
        if (t.BirthName.Length > 0 && t.FirstGiven.Length > 0)
        {
            yield return $"traits:{t.BirthName}|{t.FirstGiven}|{t.BirthDate}|{Sexes.Code(t.Sex)}";
        }
        if (t.UsedName.Length > 0 && t.FirstGiven.Length > 0)
        {
            yield return $"traits:{t.UsedName}|{t.FirstGiven}|{t.BirthDate}|{Sexes.Code(t.Sex)}";
        }
    }

    /// <summary>The research row of a matched result, made where the result is decoded anyway (the identity stage); what
    /// depends on the store (oppositions) is decided by the research stage (<see cref="Changes"/>).</summary>
    /// <param name="fingerprint">The result key's fingerprint when the caller has it already (it is a SHA-256).</param>
    public static ResearchFact Fact(LabResult r, int version, long personId, DateTimeOffset receivedAt, Func<string?, TestKind> kindOf,
        UInt128? fingerprint = null)
    {
        UInt128 key = fingerprint ?? r.Key.Fingerprint();
        if (r.Status == ResultStatus.Preliminary)
        {
            return new ResearchFact(ResearchAction.Skip, key, version, personId, "", [], []);
        }
        // Research keeps PCR and antigen tests (and serology: researchers study it); a retraction removes the row.
        if (r.Status == ResultStatus.Cancelled || kindOf(r.Loinc) == TestKind.Other)
        {
            return new ResearchFact(ResearchAction.Remove, key, version, personId, "", [], []);
        }
        (DateOnly day, SampleDateBasis basis) = Facts.CountedOn(r, receivedAt);
        ResearchFields fields = ResearchFields.Of(r, day, basis);
        return new ResearchFact(ResearchAction.Upsert, key, version, personId, fields.SampleDate,
            JsonSerializer.SerializeToUtf8Bytes(fields, ResearchRowJson.Default.ResearchFields), [.. IdentityKeys(r.Patient)]);
    }

    /// <summary>The research changes of a batch of the identity stage's output: one pseudonymisable row per result
    /// (latest version), retractions and non-research tests removed, merges followed, nothing for persons who opposed
    /// (an opposition made by identity is tied to its person here, once found).</summary>
    public static List<ResearchChange> Changes(List<LogEntry> batch, IResearchStore store, Func<string?, TestKind> kindOf)
    {
        var changes = new List<ResearchChange>(batch.Count);
        foreach (LogEntry entry in batch)
        {
            if (entry.Kind == RecordKind.Lost)
            {
                continue; // moved aside by journal repair
            }
            if (entry.Kind == RecordKind.Merged)
            {
                PersonMerge merge = JsonSerializer.Deserialize(entry.Payload.Span, SidepJson.Default.PersonMerge)!;
                changes.Add(new ResearchMerge(merge.From, merge.Into));
                continue;
            }
            // The row the identity stage made; for a record written before it rode along, made here from its JSON.
            ResearchFact fact = MatchedRecords.Research(entry.Payload.Span) ?? FactOf(MatchedRecords.Read(entry.Payload.Span), kindOf);
            string key = fact.Key.ToString("x32", CultureInfo.InvariantCulture);
            if (fact.Action == ResearchAction.Remove)
            {
                changes.Add(new ResearchRemove(key, fact.Version + 1));
            }
            else if (fact.Action == ResearchAction.Upsert && !store.OpposedPerson(fact.PersonId))
            {
                // An opposition made by INS or traits before the person was known: tied to the person once, found here.
                if (store.HasIdentityOppositions && store.OpposedIdentity(fact.IdentityKeys) is string opposedBy)
                {
                    store.AttachOpposition(fact.PersonId, opposedBy);
                    continue;
                }
                changes.Add(new ResearchUpsert(new ResearchRowRecord(key, fact.PersonId, fact.Version, fact.SampleDate,
                    System.Text.Encoding.UTF8.GetString(fact.FieldsJson))));
            }
        }
        return changes;
    }

    private static ResearchFact FactOf(MatchedResult matched, Func<string?, TestKind> kindOf) =>
        Fact(matched.Envelope.Result, matched.Envelope.Version, matched.PersonId, matched.Envelope.ReceivedAt, kindOf);

    /// <summary>Writes the partitions of the sample dates that changed, from the store's rows, into <paramref name="directory"/>; returns how many.</summary>
    public static async Task<int> WritePartitionsAsync(IResearchStore store, Pseudonyms pseudonyms, string directory, TimeProvider time, CancellationToken cancellationToken = default)
    {
        // Research workers share the directory: one writes at a time (two writing a date's file at once collided on its
        // temporary file, and the later manifest dropped the partitions the earlier one had added).
        await using FileStream writing = await LockAsync(directory, cancellationToken).ConfigureAwait(false);
        List<string> dates = store.DirtyResearchDates(100);
        if (dates.Count == 0)
        {
            return 0;
        }
        ResearchManifest manifest = ReadManifest(directory) ?? new ResearchManifest(pseudonyms.CurrentKeyId, time.GetUtcNow(), new Dictionary<string, ResearchPartition>());
        var partitions = new Dictionary<string, ResearchPartition>(manifest.Partitions, StringComparer.Ordinal);
        var emptied = new List<string>();
        foreach (string date in dates)
        {
            // A page of stored rows at a time, each row made as the writer takes it, a row group at a time: a busy day's
            // partition (hundreds of thousands of rows) is never all in memory, as stored rows, rows or columns.
            List<ResearchRowRecord> first = store.ResearchRows(date, null, RowGroupRows);
            string relative = $"sample_date={date}/part-0.parquet";
            string path = Path.Combine(directory, relative);
            if (first.Count == 0)
            {
                emptied.Add(path);
                partitions.Remove(date);
                continue;
            }
            int count = 0;
            IEnumerable<ResearchRow> rows = Pages(store, date, first).Select(r =>
            {
                count++;
                return JsonSerializer.Deserialize(r.Json, ResearchRowJson.Default.ResearchFields)!.Row(pseudonyms.Of(r.PersonId));
            });
            string sha = await WriteAtomicallyAsync(path, rows, cancellationToken).ConfigureAwait(false);
            partitions[date] = new ResearchPartition(relative, count, sha, time.GetUtcNow());
        }
        // The manifest first, then the files it no longer lists: a reader following the manifest never misses a file.
        await WriteManifestAsync(directory, new ResearchManifest(pseudonyms.CurrentKeyId, time.GetUtcNow(), partitions), cancellationToken).ConfigureAwait(false);
        emptied.ForEach(File.Delete);
        store.ResearchWritten(dates);
        return dates.Count;
    }

    /// <summary>The lock file a partition writer holds (an exclusive <c>flock</c>, released when the file is closed, by the
    /// kernel if its process dies); another writer waits for it.</summary>
    public static async Task<FileStream> LockAsync(string directory, CancellationToken cancellationToken)
    {
        Directory.CreateDirectory(directory);
        string path = Path.Combine(directory, LockFile);
        while (true)
        {
            try
            {
                return new FileStream(path, FileMode.OpenOrCreate, FileAccess.ReadWrite, FileShare.None);
            }
            catch (IOException ex) when (ex.HResult == WouldBlock)
            {
                await Task.Delay(50, cancellationToken).ConfigureAwait(false);
            }
        }
    }

    /// <summary>The research directory's writer lock (not a partition: readers follow the manifest).</summary>
    public const string LockFile = ".writer.lock";

    /// <summary>EWOULDBLOCK on Linux: .NET reports a file another open file holds with FileShare.None this way.</summary>
    private const int WouldBlock = 11;

    /// <summary>A date's stored rows, a page of <see cref="RowGroupRows"/> at a time, from its first page.</summary>
    private static IEnumerable<ResearchRowRecord> Pages(IResearchStore store, string date, List<ResearchRowRecord> first)
    {
        for (List<ResearchRowRecord> page = first; ; page = store.ResearchRows(date, page[^1].Cursor, RowGroupRows))
        {
            foreach (ResearchRowRecord row in page)
            {
                yield return row;
            }
            if (page.Count < RowGroupRows)
            {
                yield break;
            }
        }
    }

    /// <summary>Rows per Parquet row group and per page read from the store: what the writer holds in memory at once.</summary>
    public const int RowGroupRows = 50_000;

    /// <summary>Writes a Parquet file whole or not at all: a temporary file, flushed, then renamed over the old one; a row
    /// group of <see cref="RowGroupRows"/> at a time, rows taken from <paramref name="rows"/> as it goes.</summary>
    public static async Task<string> WriteAtomicallyAsync(string path, IEnumerable<ResearchRow> rows, CancellationToken cancellationToken)
    {
        Directory.CreateDirectory(Path.GetDirectoryName(path)!);
        string temporary = path + ".tmp";
        await using (var file = new FileStream(temporary, FileMode.Create, FileAccess.Write, FileShare.None))
        {
            await Parquet.Serialization.ParquetSerializer.SerializeAsync(rows, file, new Parquet.ParquetOptions { RowGroupSize = RowGroupRows },
                cancellationToken: cancellationToken).ConfigureAwait(false);
            file.Flush(flushToDisk: true);
        }
        string sha;
        await using (FileStream written = File.OpenRead(temporary))
        {
            sha = Convert.ToHexStringLower(await SHA256.HashDataAsync(written, cancellationToken).ConfigureAwait(false));
        }
        File.Move(temporary, path, overwrite: true);
        return sha;
    }

    public static ResearchManifest? ReadManifest(string directory)
    {
        string path = Path.Combine(directory, "manifest.json");
        return File.Exists(path) ? JsonSerializer.Deserialize(File.ReadAllBytes(path), ResearchJson.Default.ResearchManifest) : null;
    }

    private static async Task WriteManifestAsync(string directory, ResearchManifest manifest, CancellationToken cancellationToken)
    {
        string path = Path.Combine(directory, "manifest.json");
        await File.WriteAllBytesAsync(path + ".tmp", JsonSerializer.SerializeToUtf8Bytes(manifest, ResearchJson.Default.ResearchManifest), cancellationToken).ConfigureAwait(false);
        File.Move(path + ".tmp", path, overwrite: true);
    }

    /// <summary>The old → new pseudonym of every person with research rows: for the research operator only.</summary>
    public static List<(string Old, string New)> LinkTable(IResearchStore store, Pseudonyms pseudonyms, string fromKey, string toKey) =>
        [.. store.ResearchPersons().Select(p => (pseudonyms.Of(p, fromKey), pseudonyms.Of(p, toKey)))];
}

/// <summary>
/// RESEARCH: the identity stage's output → one pseudonymisable row per result (latest version; retractions remove it;
/// merges move it to the surviving person; nothing for persons who opposed), pseudonymised only when written (the
/// person id stays in the store), upserted by version in the store with the partition's position; when the input
/// is drained, the Parquet partitions of the sample dates that changed are written again into
/// <paramref name="directory"/> (a directory shared by the research workers: each date's file is replaced atomically).
/// Its writes are idempotent, so it keeps no state to restore.
/// </summary>
public sealed class ResearchStage(IStageTransport transport, IResearchStore store, Terminology terminology, Pseudonyms pseudonyms, string directory,
    TimeProvider? time = null, string group = "sidep-research")
    : StageRunner<ResearchStage.NoState, IResearchStore>(transport, store, StageTopics.Matched, group, ConsumerName)
{
    public const string ConsumerName = "research";

    public sealed class NoState : State
    {
    }

    protected override bool Stateful => false;

    protected override NoState NewState(int partition) => new();

    protected override void Replay(NoState state, IReadOnlyList<IncomingMessage> messages)
    {
    }

    protected override Task ProcessAsync(int partition, NoState state, IReadOnlyList<IncomingMessage> messages, long next, CancellationToken cancellationToken)
    {
        Store.ApplyResearch(PositionName(partition), next, ResearchSink.Changes([.. messages.Select(StageTopics.Entry)], Store, terminology.KindOf));
        _pacer.Received();
        return Task.CompletedTask;
    }

    /// <summary>Writes the partitions of the sample dates that changed; returns how many.</summary>
    public Task<int> WritePartitionsAsync(CancellationToken cancellationToken = default) =>
        ResearchSink.WritePartitionsAsync(Store, pseudonyms, directory, time ?? TimeProvider.System, cancellationToken);

    private readonly PartitionWritePacer _pacer = new();

    /// <summary>When idle, at most every <see cref="PartitionWritePacer.Interval"/>.</summary>
    protected override Task IdleAsync(CancellationToken cancellationToken) => _pacer.WriteIfDueAsync(WritePartitionsAsync, cancellationToken);
}

/// <summary>
/// When the research stage rewrites its partitions. Each write reads a changed date's rows back whole, and a busy day
/// changes every date it touches again and again: written at every idle moment between two batches, it took 8 % of the
/// server's CPU under load (and most of a peak day's end before it was paced). So: once the input has been quiet for
/// <see cref="Quiet"/>, at most every <see cref="Interval"/>; while results keep coming, at most every
/// <see cref="Busy"/> (the research sink is a daily extract, not a live feed).
/// </summary>
internal sealed class PartitionWritePacer
{
    public static readonly TimeSpan Interval = TimeSpan.FromSeconds(5);
    public static readonly TimeSpan Quiet = TimeSpan.FromSeconds(1);
    public static readonly TimeSpan Busy = TimeSpan.FromSeconds(60);

    private long _writtenAt = long.MinValue / 2;
    private long _receivedAt = long.MinValue / 2;

    /// <summary>Input arrived (a batch was processed).</summary>
    public void Received() => Volatile.Write(ref _receivedAt, Environment.TickCount64);

    /// <summary>Writes the changed partitions if they are due.</summary>
    public async Task WriteIfDueAsync(Func<CancellationToken, Task<int>> write, CancellationToken cancellationToken)
    {
        long now = Environment.TickCount64, since = now - _writtenAt;
        bool quiet = now - Volatile.Read(ref _receivedAt) >= (long)Quiet.TotalMilliseconds;
        if (since >= (long)(quiet ? Interval : Busy).TotalMilliseconds)
        {
            await write(cancellationToken).ConfigureAwait(false);
            _writtenAt = Environment.TickCount64;
        }
    }
}
