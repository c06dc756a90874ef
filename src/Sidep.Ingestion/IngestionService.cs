using System.Buffers;
using System.Diagnostics;
using System.Diagnostics.Metrics;
using System.Security.Cryptography;
using System.Text.Json;
using Sidep.Domain;
using Sidep.Parsing;
using Sidep.Parsing.Hl7v2;
using Sidep.Pipeline;

namespace Sidep.Ingestion;

/// <summary>A submission could not be made durable (the journal refused or failed): nothing of it is acknowledged, and
/// the sender should send it again. The message says why, without any of the submission's content.</summary>
public sealed class NotDurableException(string message, Exception inner) : Exception(message, inner);

/// <summary>The outcome of one submission: its report, or why the lab may not submit it.</summary>
/// <param name="Understood">For a dry run (validation): what Sidep understood of each item, identity unmasked (mask it
/// with <see cref="UnderstoodResult.Masked"/> before it leaves the machine).</param>
/// <param name="ReportJson">The report as JSON when it was written for the journal (the same bytes answer a lab that asks
/// for the JSON report); empty otherwise.</param>
public sealed record SubmissionOutcome(SubmissionReport Report, string? Forbidden, IReadOnlyList<UnderstoodResult>? Understood = null)
{
    public byte[] ReportJson { get; init; } = [];
}

/// <summary>
/// RECEIVE: parse, check the lab submits as itself, decide new / duplicate / correction per result key,
/// append the raw submission and the results to the log in one durable write, and report per item.
/// Transport-free: the HTTP gateway, the MLLP listener and the CLI's validate all call it.
/// </summary>
public sealed class IngestionService
{
    public static readonly ActivitySource ActivitySource = new("Sidep.Ingestion");
    public static readonly Meter Meter = new("Sidep.Ingestion");
    private static readonly Counter<long> s_received = Meter.CreateCounter<long>("sidep.results.received", description: "Results received");
    private static readonly Counter<long> s_outcomes = Meter.CreateCounter<long>("sidep.results.outcome", description: "Results by outcome (accepted, rejected, duplicate, correction), lab and reason");
    private static readonly Counter<long> s_replayed = Meter.CreateCounter<long>("sidep.quarantine.replayed", description: "Quarantined results replayed after their mapping was added");
    private static readonly Histogram<double> s_ackLatency = Meter.CreateHistogram<double>("sidep.ack.latency", unit: "ms", description: "Time from receipt to acknowledgement, durable write included");

    private readonly IResultJournal? _log;
    private readonly IResultKeyIndex _keys;
    private readonly IPartitionRouter? _router;
    private readonly Hl7ParserOptions _parserOptions;
    private readonly Terminology _terminology;

    /// <summary>Results waiting for a LOINC mapping, per (lab, local code), in the order they arrived.</summary>
    private readonly Dictionary<(string Lab, string Code), List<Quarantined>> _quarantine = [];
    private readonly Lock _quarantineLock = new();

    private sealed record Quarantined(string Id, ResultEnvelope Envelope);

    /// <param name="log">The durable log; null for an offline validator that stores nothing.</param>
    /// <param name="terminology">LOINC value set and per-lab transcoding; the national value set with no lab table when null.</param>
    /// <param name="keys">The result-key index; null: one in this process, rebuilt from <paramref name="log"/> (the
    /// embedded mode). The distributed mode passes the one its gateways share.</param>
    /// <param name="router">Where results are journalled (the distributed mode: a result with an INS where that INS was
    /// first seen); null: under their own partition key.</param>
    public IngestionService(IResultJournal? log, Hl7ParserOptions parserOptions = default, Terminology? terminology = null, IResultKeyIndex? keys = null,
        IPartitionRouter? router = null)
    {
        _log = log;
        _keys = keys ?? new JournalKeyIndex(log);
        _router = router;
        _parserOptions = parserOptions == default ? Hl7ParserOptions.Default : parserOptions;
        _terminology = terminology ?? Terminology.CreateNational();
        if (log is not null)
        {
            foreach (LogEntry entry in log.ReadPendingQuarantine())
            {
                Park(entry.Key, ResultEnvelopes.Read(entry.Payload.Span, out string? reason) ?? throw new InvalidDataException($"quarantined result {entry.Key}: {reason}"));
            }
        }
    }

    public Terminology Terminology => _terminology;

    /// <summary>Where the labs' activity is counted (lab health, data freshness); null: not counted.</summary>
    public LabActivityRecorder? Activity { get; init; }

    /// <summary>The clock that stamps receipts.</summary>
    public TimeProvider Time { get; init; } = TimeProvider.System;

    /// <summary>The result-key index this gateway decides against.</summary>
    public IResultKeyIndex Keys => _keys;

    private void Park(string id, ResultEnvelope envelope)
    {
        var slot = (envelope.Result.LabId, envelope.Result.AnalysisAsSent.Code);
        lock (_quarantineLock)
        {
            if (!_quarantine.TryGetValue(slot, out List<Quarantined>? list))
            {
                _quarantine[slot] = list = [];
            }
            list.Add(new Quarantined(id, envelope));
        }
    }

    /// <summary>Checks and, unless <paramref name="dryRun"/>, stores a submission; returns after it is durable.</summary>
    public async Task<SubmissionOutcome> SubmitAsync(Lab? lab, ReadOnlySequence<byte> body, string format, string channel, bool dryRun, CancellationToken cancellationToken = default)
    {
        long started = Stopwatch.GetTimestamp();
        using Activity? activity = ActivitySource.StartActivity("sidep.submit");
        activity?.SetTag("sidep.lab", lab?.Finess);
        activity?.SetTag("sidep.channel", channel);
        activity?.SetTag("sidep.bytes", body.Length);
        activity?.SetTag("sidep.dry_run", dryRun);

        DateTimeOffset receivedAt = Time.GetUtcNow();
        string sha256 = Sha256(body);
        activity?.SetTag("sidep.format", format);
        ParsedSubmission parsed = Formats.Parse(format, body, _parserOptions);

        string? forbidden = lab is null ? null : CheckSender(lab, parsed, channel);
        if (forbidden is not null)
        {
            activity?.SetStatus(ActivityStatusCode.Error, "lab mismatch");
            return new SubmissionOutcome(Report(null, receivedAt, lab, format, dryRun, false, sha256, body.Length, parsed, []), forbidden);
        }

        string submissionId = NewId(receivedAt);
        // What does not depend on what is already known is done before asking the index: mapping, checks, content hashes.
        var candidates = new List<Candidate>();
        var keyed = new List<KeyedContent>();
        foreach (ParsedMessage message in parsed.Messages)
        {
            foreach (ParsedItem item in message.Items)
            {
                if (message.IsRejected || item.IsRejected || item.Result is null)
                {
                    candidates.Add(new Candidate(item, message, null, null));
                    continue;
                }
                LabResult result = lab is null ? item.Result : item.Result with { LabId = lab.Finess };
                result = _terminology.Apply(result, item);
                Conformance.Check(result, item);
                if (result.Loinc is null)
                {
                    item.Diagnostics.Add(new Diagnostic(Severity.Warning, DiagnosticCode.NoLoinc,
                        $"local code '{result.AnalysisAsSent.Code}' has no LOINC mapping for lab {result.LabId}: the result is accepted and held in quarantine, " +
                        $"and replayed as soon as the mapping is added (PUT /v1/labs/{result.LabId}/transcoding)", item.Position)
                    { Found = result.AnalysisAsSent.Code, Expected = "a LOINC code (coding system LN), or a mapping in the lab's transcoding table" });
                }
                byte[] hash = ContentHash.Of(result);
                candidates.Add(new Candidate(item, message, result, hash));
                keyed.Add(KeyedContent.Of(result.Key, hash));
            }
        }

        if (dryRun || _log is null)
        {
            List<Decision> checkedOnly = Decisions(candidates, await _keys.PeekAsync(keyed, cancellationToken).ConfigureAwait(false));
            Record(lab, checkedOnly);
            return new SubmissionOutcome(Report(null, receivedAt, lab, format, dryRun, false, sha256, body.Length, parsed, checkedOnly), null,
                dryRun ? [.. checkedOnly.Select((d, i) => Understanding.Of(i, d.Status, d.Item, d.Message, d.Result, receivedAt, _terminology))] : null);
        }

        Dictionary<LabResult, string> routes = [];
        List<Decision> decisions = [];
        SubmissionReport? report = null;
        byte[] reportJson = [];
        var parking = new List<(string Id, ResultEnvelope Envelope)>();
        Task Journal(KeyAnswer[] answers)
        {
            decisions = Decisions(candidates, answers);
            report = Report(submissionId, receivedAt, lab, format, false, true, sha256, body.Length, parsed, decisions);
            var records = new List<LogRecord>(decisions.Count + 1);
            int index = 0;
            foreach (Decision d in decisions)
            {
                index++;
                if (d.Status is ItemStatus.Accepted or ItemStatus.Correction or ItemStatus.Retraction)
                {
                    records.Add(ResultRecord(d, new ResultEnvelope(submissionId, d.Version, Disposition(d), receivedAt, channel, d.Result!), routes));
                }
                else if (d.Status == ItemStatus.Quarantined)
                {
                    var envelope = new ResultEnvelope(submissionId, d.Version, "quarantined", receivedAt, channel, d.Result!);
                    string id = $"{submissionId}#{index}";
                    records.Add(new LogRecord(RecordKind.Quarantined, -1, id, Payload(d, envelope)));
                    parking.Add((id, envelope));
                }
            }
            var stored = new StoredSubmission(submissionId, lab?.Finess ?? "", format, channel, receivedAt, sha256, report);
            reportJson = JsonSerializer.SerializeToUtf8Bytes(report, SidepJson.Default.SubmissionReport);
            records.Insert(0, new LogRecord(RecordKind.Submission, -1, submissionId, SubmissionRecords.Encode(stored, reportJson, body)));
            return _log.AppendAsync(records, CancellationToken.None);
        }
        try
        {
            routes = await RoutesAsync(candidates.Select(c => c.Result), cancellationToken).ConfigureAwait(false);
            await _keys.DecideAsync(keyed, Journal, cancellationToken).ConfigureAwait(false);
        }
        catch (Exception ex) when (ex is not OperationCanceledException and not AggregateException)
        {
            throw new NotDurableException(ex is JournalUnavailableException
                ? $"not stored: {ex.Message}"
                : $"not stored: the submission could not be made durable ({ex.GetType().Name}: {ex.Message}); nothing of it is acknowledged: send it again", ex);
        }
        foreach ((string id, ResultEnvelope envelope) in parking)
        {
            Park(id, envelope);
        }
        activity?.SetTag("sidep.submission", submissionId);
        Record(lab, decisions);
        if (lab is not null)
        {
            Activity?.Record(lab.Finess, receivedAt, decisions);
        }
        s_ackLatency.Record(Stopwatch.GetElapsedTime(started).TotalMilliseconds, new KeyValuePair<string, object?>("channel", channel));
        return new SubmissionOutcome(report!, null) { ReportJson = reportJson };
    }

    private sealed record Candidate(ParsedItem Item, ParsedMessage Message, LabResult? Result, byte[]? Hash);

    /// <summary>Each item's decision, from the index's answers to the items that hold a result (in order).</summary>
    private static List<Decision> Decisions(List<Candidate> candidates, KeyAnswer[] answers)
    {
        var decisions = new List<Decision>(candidates.Count);
        int next = 0;
        foreach ((ParsedItem item, ParsedMessage message, LabResult? result, byte[]? hash) in candidates)
        {
            decisions.Add(result is not null ? Decide(item, message, result, hash!, answers[next++])
                : new Decision(item, message, !message.IsRejected && item.IsNotAResult ? ItemStatus.NotAResult : ItemStatus.Rejected, null, 0, null));
        }
        return decisions;
    }

    /// <summary>New, duplicate, correction, retraction — or quarantined when the result still has no LOINC.</summary>
    private static Decision Decide(ParsedItem item, ParsedMessage message, LabResult result, byte[] hash, KeyAnswer answer)
    {
        if (answer.Duplicate)
        {
            return new Decision(item, message, ItemStatus.Duplicate, result, answer.Version, null, answer.Latest);
        }
        ItemStatus status = result.Loinc is null ? ItemStatus.Quarantined
            : result.Status == ResultStatus.Cancelled ? ItemStatus.Retraction
            : answer.Version == 1 ? ItemStatus.Accepted : ItemStatus.Correction;
        return new Decision(item, message, status, result, answer.Version, hash, answer.Latest);
    }

    private static string Disposition(Decision d) =>
        d.Version == 1 && d.Status is ItemStatus.Accepted or ItemStatus.Retraction ? "new" : d.Result!.Status == ResultStatus.Cancelled ? "retraction" : "correction";

    private static byte[] Payload(Decision d, ResultEnvelope envelope) => ResultRecords.Encode(d.Hash!, envelope);

    private LogRecord ResultRecord(Decision d, ResultEnvelope envelope, Dictionary<LabResult, string> routes)
    {
        LabResult result = d.Result!;
        string partitionKey = routes.GetValueOrDefault(result) ?? result.PartitionKey;
        return new LogRecord(RecordKind.Result, _log!.PartitionOf(partitionKey), ResultRecords.Key(result.Key), Payload(d, envelope))
        {
            PartitionKey = partitionKey,
        };
    }

    /// <summary>The partition key each result is journalled under, where the router moves it from its own (by reference:
    /// a result object is one item's).</summary>
    private async Task<Dictionary<LabResult, string>> RoutesAsync(IEnumerable<LabResult?> results, CancellationToken cancellationToken)
    {
        var routes = new Dictionary<LabResult, string>(ReferenceEqualityComparer.Instance);
        if (_router is null)
        {
            return routes;
        }
        List<(LabResult Result, string Ins)> withIns = [.. results.OfType<LabResult>()
            .Select(r => (Result: r, Ins: Identity.Matcher.TrustedIns(r.Patient, !_parserOptions.Production)))
            .Where(r => r.Ins is not null).Select(r => (r.Result, r.Ins!))];
        if (withIns.Count == 0)
        {
            return routes;
        }
        string[] keys = await _router.RouteAsync([.. withIns.Select(r => ((string?)r.Ins, r.Result.PartitionKey))], cancellationToken).ConfigureAwait(false);
        for (int i = 0; i < withIns.Count; i++)
        {
            if (keys[i] != withIns[i].Result.PartitionKey)
            {
                routes[withIns[i].Result] = keys[i];
            }
        }
        return routes;
    }

    /// <summary>Adds mappings to a lab's transcoding table (already stored by the caller) and replays, once and in the
    /// order they arrived, the quarantined results of those codes. Returns how many were replayed.</summary>
    public async Task<int> MapAndReplayAsync(string lab, IReadOnlyList<TranscodingRow> rows, CancellationToken cancellationToken = default)
    {
        foreach (TranscodingRow row in rows)
        {
            _terminology.Set(lab, row);
        }
        if (_log is null)
        {
            return 0;
        }
        var parked = new List<Quarantined>();
        lock (_quarantineLock)
        {
            foreach (TranscodingRow row in rows)
            {
                if (_quarantine.Remove((lab, row.LocalCode), out List<Quarantined>? held))
                {
                    parked.AddRange(held);
                }
            }
        }
        if (parked.Count == 0)
        {
            return 0;
        }
        var results = new List<LabResult>(parked.Count);
        var hashes = new List<byte[]>(parked.Count);
        var keyed = new List<KeyedContent>(parked.Count);
        foreach (Quarantined q in parked)
        {
            LabResult result = _terminology.Apply(q.Envelope.Result, new ParsedItem(new SourcePosition("", 0, 0, 0, 0), q.Envelope.Result, []));
            byte[] hash = ContentHash.Of(result);
            results.Add(result);
            hashes.Add(hash);
            keyed.Add(KeyedContent.Of(result.Key, hash));
        }
        Dictionary<LabResult, string> routes = [];
        Task Journal(KeyAnswer[] answers)
        {
            var records = new List<LogRecord>(parked.Count + 1);
            for (int i = 0; i < parked.Count; i++)
            {
                var item = new ParsedItem(new SourcePosition("", 0, 0, 0, 0), results[i], []);
                Decision d = Decide(item, null!, results[i], hashes[i], answers[i]);
                if (d.Status is ItemStatus.Accepted or ItemStatus.Correction or ItemStatus.Retraction)
                {
                    records.Add(ResultRecord(d, parked[i].Envelope with { Version = d.Version, Disposition = "replayed", Result = d.Result! }, routes));
                }
            }
            // The release marker goes in the same durable write as the replayed results: after a crash either both are
            // there, or the results are replayed again and found to be duplicates.
            records.Add(new LogRecord(RecordKind.Released, -1, lab, System.Text.Encoding.UTF8.GetBytes(string.Join('\n', parked.Select(q => q.Id)))));
            return _log.AppendAsync(records, CancellationToken.None);
        }
        try
        {
            routes = await RoutesAsync(results, cancellationToken).ConfigureAwait(false);
            await _keys.DecideAsync(keyed, Journal, cancellationToken).ConfigureAwait(false);
        }
        catch
        {
            // Not released: they wait in quarantine as before, first in line.
            lock (_quarantineLock)
            {
                foreach (IGrouping<string, Quarantined> code in parked.GroupBy(q => q.Envelope.Result.AnalysisAsSent.Code))
                {
                    var slot = (lab, code.Key);
                    _quarantine[slot] = [.. code, .. _quarantine.GetValueOrDefault(slot) ?? []];
                }
            }
            throw;
        }
        s_replayed.Add(parked.Count, new KeyValuePair<string, object?>("lab", lab));
        return parked.Count;
    }

    /// <summary>Replays the quarantined results whose local code is mapped already (a mapping added while this gateway
    /// was not running, or through another gateway); returns how many were replayed.</summary>
    public async Task<int> ReplayMappedAsync(CancellationToken cancellationToken = default)
    {
        List<(string Lab, TranscodingRow Row)> mapped = [];
        lock (_quarantineLock)
        {
            foreach ((string lab, string code) in _quarantine.Keys)
            {
                if (_terminology.Map(lab, code) is string loinc)
                {
                    mapped.Add((lab, new TranscodingRow(code, loinc, null)));
                }
            }
        }
        int replayed = 0;
        foreach (IGrouping<string, (string Lab, TranscodingRow Row)> lab in mapped.GroupBy(m => m.Lab))
        {
            replayed += await MapAndReplayAsync(lab.Key, [.. lab.Select(m => m.Row)], cancellationToken).ConfigureAwait(false);
        }
        return replayed;
    }

    /// <summary>What a lab has waiting in quarantine: per local code, how many, since when, and a few examples.</summary>
    public List<QuarantineSummary> QuarantineOf(string? lab)
    {
        lock (_quarantineLock)
        {
            return _quarantine
                .Where(q => lab is null || q.Key.Lab == lab)
                .OrderBy(q => q.Key.Lab, StringComparer.Ordinal).ThenBy(q => q.Key.Code, StringComparer.Ordinal)
                .Select(q => new QuarantineSummary(q.Key.Lab, q.Key.Code, q.Value[0].Envelope.Result.AnalysisAsSent.Display, q.Value.Count,
                    q.Value.Min(e => e.Envelope.ReceivedAt), q.Value.Max(e => e.Envelope.ReceivedAt),
                    q.Value.Take(3).Select(e => new QuarantineExample(e.Envelope.SubmissionId, e.Envelope.Result.AccessionId, e.Envelope.Result.Value.Raw, e.Envelope.ReceivedAt)).ToList()))
                .ToList();
        }
    }

    /// <summary>The stored submission (metadata and report) and its raw bytes, or null.</summary>
    public (StoredSubmission Meta, ReadOnlyMemory<byte> Raw)? GetSubmission(string id)
    {
        if (_log?.ReadSubmission(id) is not LogEntry entry)
        {
            return null;
        }
        return SubmissionRecords.Decode(entry.Payload);
    }

    private static string? CheckSender(Lab lab, ParsedSubmission parsed, string channel)
    {
        // What identified the lab, in the sender's own terms: an API key over HTTP, the connection over MLLP.
        string identified = channel == "mllp" ? "this MLLP connection (its source address or client certificate) identifies lab" : "this API key belongs to lab";
        foreach (ParsedMessage message in parsed.Messages)
        {
            if (message.SenderIds.Count > 0 && !message.SenderIds.Any(lab.SendsAs))
            {
                return $"{identified} {lab.Finess}; the message at line {message.Position.Line} (byte {message.Position.ByteOffset}) is sent as facility '{string.Join("^", message.SenderIds)}' (MSH-4), which is not registered for it";
            }
        }
        return null;
    }

    /// <summary>The metric's outcome names, by status.</summary>
    private static readonly string[] OutcomeNames = [.. Enum.GetValues<ItemStatus>().Select(s => s.ToString().ToLowerInvariant())];

    private static void Record(Lab? lab, List<Decision> decisions)
    {
        var labTag = new KeyValuePair<string, object?>("lab", lab?.Finess ?? "none");
        s_received.Add(decisions.Count, labTag);
        // One measurement per outcome and reason of the submission, not one per result.
        var outcomes = new Dictionary<(ItemStatus Status, string Reason), long>();
        foreach (Decision d in decisions)
        {
            var outcome = (d.Status, d.Status == ItemStatus.Rejected ? RejectionReason(d) : "");
            outcomes[outcome] = outcomes.GetValueOrDefault(outcome) + 1;
        }
        foreach (((ItemStatus status, string reason), long count) in outcomes)
        {
            s_outcomes.Add(count, labTag, new("outcome", OutcomeNames[(int)status]), new("reason", reason));
        }
    }

    private static SubmissionReport Report(string? id, DateTimeOffset receivedAt, Lab? lab, string format, bool dryRun, bool durable, string sha256, long bytes,
        ParsedSubmission parsed, List<Decision> decisions)
    {
        var items = new List<ItemReport>();
        var messages = new List<MessageReport>();
        int index = 0;
        var byItem = decisions.ToDictionary(d => d.Item);
        foreach (ParsedMessage message in parsed.Messages)
        {
            int rejected = 0;
            foreach (ParsedItem item in message.Items)
            {
                Decision? d = byItem.TryGetValue(item, out Decision? found) ? found : null;
                ItemStatus status = d?.Status ?? ItemStatus.Rejected;
                if (status == ItemStatus.Rejected)
                {
                    rejected++;
                }
                var problems = new List<ProblemReport>();
                if (message.IsRejected && !item.IsRejected)
                {
                    problems.Add(new ProblemReport("error", "MessageRejected", "the message holding this result was refused: see the message's problems",
                        message.Position.Segment, message.Position.Line, 0, 0, message.Position.ByteOffset));
                }
                problems.AddRange(item.Diagnostics.Select(ProblemReport.From));
                if (d is not null && StatusWords(d) is (string code, string words))
                {
                    // What happened to it, in the same words in every channel (HL7 ERR-4 I, FHIR information, HPRIM I).
                    problems.Add(new ProblemReport("information", code, words, item.Position.Segment, item.Position.Line, item.Position.Field,
                        item.Position.Component, item.Position.ByteOffset));
                }
                LabResult? result = d?.Result ?? item.Result;
                items.Add(new ItemReport(index++, message.ControlId, item.Position.Segment, item.Position.Line, item.Position.ByteOffset, status,
                    status == ItemStatus.Rejected || result is null ? null : result.Key.ToString(), d?.Version is > 0 ? d.Version : null,
                    result?.Loinc, status == ItemStatus.Rejected ? null : result?.Value.Interpretation.ToString().ToLowerInvariant(), problems));
            }
            string ack = message.IsRejected ? "AR" : rejected > 0 ? "AE" : "AA";
            var header = new MessageHeader(message.Version, message.SendingApplication, message.SenderIds.Count > 0 ? string.Join("^", message.SenderIds) : null,
                message.ReceivingApplication, message.ReceivingFacility, message.AcceptAckType, message.ApplicationAckType);
            messages.Add(new MessageReport(message.ControlId, header, message.Position.Line, message.Position.ByteOffset, message.ByteLength, ack,
                message.Diagnostics.Select(ProblemReport.From).ToList()));
        }
        var counts = new ReportCounts(
            items.Count(i => i.Status == ItemStatus.Accepted), items.Count(i => i.Status == ItemStatus.Rejected),
            items.Count(i => i.Status == ItemStatus.Duplicate), items.Count(i => i.Status == ItemStatus.Correction),
            items.Count(i => i.Status == ItemStatus.Quarantined), items.Count(i => i.Status == ItemStatus.Retraction),
            items.Count(i => i.Status == ItemStatus.NotAResult));
        return new SubmissionReport(id, receivedAt, lab?.Finess ?? "", format, dryRun, durable, sha256, bytes, counts,
            parsed.Diagnostics.Select(ProblemReport.From).ToList(), messages, items);
    }

    /// <summary>The words for a stored result that is not simply new: a duplicate (of which version), a correction, a
    /// retraction.</summary>
    private static (string Code, string Words)? StatusWords(Decision d) => d.Status switch
    {
        ItemStatus.Duplicate when d.Latest > d.Version => ("Duplicate",
            $"duplicate of version {d.Version} of this result, already received: no effect (version {d.Latest} supersedes it)"),
        ItemStatus.Duplicate => ("Duplicate", $"duplicate of version {d.Version} of this result, already received: no effect"),
        ItemStatus.Correction => ("Correction", $"correction: stored as version {d.Version} of this result, which replaces the earlier ones"),
        ItemStatus.Retraction when d.Version > 1 => ("Retraction", $"retraction: version {d.Version} cancels this result; it no longer counts"),
        ItemStatus.Retraction => ("Retraction", "retraction: a cancelled result, stored; it does not count"),
        _ => null,
    };

    private static string Sha256(in ReadOnlySequence<byte> body)
    {
        using var hash = IncrementalHash.CreateHash(HashAlgorithmName.SHA256);
        foreach (ReadOnlyMemory<byte> segment in body)
        {
            hash.AppendData(segment.Span);
        }
        return Convert.ToHexStringLower(hash.GetHashAndReset());
    }

    private static string NewId(DateTimeOffset at) => $"sub_{at:yyyyMMddHHmmss}_{Convert.ToHexStringLower(RandomNumberGenerator.GetBytes(6))}";

    /// <param name="Latest">The newest version of the result's key known when it was decided.</param>
    /// <summary>Why an item was rejected, as its answer's first error says (a diagnostic code: MissingField…).</summary>
    internal static string RejectionReason(Decision d) =>
        d.Message.Diagnostics.Concat(d.Item.Diagnostics).FirstOrDefault(x => x.Severity == Severity.Error)?.Code.ToString() ?? "unknown";

    internal sealed record Decision(ParsedItem Item, ParsedMessage Message, ItemStatus Status, LabResult? Result, int Version, byte[]? Hash, int Latest = 0);
}
