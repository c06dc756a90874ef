using Sidep.Indicators;
using Sidep.Ingestion;
using Sidep.Domain;
using Sidep.Journal;
using Sidep.Pipeline;
using Sidep.Storage.Sqlite;
using Sidep.Tests;
using static Sidep.Tests.IdentityFixtures;

namespace Sidep.Ingestion.Tests;

public class IndicatorStageTests
{
    private static readonly int Day = new DateOnly(2026, 1, 12).DayNumber;

    private static (int P, int T) National(CountTable table)
    {
        int p = 0, t = 0;
        for (int cell = 0; cell < Cells.Count; cell++)
        {
            p += table.P(Day, cell);
            t += table.T(Day, cell);
        }
        return (p, t);
    }

    [Fact]
    public async Task One_person_sent_by_three_labs_counts_once_and_the_counts_survive_a_restart_without_a_second_revision()
    {
        using var dir = new TempDir();
        await using (EmbeddedLog log = EmbeddedLog.Open(Path.Combine(dir.Path, "log"), 4))
        using (StateStore store = StateStore.Open(dir.Path))
        {
            var ingestion = new IngestionService(log);
            for (int i = 0; i < ThreeLabs.Length; i++)
            {
                await ingestion.SubmitAsync(IdentityFixtures.Lab, Message($"ACC{i}", ThreeLabs[i]), Formats.Hl7v2, "test", false);
            }
            await ingestion.SubmitAsync(IdentityFixtures.Lab, Message("ACC9", "PID|1||99^^^LAB^PI||DURAND^PAUL||19700101|M"), Formats.Hl7v2, "test", false);
            await using var stages = new EmbeddedStages(log, dir.Path, store);
            stages.Identity();
            stages.Indicators();
            Assert.Equal(8, await stages.DrainAsync()); // 4 results in, 4 matched results out
            Assert.Equal((2, 2), National(new StoredIndicators(store).Snapshot())); // two persons positive that day
            Assert.Single(store.ListIndicatorRevisions());
        }
        await using (EmbeddedLog log = EmbeddedLog.Open(Path.Combine(dir.Path, "log"), 4))
        using (StateStore store = StateStore.Open(dir.Path))
        {
            await using var stages = new EmbeddedStages(log, dir.Path, store);
            stages.Identity();
            IndicatorStage indicators = stages.Indicators();
            await stages.DrainAsync();
            Assert.Equal((2, 2), National(new StoredIndicators(store).Snapshot()));
            Assert.Single(store.ListIndicatorRevisions());
        }
    }

    [Fact]
    public async Task A_merge_emitted_by_the_identity_stage_recounts_the_two_persons_as_one()
    {
        using var dir = new TempDir();
        await using EmbeddedLog log = EmbeddedLog.Open(Path.Combine(dir.Path, "log"), 4);
        using StateStore store = StateStore.Open(dir.Path);
        var ingestion = new IngestionService(log);
        await using var stages = new EmbeddedStages(log, dir.Path, store);
        stages.Identity();
        stages.Indicators();
        var indicators = new StoredIndicators(store);
        string nir = "1700175106693" + (97 - 1700175106693 % 97).ToString("D2");
        string withIns = $"PID|1||{nir}^^^ASIP-SANTE-INS-NIR&1.2.250.1.213.1.4.8&ISO^INS||DURAND^PAUL||";
        // The same man: with his INS; then without it and without his day of birth (another block: another person).
        await ingestion.SubmitAsync(IdentityFixtures.Lab, Message("ACC1", withIns + "19700101|M"), Formats.Hl7v2, "test", false);
        await ingestion.SubmitAsync(IdentityFixtures.Lab, Message("ACC2", "PID|1||7^^^LAB^PI||DURAND^PAUL||197001|M"), Formats.Hl7v2, "test", false);
        await stages.DrainAsync();
        Assert.Equal((2, 2), National(indicators.Snapshot()));
        // Then with the INS and the partial date: proof that both are one man.
        await ingestion.SubmitAsync(IdentityFixtures.Lab, Message("ACC3", withIns + "197001|M"), Formats.Hl7v2, "test", false);
        await stages.DrainAsync();
        Assert.Contains(stages.Transport.ReadRange(StageTopics.Matched, 0, 0, 10), m => m.Headers[StageTopics.Kind] == "merged");
        Assert.Equal((1, 1), National(indicators.Snapshot()));
    }

    [Fact]
    public async Task Output_written_before_a_crash_is_not_counted_twice_when_the_identity_stage_resumes()
    {
        using var dir = new TempDir();
        await using EmbeddedLog log = EmbeddedLog.Open(Path.Combine(dir.Path, "log"), 4);
        var ingestion = new IngestionService(log);
        for (int i = 0; i < ThreeLabs.Length; i++)
        {
            await ingestion.SubmitAsync(IdentityFixtures.Lab, Message($"ACC{i}", ThreeLabs[i]), Formats.Hl7v2, "test", false);
        }
        using StateStore store = StateStore.Open(dir.Path);
        await using var stages = new EmbeddedStages(log, dir.Path, store);
        // A crash after the output was durable but before the position was committed: the identity stage's store
        // write fails, so it starts from the same position again and publishes the same output a second time.
        var crashing = new CrashingStore(store, failOnWrite: 1);
        using (var identity = new IdentityStage(stages.Transport, crashing, stages.Terminology))
        {
            await Assert.ThrowsAsync<IOException>(() => identity.DrainOnceAsync(TimeSpan.FromMilliseconds(1)));
            Assert.Equal(3, await identity.DrainOnceAsync(TimeSpan.FromMilliseconds(1)));
        }
        Assert.Equal(6, stages.Transport.EndOffsets(StageTopics.Matched).Sum());
        stages.Indicators();
        await stages.DrainAsync();
        Assert.Equal((1, 1), National(new StoredIndicators(store).Snapshot())); // one person, counted once
    }
}

public class MatchedRecordTests
{
    [Fact]
    public void A_matched_record_carries_its_fact_and_records_written_before_the_fact_header_still_count_the_same()
    {
        var parsed = new Sidep.Parsing.Hl7v2.Hl7v2Parser().Parse(System.Buffers.BuffersExtensions.ToArray(IdentityFixtures.Message("ACC1", IdentityFixtures.ThreeLabs[0])));
        Sidep.Domain.LabResult result = parsed.Messages[0].Items[0].Result!;
        var envelope = new ResultEnvelope("sub", 1, "accepted", DateTimeOffset.UtcNow, "http", result with { Loinc = "94500-6" });
        var matched = new MatchedResult(0, 7, "InsNewPerson", 1, envelope);
        Terminology terminology = Terminology.CreateNational();
        IndicatorFact fact = Facts.From(envelope.Result, 1, 7, envelope.ReceivedAt, terminology.KindOf)!.Value;

        byte[] withFact = MatchedRecords.Encode(matched, fact);
        string Json(MatchedResult m) => System.Text.Json.JsonSerializer.Serialize(m, SidepJson.Default.MatchedResult);
        Assert.Equal(Json(matched), Json(MatchedRecords.Read(withFact)));
        // Around the envelope's binary form as the journal's record holds it: the same record once read.
        byte[] journalRecord = ResultRecords.Encode(new byte[32], envelope);
        MatchedResult raw = MatchedRecords.Read(MatchedRecords.Encode(0, 7, "InsNewPerson", 1, ResultRecords.EnvelopeBytes(journalRecord), fact));
        Assert.Equal(Json(matched), Json(raw));
        // Written by earlier releases: JSON only, and the fact header before the match as JSON (marker 0x02).
        byte[] legacy = System.Text.Json.JsonSerializer.SerializeToUtf8Bytes(matched, SidepJson.Default.MatchedResult);
        byte[] factThenJson = [0x02, .. withFact.AsSpan(1, 36), .. legacy];
        Assert.Equal(Json(matched), Json(MatchedRecords.Read(legacy)));
        Assert.Equal(Json(matched), Json(MatchedRecords.Read(factThenJson)));

        var a = new Aggregator();
        var b = new Aggregator();
        MatchedRecords.Apply([new LogEntry(RecordKind.Matched, 0, 0, "0", withFact)], a, terminology.KindOf);
        MatchedRecords.Apply([new LogEntry(RecordKind.Matched, 0, 0, "0", legacy)], b, terminology.KindOf);
        var c = new Aggregator();
        MatchedRecords.Apply([new LogEntry(RecordKind.Matched, 0, 0, "0", factThenJson)], c, terminology.KindOf);
        Assert.Equal(a.Counts.NonZero(), b.Counts.NonZero());
        Assert.Equal(a.Counts.NonZero(), c.Counts.NonZero());
        Assert.Single(a.Counts.NonZero());
    }

    [Theory]
    [InlineData("F", "94500-6")] // kept
    [InlineData("X", "94500-6")] // retracted: removed
    [InlineData("F", "12345-6")] // not a test research keeps: removed
    [InlineData("P", "94500-6")] // preliminary: no row
    public void The_research_row_rides_along_in_the_matched_record_and_equals_the_one_made_from_the_JSON(string status, string loinc)
    {
        var parsed = new Sidep.Parsing.Hl7v2.Hl7v2Parser().Parse(System.Buffers.BuffersExtensions.ToArray(IdentityFixtures.Message("ACC1", IdentityFixtures.ThreeLabs[0])));
        Sidep.Domain.LabResult result = parsed.Messages[0].Items[0].Result! with
        {
            Loinc = loinc,
            Status = status switch { "X" => Sidep.Domain.ResultStatus.Cancelled, "P" => Sidep.Domain.ResultStatus.Preliminary, _ => Sidep.Domain.ResultStatus.Final },
        };
        var envelope = new ResultEnvelope("sub", 2, "accepted", DateTimeOffset.UtcNow, "http", result);
        Terminology terminology = Terminology.CreateNational();
        byte[] envelopeBytes = ResultEnvelopeCodec.Encode(envelope);
        IndicatorFact? fact = Facts.From(result, 2, 7, envelope.ReceivedAt, terminology.KindOf);
        ResearchFact research = ResearchSink.Fact(result, 2, 7, envelope.ReceivedAt, terminology.KindOf);
        byte[] withResearch = MatchedRecords.Encode(0, 7, "InsNewPerson", 1, envelopeBytes, fact, research);
        byte[] before = MatchedRecords.Encode(0, 7, "InsNewPerson", 1, envelopeBytes, fact);

        // The match and the fact are read the same; the research row is read back whole.
        string Json(MatchedResult m) => System.Text.Json.JsonSerializer.Serialize(m, SidepJson.Default.MatchedResult);
        Assert.Equal(Json(MatchedRecords.Read(before)), Json(MatchedRecords.Read(withResearch)));
        ResearchFact back = MatchedRecords.Research(withResearch)!;
        Assert.Equal((research.Action, research.Key, research.Version, research.PersonId, research.SampleDate), (back.Action, back.Key, back.Version, back.PersonId, back.SampleDate));
        Assert.Equal(research.FieldsJson, back.FieldsJson);
        Assert.Equal(research.IdentityKeys, back.IdentityKeys);
        Assert.Null(MatchedRecords.Research(before));
        var x = new Aggregator();
        var y = new Aggregator();
        MatchedRecords.Apply([new LogEntry(RecordKind.Matched, 0, 0, "0", withResearch)], x, terminology.KindOf);
        MatchedRecords.Apply([new LogEntry(RecordKind.Matched, 0, 0, "0", before)], y, terminology.KindOf);
        Assert.Equal(x.Counts.NonZero(), y.Counts.NonZero());

        // The research stage's changes: the same from the row that rode along as from a record written before it did.
        using var dir = new TempDir();
        using StateStore store = StateStore.Open(dir.Path);
        string Describe(List<ResearchChange> changes) => string.Join("; ", changes.Select(c => c switch
        {
            ResearchUpsert u => $"upsert {u.Row.Key} {u.Row.PersonId} v{u.Row.Version} {u.Row.SampleDate} {u.Row.Json}",
            ResearchRemove r => $"remove {r.Key} v{r.Version}",
            _ => c.ToString(),
        }));
        string fromRow = Describe(ResearchSink.Changes([new LogEntry(RecordKind.Matched, 0, 0, "0", withResearch)], store, terminology.KindOf));
        string fromJson = Describe(ResearchSink.Changes([new LogEntry(RecordKind.Matched, 0, 0, "0", before)], store, terminology.KindOf));
        Assert.Equal(fromJson, fromRow);
        Assert.Equal(status == "P", fromRow.Length == 0);
    }
}

public class SampleDateFallbackTests
{
    [Theory]
    [InlineData("collection", "2026-12-01")]
    [InlineData("result-reported", "2026-12-03")]
    [InlineData("receipt", "2026-12-05")]
    public void A_result_counts_on_its_fallback_date_and_its_research_row_says_which_date_that_is(string basis, string day)
    {
        var parsed = new Sidep.Parsing.Hl7v2.Hl7v2Parser().Parse(System.Buffers.BuffersExtensions.ToArray(IdentityFixtures.Message("ACC1", IdentityFixtures.ThreeLabs[0])));
        Sidep.Domain.LabResult r = parsed.Messages[0].Items[0].Result! with { Loinc = "94500-6" };
        Sidep.Domain.Timestamp At(int d) => new(new DateTimeOffset(2026, 12, d, 10, 0, 0, TimeSpan.FromHours(1)), Sidep.Domain.TimestampPrecision.Minute, true);
        r = basis switch
        {
            "collection" => r with { SampledAt = At(1), ResultedAt = At(3) },
            "result-reported" => r with { SampledAt = At(3), ResultedAt = At(3), SampleDateBasis = Sidep.Domain.SampleDateBasis.ResultReported },
            _ => r with { SampledAt = null, ResultedAt = null, SampleDateBasis = Sidep.Domain.SampleDateBasis.Receipt },
        };
        DateTimeOffset received = new(2026, 12, 5, 9, 0, 0, TimeSpan.Zero);
        Terminology terminology = Terminology.CreateNational();

        IndicatorFact fact = Facts.From(r, 1, 7, received, terminology.KindOf)!.Value;
        Assert.Equal(DateOnly.Parse(day, System.Globalization.CultureInfo.InvariantCulture).DayNumber, fact.Day);
        ResearchFact research = ResearchSink.Fact(r, 1, 7, received, terminology.KindOf);
        Assert.Equal(day, research.SampleDate);
        Assert.Contains($"\"sampleDateBasis\":\"{basis}\"", System.Text.Encoding.UTF8.GetString(research.FieldsJson));
    }
}

public class MatchedRecordEnvelopeTests
{
    [Theory]
    [InlineData("260373001^Detected^SCT", true)]  // a positive: the fan-out makes its case from the envelope
    [InlineData("260415000^Not detected^SCT", false)]
    public async Task Only_a_positives_matched_record_carries_its_envelope(string value, bool carried)
    {
        using var dir = new TempDir();
        await using EmbeddedLog log = EmbeddedLog.Open(Path.Combine(dir.Path, "log"), 1);
        using StateStore store = StateStore.Open(dir.Path);
        await using var stages = new EmbeddedStages(log, dir.Path, store);
        var ingestion = new IngestionService(log, terminology: stages.Terminology);
        string message = System.Text.Encoding.UTF8.GetString(System.Buffers.BuffersExtensions.ToArray(IdentityFixtures.Message("ACC1", IdentityFixtures.ThreeLabs[0])));
        string withValue = System.Text.RegularExpressions.Regex.Replace(message, @"(OBX\|1\|CWE\|[^|]*\|\|)[^|]*", "${1}" + value);
        SubmissionReport report = (await ingestion.SubmitAsync(null, new System.Buffers.ReadOnlySequence<byte>(System.Text.Encoding.UTF8.GetBytes(withValue)), "hl7v2", "http", false)).Report;
        Assert.Equal(1, report.Counts.Accepted);
        stages.Identity();
        await stages.DrainAsync();

        Sidep.Transport.IncomingMessage matched = Assert.Single(stages.Transport.ReadRange(StageTopics.Matched, 0, 0, 10));
        Assert.NotNull(MatchedRecords.Research(matched.Payload.Span));
        if (carried)
        {
            Assert.Equal("ACC1", MatchedRecords.Read(matched.Payload.Span).Envelope.Result.AccessionId);
        }
        else
        {
            Assert.Throws<InvalidOperationException>(() => MatchedRecords.Read(matched.Payload.Span));
        }
    }
}
