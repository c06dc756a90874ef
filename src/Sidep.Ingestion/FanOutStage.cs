using System.Globalization;
using System.Text.Json;
using Sidep.Domain;
using Sidep.Indicators;
using Sidep.Pipeline;
using Sidep.Transport;

namespace Sidep.Ingestion;

/// <summary>What a contact tracer sees of a case: the person, how to reach them, the test and the context.</summary>
public sealed record CaseDetails(long PersonId, string SampleDate, string? ResultDate, string Territory, string Region,
    CasePatient Patient, CaseContext Context, CaseTest Test, string LabId, string AccessionId, Prescriber? Prescriber);

public sealed record CasePatient(string? BirthName, string? UsedName, IReadOnlyList<string> GivenNames, string? BirthDate, string Sex, string? Ins,
    string? Phone, string? Email, Address? Address);

public sealed record CaseContext(bool? Symptomatic, DateOnly? SymptomOnset, string Housing, bool? HealthCareWorker, bool? Pregnant, bool? Hospitalised);

public sealed record CaseTest(string? Loinc, string? Method, string Value);

/// <summary>A patient advice notice: the channel the contact data allows and where to send it.</summary>
public sealed record NoticeDetails(string Channel, string? To, string Template, string SampleDate);

/// <summary>What the fan-out makes of positive episodes: cases for contact tracers, patient advice notices, and the
/// cases topic the case-management system reads.</summary>
public static class Cases
{
    /// <summary>The topic every case change is published to, for the case-management system.</summary>
    public const string Topic = "sidep.cases";
    private const string TopicConsumer = "cases-topic";

    /// <summary>Feeds a batch to the episode tracker; with <paramref name="positives"/>, keeps each positive result's
    /// latest version there (what a case is made of). The tracker is fed only what can change its episodes
    /// (<see cref="Aggregator.ChangesEpisodes"/>): it holds the persons with a positive, not every person tested.</summary>
    internal static void Apply(List<LogEntry> batch, Aggregator episodes, Func<string?, TestKind> kindOf, Dictionary<string, PositiveResult>? positives) =>
        MatchedRecords.Apply(batch, episodes, kindOf, positives is null ? null : (fact, read) =>
        {
            if (fact.Outcome == Outcome.Positive)
            {
                string key = Key(fact.Key);
                positives[key] = new PositiveResult(key, fact.Version, JsonSerializer.Serialize(read(), SidepJson.Default.MatchedResult));
            }
        }, feeds: fact => episodes.ChangesEpisodes(fact));

    private static string Key(UInt128 key) => key.ToString("x32", CultureInfo.InvariantCulture);

    /// <summary>The id of the case a positive result opens.</summary>
    public static string CaseId(string positiveKey) => "case_" + positiveKey[..20];

    /// <summary>The case changes of the episodes that started or ended since the last call: a started episode's case
    /// is made of its positive result (this batch's, else the one kept in the store).</summary>
    internal static List<CaseChange> Changes(Aggregator episodes, Dictionary<string, PositiveResult> positives, ICaseStore store)
    {
        episodes.TakeDeltas();
        var changes = new List<CaseChange>();
        foreach (EpisodeChange e in episodes.TakeEpisodeChanges())
        {
            string key = Key(e.PositiveKey);
            string sampleDate = DateOnly.FromDayNumber(e.Day).ToString("yyyy-MM-dd", CultureInfo.InvariantCulture);
            if (!e.Started)
            {
                changes.Add(new CaseChange(false, key, e.Person, sampleDate, "", "", null, null, null));
                continue;
            }
            string? source = positives.TryGetValue(key, out PositiveResult? p) ? p.Json : store.PositiveResultJson(key);
            if (source is null)
            {
                continue; // cannot happen: every positive is kept before its episode starts
            }
            MatchedResult matched = JsonSerializer.Deserialize(source, SidepJson.Default.MatchedResult)!;
            (CaseDetails details, NoticeDetails notice) = Describe(matched.Envelope.Result, e.Person, sampleDate);
            changes.Add(new CaseChange(true, key, e.Person, sampleDate, details.Territory, details.Region,
                JsonSerializer.Serialize(details, SidepJson.Default.CaseDetails), notice.Channel, JsonSerializer.Serialize(notice, SidepJson.Default.NoticeDetails)));
        }
        return changes;
    }

    /// <summary>
    /// Publishes the case changes not yet published, keyed by case id, with the feed cursor and status in headers;
    /// the position moves once they are durable on the topic. After a crash between the two, changes are published
    /// again: consumers keep the highest cursor per case (at least once, in order per case).
    /// </summary>
    internal static async Task PublishAsync(IStageTransport publish, ICaseStore store, CancellationToken cancellationToken = default)
    {
        while (true)
        {
            long after = store.GetOffset(TopicConsumer, -1);
            List<StoredCase> changed = store.CasesChangedAfter(after, 500);
            if (changed.Count == 0)
            {
                return;
            }
            await publish.PublishAsync(Topic, [.. changed.Select(c => new OutgoingMessage(c.CaseId, System.Text.Encoding.UTF8.GetBytes(c.Json),
                new Dictionary<string, string>
                {
                    ["sidep-case-id"] = c.CaseId,
                    ["sidep-cursor"] = c.Seq.ToString(CultureInfo.InvariantCulture),
                    ["sidep-status"] = c.Status,
                    ["sidep-territory"] = c.Territory,
                }))], cancellationToken).ConfigureAwait(false);
            store.SetConsumerOffset(TopicConsumer, -1, changed[^1].Seq);
        }
    }

    /// <summary>The case and the notice of a positive result.</summary>
    public static (CaseDetails Case, NoticeDetails Notice) Describe(LabResult result, long person, string sampleDate)
    {
        PatientIdentity p = result.Patient;
        Geography g = Geography.France;
        int dep = g.Residence(p.Address);
        if (dep == Geography.UnknownDepartement)
        {
            dep = LabDepartement(result.LabId);
        }
        string territory = dep == Geography.UnknownDepartement ? "" : g.Departements[dep];
        string region = dep == Geography.UnknownDepartement || g.RegionOfDepartement[dep] < 0 ? "" : g.Regions[g.RegionOfDepartement[dep]];
        PatientContext c = result.Context;
        var details = new CaseDetails(person, sampleDate, result.ResultedAt?.Date.ToString("yyyy-MM-dd", CultureInfo.InvariantCulture), territory, region,
            new CasePatient(p.BirthName, p.UsedName, p.GivenNames, p.BirthDate?.ToString(), p.Sex.ToString(), p.Ins?.Matricule, p.Phone, p.Email, p.Address),
            new CaseContext(c.Symptomatic, c.SymptomOnset, c.Housing.ToString(), c.HealthCareWorker, c.Pregnant, c.Hospitalised),
            new CaseTest(result.Loinc, result.Method, result.Value.Raw), result.LabId, result.AccessionId, result.Prescriber);
        (string channel, string? to) = p.Phone is string phone && IsMobile(phone) ? ("sms", phone)
            : p.Email is { Length: > 3 } email && email.Contains('@', StringComparison.Ordinal) ? ("email", email)
            : p.Address is { Line: not null, PostalCode: not null } a ? ("post", $"{a.Line}, {a.PostalCode} {a.City}".TrimEnd())
            : ("none", null);
        return (details, new NoticeDetails(channel, to, "sars-cov-2-positive-advice", sampleDate));
    }

    /// <summary>A French mobile number: 06, 07, +33 6, +33 7 (spaces, dots and dashes ignored).</summary>
    public static bool IsMobile(string phone)
    {
        string digits = new([.. phone.Where(ch => char.IsAsciiDigit(ch) || ch == '+')]);
        return digits.StartsWith("06", StringComparison.Ordinal) || digits.StartsWith("07", StringComparison.Ordinal)
            || digits.StartsWith("+336", StringComparison.Ordinal) || digits.StartsWith("+337", StringComparison.Ordinal)
            || digits.StartsWith("00336", StringComparison.Ordinal) || digits.StartsWith("00337", StringComparison.Ordinal);
    }

    /// <summary>The département of a FINESS number (its first two characters; 97x overseas; 2A/2B).</summary>
    public static int LabDepartement(string finess)
    {
        if (finess.Length < 3)
        {
            return Geography.UnknownDepartement;
        }
        return Geography.France.DepartementIndex(finess.StartsWith("97", StringComparison.Ordinal) ? finess[..3] : finess[..2].ToUpperInvariant());
    }
}

/// <summary>
/// FAN-OUT (cases and notices): the identity stage's output (matched results and merges, in order), one episode tracker
/// per partition of <see cref="StageTopics.Matched"/>, through the same counting rules as the indicators, to find every
/// new positive episode (a person's first positive in more than 60 days, corrections, retractions and merges applied).
/// Each episode is a case for contact tracers — nominative, in the territory of the person's residence, else of the
/// lab — and one patient advice notice. A batch, its cases and notices and the partition's position are written in
/// one transaction, cases matched to what is stored, so nothing is opened or notified twice; case changes are
/// published to <see cref="Cases.Topic"/> once stored.
/// </summary>
public sealed class FanOutStage(IStageTransport transport, ICaseStore store, Terminology terminology, TimeProvider? time = null,
    string group = "sidep-fanout")
    : StageRunner<FanOutStage.EpisodeState, ICaseStore>(transport, store, StageTopics.Matched, group, ConsumerName)
{
    public const string ConsumerName = "fanout";

    public sealed class EpisodeState : State
    {
        public Aggregator Episodes { get; } = new() { TrackEpisodes = true };
        public Dictionary<int, long> Done { get; } = [];
    }

    protected override EpisodeState NewState(int partition) => new();

    protected override void Replay(EpisodeState state, IReadOnlyList<IncomingMessage> messages)
    {
        Cases.Apply(StageTopics.Unseen(messages, state.Done), state.Episodes, terminology.KindOf, positives: null);
        state.Episodes.TakeEpisodeChanges();
        state.Episodes.TakeDeltas();
    }

    protected override async Task ProcessAsync(int partition, EpisodeState state, IReadOnlyList<IncomingMessage> messages, long next,
        CancellationToken cancellationToken)
    {
        var positives = new Dictionary<string, PositiveResult>(StringComparer.Ordinal);
        Cases.Apply(StageTopics.Unseen(messages, state.Done), state.Episodes, terminology.KindOf, positives);
        List<CaseChange> changes = Cases.Changes(state.Episodes, positives, Store);
        Store.ApplyFanOut(PositionName(partition), next, [.. positives.Values], changes, Cases.CaseId, (time ?? TimeProvider.System).GetUtcNow());
        if (changes.Count > 0)
        {
            await Cases.PublishAsync(Transport, Store, cancellationToken).ConfigureAwait(false);
        }
    }
}
