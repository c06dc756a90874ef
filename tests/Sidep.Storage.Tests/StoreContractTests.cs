using Sidep.Domain;
using Sidep.Journal;
using Sidep.Pipeline;
using Sidep.Storage.Sqlite;
using Sidep.Storage.Postgres;

using Sidep.Tests;

namespace Sidep.Storage.Tests;

/// <summary>The store contract, run on the embedded SQLite store and on PostgreSQL: the same tests, two backends.</summary>
public abstract class StoreContractTests
{
    protected abstract Task<IStageStore> OpenAsync();

    /// <summary>Runs a statement on the database of the store opened last, on a connection of the test's own (the
    /// store offers no way around its rules).</summary>
    protected abstract void ExecuteBehindTheStore(string sql);

    [Fact]
    public async Task A_consumer_position_moves_with_the_writes_it_covers()
    {
        using IStageStore store = await OpenAsync();
        static MatchRow Match(string accession) => new("990000001", accession, "94500-6", 1, 1, "InsNewPerson", 1, "{}");
        Assert.Equal(0, store.GetOffset("identity/3", -1));
        store.ApplyMatches("identity/3", 2, [Match("A1"), Match("A2")], []);
        Assert.Equal(2, store.GetOffset("identity/3", -1));
        Assert.Equal(0, store.GetOffset("identity/4", -1));
        Assert.Equal(2, store.DecisionsOf(1).Count);
        store.ApplyMatches("identity/3", 2, [Match("A3")], []); // the same position again, after a crash before its transport heard of it
        Assert.Equal(2, store.DecisionsOf(1).Count);
    }

    [Fact]
    public async Task Matches_are_written_once_and_decisions_follow_merges()
    {
        using IStageStore store = await OpenAsync();
        MatchRow Row(string acc, long person, string rule) => new("990000001", acc, "94500-6", 1, person, rule, 1, "{}");
        store.ApplyMatches("identity", 2, [Row("A1", 1, "InsNewPerson"), Row("A2", 2, "NewPerson")], []);
        store.ApplyMatches("identity", 3, [Row("A2", 2, "NewPerson"), Row("A3", 1, "InsKnown")], [(2, 1)]);
        Assert.Equal(["A1", "A2", "A3"], store.DecisionsOf(1).Select(d => d.AccessionId));
        Assert.Equal(3, store.GetOffset("identity", -1));
    }

    [Fact]
    public async Task Indicator_revisions_are_kept_with_their_time_so_counts_can_be_read_as_of_a_moment()
    {
        using IStageStore store = await OpenAsync();
        var t1 = new DateTimeOffset(2026, 11, 24, 8, 0, 0, TimeSpan.Zero);
        Assert.True(store.ApplyIndicatorRevision("indicators", 10, t1, 10, [new IndicatorDelta(740000, 5, 1, 3), new IndicatorDelta(740001, 5, 0, 2)]) > 0);
        Assert.Equal(0, store.ApplyIndicatorRevision("indicators", 12, t1.AddMinutes(1), 2, [])); // nothing moved: no revision
        store.ApplyIndicatorRevision("indicators", 13, t1.AddMinutes(2), 1, [new IndicatorDelta(740000, 5, -1, 0)]);
        Assert.Equal(13, store.GetOffset("indicators", -1));
        List<IndicatorRevision> revisions = store.ListIndicatorRevisions();
        Assert.Equal([10, 1], revisions.Select(r => r.Results));
        Assert.Equal(t1, revisions[0].ProcessedAt);
        Assert.Equal([new IndicatorDelta(740000, 5, -1, 0)], store.IndicatorChangesAfter(t1.AddSeconds(30), 739000, 741000));
        Assert.Empty(store.IndicatorChangesAfter(t1.AddMinutes(5), 739000, 741000));
        Assert.Single(store.ListIndicatorRevisions(t1.AddSeconds(30)));
    }

    [Fact]
    public async Task A_reader_keeps_a_running_total_by_reading_only_the_revisions_committed_since_its_last_read()
    {
        using IStageStore store = await OpenAsync();
        var t1 = new DateTimeOffset(2026, 11, 24, 8, 0, 0, TimeSpan.Zero);
        IndicatorChanges none = store.IndicatorChangesSince(0);
        Assert.Empty(none.Deltas);
        long first = store.ApplyIndicatorRevision("indicators/0", 10, t1, 10, [new IndicatorDelta(740000, 5, 1, 3), new IndicatorDelta(740001, 5, 0, 2)]);
        long second = store.ApplyIndicatorRevision("indicators/1", 4, t1.AddMinutes(1), 4, [new IndicatorDelta(740000, 5, 2, 2)]);
        IndicatorChanges both = store.IndicatorChangesSince(none.LastRevision);
        Assert.Equal(second, both.LastRevision);
        Assert.Equal([new IndicatorDelta(740000, 5, 3, 5), new IndicatorDelta(740001, 5, 0, 2)], both.Deltas.OrderBy(d => d.Day));
        long third = store.ApplyIndicatorRevision("indicators/0", 11, t1.AddMinutes(2), 1, [new IndicatorDelta(740001, 5, 1, 1)]);
        IndicatorChanges since = store.IndicatorChangesSince(both.LastRevision);
        Assert.Equal(third, since.LastRevision);
        Assert.Equal([new IndicatorDelta(740001, 5, 1, 1)], since.Deltas);
        Assert.Equal(third, store.IndicatorChangesSince(third).LastRevision); // nothing new: the same point, nothing to add
        Assert.Empty(store.IndicatorChangesSince(third).Deltas);
        Assert.True(first < second && second < third);
        // As of a moment, among the revisions a total holds: the third is not taken back from a total without it.
        Assert.Equal([new IndicatorDelta(740000, 5, 2, 2)], store.IndicatorChangesAfter(t1.AddSeconds(30), 739000, 741000, throughRevision: second));
    }

    [Fact]
    public async Task Indicators_read_as_a_running_total_equal_the_sum_of_every_revision_now_and_as_of_a_moment()
    {
        using IStageStore store = await OpenAsync();
        var t1 = new DateTimeOffset(2026, 11, 24, 8, 0, 0, TimeSpan.Zero);
        var reader = new Sidep.Ingestion.StoredIndicators(store);
        store.ApplyIndicatorRevision("indicators/0", 1, t1, 1, [new IndicatorDelta(740000, 5, 1, 1)]);
        Assert.Equal((1, 1), (reader.Snapshot().P(740000, 5), reader.Snapshot().T(740000, 5)));
        store.ApplyIndicatorRevision("indicators/0", 2, t1.AddMinutes(1), 1, [new IndicatorDelta(740000, 5, -1, 0)]);
        store.ApplyIndicatorRevision("indicators/1", 1, t1.AddMinutes(2), 1, [new IndicatorDelta(740000, 5, 0, 1)]);
        Sidep.Indicators.CountTable now = reader.Snapshot(), before = reader.Snapshot(asOf: t1.AddSeconds(30));
        Assert.Equal((0, 2), (now.P(740000, 5), now.T(740000, 5)));
        Assert.Equal((1, 1), (before.P(740000, 5), before.T(740000, 5)));
    }

    [Fact]
    public async Task Cases_open_once_per_episode_update_in_place_are_withdrawn_and_feed_in_cursor_order()
    {
        using IStageStore store = await OpenAsync();
        DateTimeOffset at = DateTimeOffset.FromUnixTimeSeconds(1_800_000_000);
        static string CaseId(string key) => "case_" + key;
        CaseChange Open(string key, long person, string territory, string json) => new(true, key, person, "2026-01-12", territory, "11", json, "sms", "{\"n\":1}");
        store.ApplyFanOut("fanout/0", 5, [new PositiveResult("k1", 1, "{\"r\":1}")], [Open("k1", 7, "75", "{\"v\":1}"), Open("k2", 8, "93", "{\"v\":1}")], CaseId, at);
        Assert.Equal("{\"r\":1}", store.PositiveResultJson("k1"));
        Assert.Equal(5, store.GetOffset("fanout/0", -1));
        // The same batch again (a crash before the transport heard of it), then a correction of a detail: still one case each.
        store.ApplyFanOut("fanout/0", 5, [new PositiveResult("k1", 1, "{\"r\":1}")], [Open("k1", 7, "75", "{\"v\":1}"), Open("k2", 8, "93", "{\"v\":1}")], CaseId, at);
        store.ApplyFanOut("fanout/0", 6, [new PositiveResult("k1", 2, "{\"r\":2}"), new PositiveResult("k1", 1, "{\"r\":1}")],
            [Open("k1", 7, "75", "{\"v\":2}")], CaseId, at.AddMinutes(1));
        Assert.Equal("{\"r\":2}", store.PositiveResultJson("k1"));
        StoredCase k1 = Assert.Single(store.Cases(["75"], 0, null, 10));
        Assert.Equal(("case_k1", "open", "{\"v\":2}"), (k1.CaseId, k1.Status, k1.Json));
        Assert.Equal([("case_k1", "2026-01-12", "75")], store.OpenCasesOf(7).Select(c => (c.CaseId, c.SampleDate, c.Territory)));
        store.ApplyFanOut("fanout/1", 1, [], [new CaseChange(false, "k2", 8, "2026-01-12", "", "", null, null, null)], CaseId, at.AddMinutes(2));
        Assert.Equal("withdrawn", store.Case("case_k2")!.Status);
        Assert.Empty(store.OpenCasesOf(8));
        List<StoredCase> feed = store.CasesChangedAfter(0, 10);
        Assert.Equal(["case_k1", "case_k2"], feed.Select(c => c.CaseId)); // the latest change of each, in the order they happened
        Assert.True(feed[0].Seq < feed[1].Seq);
        Assert.Empty(store.CasesChangedAfter(feed[1].Seq, 10));
        Assert.Empty(store.Cases([], 0, null, 10)); // no territory, no case
    }

    [Fact]
    public async Task A_date_s_research_rows_are_read_a_page_at_a_time_in_one_order_without_those_of_persons_who_opposed()
    {
        using IStageStore store = await OpenAsync();
        // Keys as the research stage makes them (32 hex digits), written out of order, with another date's and an opposed person's.
        string[] keys = [.. Enumerable.Range(0, 25).Select(i => new UInt128((ulong)(i * 7919 % 25), (ulong)i).ToString("x32"))];
        store.ApplyResearch("research/0", 1, [.. keys.Select((k, i) => (ResearchChange)new ResearchUpsert(new ResearchRowRecord(k, i == 3 ? 99 : 1 + i % 4, 1, "2026-01-10", "{}"))),
            new ResearchUpsert(new ResearchRowRecord(new string('f', 32), 1, 1, "2026-01-11", "{}"))]);
        store.RecordOpposition(99, null, DateTimeOffset.UtcNow);
        var read = new List<string>();
        for (List<ResearchRowRecord> page = store.ResearchRows("2026-01-10", null, 10); ; page = store.ResearchRows("2026-01-10", page[^1].Cursor, 10))
        {
            Assert.InRange(page.Count, 0, 10);
            read.AddRange(page.Select(r => r.Key));
            if (page.Count < 10)
            {
                break;
            }
        }
        // Every row once (the store's order, the same as one read of them all), the opposed person's left out.
        Assert.Equal(store.ResearchRows("2026-01-10").Select(r => r.Key), read);
        Assert.Equal([.. keys.Where((_, i) => i != 3).Order(StringComparer.Ordinal)], read.Order(StringComparer.Ordinal));
    }

    [Fact]
    public async Task Research_rows_keep_the_latest_version_follow_merges_and_mark_every_date_they_leave_or_enter()
    {
        using IStageStore store = await OpenAsync();
        static ResearchUpsert Row(string key, long person, int version, string date) => new(new ResearchRowRecord(key, person, version, date, $"{{\"v\":{version}}}"));
        // In one batch: a row, its correction to another date, an older version arriving late; another row then its retraction.
        store.ApplyResearch("research/0", 6, [Row("a", 1, 1, "2026-01-10"), Row("a", 1, 2, "2026-01-11"), Row("a", 1, 1, "2026-01-10"),
            Row("b", 2, 1, "2026-01-12"), new ResearchRemove("b", 2), Row("c", 3, 1, "2026-01-12")]);
        // (A date a row entered and left within the batch may be marked too: writing it again changes nothing.)
        Assert.Superset(new HashSet<string> { "2026-01-11", "2026-01-12" }, store.DirtyResearchDates(10).ToHashSet());
        Assert.Equal("{\"v\":2}", Assert.Single(store.ResearchRows("2026-01-11")).Json);
        Assert.Empty(store.ResearchRows("2026-01-10"));
        Assert.Equal(["c"], store.ResearchRows("2026-01-12").Select(r => r.Key));
        store.ResearchWritten(store.DirtyResearchDates(10));
        store.ApplyResearch("research/0", 6, [Row("a", 1, 9, "2026-01-01")]); // the same position again: already in
        Assert.Empty(store.DirtyResearchDates(10));
        // A merge moves the rows to the surviving person and marks their dates; a correction moves a row to another date.
        store.ApplyResearch("research/0", 8, [new ResearchMerge(3, 1), Row("a", 1, 3, "2026-01-13")]);
        Assert.Equal(["2026-01-11", "2026-01-12", "2026-01-13"], store.DirtyResearchDates(10));
        Assert.Equal([1L], store.ResearchRows("2026-01-12").Select(r => r.PersonId));
        Assert.Equal([1L], store.ResearchPersons());
        // An opposition removes the person's rows from what is written.
        store.RecordOpposition(1, null, DateTimeOffset.UtcNow);
        Assert.True(store.OpposedPerson(1));
        Assert.Empty(store.ResearchRows("2026-01-13"));
    }

    [Fact]
    public async Task The_audit_log_is_append_only()
    {
        using IStageStore store = await OpenAsync();
        store.Audit("agent-1", "investigator", "cases.list", "/v1/cases", ["case_1", "case_2"], DateTimeOffset.UtcNow);
        AuditRecord record = Assert.Single(store.AuditLog(0, 10));
        Assert.Equal(["case_1", "case_2"], record.CaseIds);
        Assert.ThrowsAny<Exception>(() => ExecuteBehindTheStore("UPDATE audit SET agent = 'nobody'"));
        Assert.ThrowsAny<Exception>(() => ExecuteBehindTheStore("DELETE FROM audit"));
        Assert.Single(store.AuditLog(0, 10));
    }

    [Fact]
    public async Task The_lab_register_finds_labs_by_key_source_and_certificate_and_refuses_a_facility_another_lab_sends_as()
    {
        using IStageStore store = await OpenAsync();
        var labs = (ILabRegister)store;
        string key = labs.AddLab("990000001", "Demo", ["SIDEP-DEMO"], ["127.0.0.1"], ["ab:cd:ef"]);
        Assert.StartsWith("sdp_", key);
        Assert.Equal("990000001", labs.FindLabByApiKey(key)!.Finess);
        Assert.Null(labs.FindLabByApiKey(key + "x"));
        Assert.Equal("990000001", labs.FindLabByMllpSource("127.0.0.1")!.Finess);
        Assert.Null(labs.FindLabByMllpSource("127.0.0.2"));
        Assert.Equal("990000001", labs.FindLabByCertificate("ABCDEF")!.Finess);
        Assert.Equal(["SIDEP-DEMO"], labs.FindLab("990000001")!.FacilityIds);

        LabConflictException refused = Assert.Throws<LabConflictException>(() => labs.AddLab("990000002", "Other", ["SIDEP-DEMO"], []));
        Assert.Equal("990000001", Assert.Single(refused.Conflicts).OwnedBy);
        Assert.Single(labs.ListLabs());
        // Registered again: a new key (the old one no longer opens it), the new lists.
        string again = labs.AddLab("990000001", "Demo", ["OTHER-ID"], []);
        Assert.Null(labs.FindLabByApiKey(key));
        Assert.Equal(["OTHER-ID"], labs.FindLabByApiKey(again)!.FacilityIds);
        Assert.Null(labs.FindLabByMllpSource("127.0.0.1"));
    }

    [Fact]
    public async Task Lab_activity_written_by_several_gateways_adds_up_by_lab_hour_and_day()
    {
        using IStageStore store = await OpenAsync();
        var log = (ILabActivityLog)store;
        var t = new DateTimeOffset(2026, 12, 7, 9, 30, 0, TimeSpan.Zero);
        long hour = LabHour.HourOf(t);
        int day = DateOnly.FromDateTime(t.UtcDateTime).DayNumber;
        log.AddActivity([new LabHour("990000001", hour, 10, 8, 1, 1, 0, t), new LabHour("990000002", hour, 3, 0, 3, 0, 0, null)],
            [new DelayCount(day, 0, 5), new DelayCount(day - 1, 1, 3)], [new RejectionCount("990000002", hour, "MissingField", 3)]);
        // A second gateway's counts for the same hour, and the next hour.
        log.AddActivity([new LabHour("990000001", hour, 5, 5, 0, 0, 2, t.AddMinutes(-20)), new LabHour("990000001", hour + 1, 1, 1, 0, 0, 0, t.AddHours(1))],
            [new DelayCount(day, 0, 2)], [new RejectionCount("990000002", hour, "MissingField", 2), new RejectionCount("990000001", hour, "InvalidValue", 1)]);

        LabHour first = Assert.Single(log.LabHours(hour, hour + 1), h => h.Lab == "990000001");
        Assert.Equal((15, 13, 1, 1, 2, (DateTimeOffset?)t), (first.Received, first.Stored, first.Rejected, first.Quarantined, first.Duplicates, first.LastReceivedAt));
        Assert.Null(Assert.Single(log.LabHours(hour, hour + 1), h => h.Lab == "990000002").LastReceivedAt);
        Assert.Equal(3, log.LabHours(hour, hour + 2).Count);
        Assert.Equal([("990000001", 16L, 14L, 1L, 1L), ("990000002", 3L, 0L, 3L, 0L)],
            log.LabDays(day, day).OrderBy(d => d.Lab).Select(d => (d.Lab, d.Received, d.Stored, d.Rejected, d.Quarantined)));
        Assert.Empty(log.LabDays(day + 1, day + 5));
        Assert.Equal(new Dictionary<string, DateTimeOffset> { ["990000001"] = t.AddHours(1) }, log.LastReceived());
        Assert.Equal([new DelayCount(day - 1, 1, 3), new DelayCount(day, 0, 7)], log.Delays(day - 3, day));
        Assert.Equal([new RejectionCount("990000001", hour, "InvalidValue", 1), new RejectionCount("990000002", hour, "MissingField", 5)],
            log.Rejections(hour, hour + 1).OrderBy(r => r.Lab));
        Assert.Empty(log.Rejections(hour + 1, hour + 5));
    }

    [Fact]
    public async Task Transcoding_changes_are_numbered_in_order_so_a_follower_misses_none()
    {
        using IStageStore store = await OpenAsync();
        var labs = (ILabRegister)store;
        Assert.Equal((2, 0), labs.UpsertTranscoding("990000001", [new TranscodingRow("COV", "94500-6", "PCR"), new TranscodingRow("AG", "94558-4", null)]));
        List<TranscodingChange> all = labs.TranscodingChangedAfter(-1);
        Assert.Equal(["AG", "COV"], all.Select(c => c.Row.LocalCode).Order());
        long mark = all.Max(c => c.Mark);
        Assert.Empty(labs.TranscodingChangedAfter(mark));
        Assert.Equal((0, 1), labs.UpsertTranscoding("990000001", [new TranscodingRow("AG", "94500-6", null)]));
        labs.UpsertTranscoding("990000002", [new TranscodingRow("X", "94309-2", null)]);
        List<TranscodingChange> later = labs.TranscodingChangedAfter(mark);
        Assert.Equal([("990000001", "AG", "94500-6"), ("990000002", "X", "94309-2")], later.Select(c => (c.Lab, c.Row.LocalCode, c.Row.Loinc)));
        Assert.True(later[0].Mark < later[1].Mark);
        Assert.Equal([("COV", "94500-6", "PCR")], labs.ListTranscoding("990000001").Where(t => t.Row.LocalCode == "COV").Select(t => (t.Row.LocalCode, t.Row.Loinc, t.Row.Label)));
        Assert.Equal(3, labs.ListTranscoding().Count);
    }
}

public sealed class EmbeddedStoreContractTests : StoreContractTests, IDisposable
{
    private readonly List<TempDir> _dirs = [];

    protected override Task<IStageStore> OpenAsync()
    {
        var dir = new TempDir();
        _dirs.Add(dir);
        return Task.FromResult<IStageStore>(StateStore.Open(dir.Path));
    }

    protected override void ExecuteBehindTheStore(string sql)
    {
        using var connection = new Microsoft.Data.Sqlite.SqliteConnection($"Data Source={Path.Combine(_dirs[^1].Path, "sidep.db")}");
        connection.Open();
        using Microsoft.Data.Sqlite.SqliteCommand command = connection.CreateCommand();
        command.CommandText = sql;
        command.ExecuteNonQuery();
    }

    public void Dispose() => _dirs.ForEach(d => d.Dispose());
}

public sealed class PostgresStoreContractTests(PostgresCluster cluster) : StoreContractTests, IClassFixture<PostgresCluster>
{
    private string _database = "";

    protected override async Task<IStageStore> OpenAsync() => PostgresStore.Open(_database = await cluster.NewDatabaseAsync());

    protected override void ExecuteBehindTheStore(string sql)
    {
        using var connection = new Npgsql.NpgsqlConnection(_database);
        connection.Open();
        using var command = new Npgsql.NpgsqlCommand(sql, connection);
        command.ExecuteNonQuery();
    }
}
