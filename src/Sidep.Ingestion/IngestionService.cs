using System.Buffers;
using System.Buffers.Binary;
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
public sealed record SubmissionOutcome(SubmissionReport Report, string? Forbidden, IReadOnlyList<UnderstoodResult>? Understood = null);

/// <summary>
/// RECEIVE: parse, check the lab submits as itself, decide new / duplicate / correction per result key,
/// append the raw submission and the results to the log in one durable write, and report per item.
/// Transport-free: the HTTP gateway, the MLLP listener and the CLI's validate all call it.
/// </summary>
public sealed class IngestionService
{
    public const string Hl7MediaType = Formats.Hl7MediaType;

    public static readonly ActivitySource ActivitySource = new("Sidep.Ingestion");
    public static readonly Meter Meter = new("Sidep.Ingestion");
    private static readonly Counter<long> s_received = Meter.CreateCounter<long>("sidep.results.received", description: "Results received");
    private static readonly Counter<long> s_outcomes = Meter.CreateCounter<long>("sidep.results.outcome", description: "Results by outcome (accepted, rejected, duplicate, correction), lab and reason");
    private static readonly Counter<long> s_replayed = Meter.CreateCounter<long>("sidep.quarantine.replayed", description: "Quarantined results replayed after their mapping was added");
    private static readonly Histogram<double> s_ackLatency = Meter.CreateHistogram<double>("sidep.ack.latency", unit: "ms", description: "Time from receipt to acknowledgement, durable write included");

    private readonly IResultJournal? _log;
    private readonly Hl7ParserOptions _parserOptions;
    /// <summary>Latest version of every result key: 128-bit fingerprints of the key and of the content, in a
    /// dictionary of value types (about 50 bytes a result, no object per entry). The journal keeps the full hashes.</summary>
    private readonly Dictionary<UInt128, Known> _known = [];

    /// <summary>What the index knows of a result key: its latest version and content, and the contents of its earlier
    /// versions (by version; null while there is one), so that an older version sent again — what a lab does after a
    /// lost acknowledgement — is a duplicate too, not a correction that undoes the newer one.</summary>
    private readonly record struct Known(UInt128 Content, int Version, UInt128[]? Earlier = null)
    {
        /// <summary>The version whose content this is; 0 when none is.</summary>
        public int VersionOf(UInt128 content)
        {
            if (Version > 0 && Content == content)
            {
                return Version;
            }
            for (int i = 0; Earlier is not null && i < Earlier.Length; i++)
            {
                if (Earlier[i] == content && content != UInt128.Zero)
                {
                    return i + 1;
                }
            }
            return 0;
        }

        /// <summary>With version <paramref name="version"/> of this content, in any order (a rebuild reads a key's
        /// versions partition by partition, and a correction may have moved it to another partition).</summary>
        public Known With(int version, UInt128 content)
        {
            if (version > Version)
            {
                UInt128[]? earlier = null;
                if (version > 1)
                {
                    earlier = new UInt128[version - 1];
                    Earlier?.CopyTo(earlier, 0);
                    if (Version > 0)
                    {
                        earlier[Version - 1] = Content;
                    }
                }
                return new Known(content, version, earlier);
            }
            if (version < Version && Earlier is not null)
            {
                var earlier = (UInt128[])Earlier.Clone();
                earlier[version - 1] = content;
                return this with { Earlier = earlier };
            }
            return this;
        }
    }

    private static UInt128 Fingerprint(ReadOnlySpan<byte> sha256) => BinaryPrimitives.ReadUInt128LittleEndian(sha256);

    private readonly Lock _decide = new();
    private readonly Terminology _terminology;

    /// <summary>Results waiting for a LOINC mapping, per (lab, local code), in the order they arrived.</summary>
    private readonly Dictionary<(string Lab, string Code), List<Quarantined>> _quarantine = [];

    private sealed record Quarantined(string Id, ResultEnvelope Envelope);

    /// <param name="log">The durable log; null for an offline validator that stores nothing.</param>
    /// <param name="terminology">LOINC value set and per-lab transcoding; the national value set with no lab table when null.</param>
    public IngestionService(IResultJournal? log, Hl7ParserOptions parserOptions = default, Terminology? terminology = null)
    {
        _log = log;
        _parserOptions = parserOptions == default ? Hl7ParserOptions.Default : parserOptions;
        _terminology = terminology ?? Terminology.CreateNational();
        if (log is not null)
        {
            Rebuild(log);
            foreach (LogEntry entry in log.ReadPendingQuarantine())
            {
                Park(entry.Key, ResultStoreStage.Read(entry.Payload.Span, out string? reason) ?? throw new InvalidDataException($"quarantined result {entry.Key}: {reason}"));
            }
        }
    }

    public Terminology Terminology => _terminology;

    private void Park(string id, ResultEnvelope envelope)
    {
        var slot = (envelope.Result.LabId, envelope.Result.AnalysisAsSent.Code);
        if (!_quarantine.TryGetValue(slot, out List<Quarantined>? list))
        {
            _quarantine[slot] = list = [];
        }
        list.Add(new Quarantined(id, envelope));
    }

    /// <summary>Rebuilds the result-key index from the journal: a restart forgets nothing it acknowledged.</summary>
    private void Rebuild(IResultJournal log)
    {
        foreach (LogEntry entry in log.ReadAllResults())
        {
            ReadOnlySpan<byte> p = entry.Payload.Span;
            if (ResultRecords.ParseKey(entry.Key) is not ResultKey resultKey)
            {
                continue;
            }
            UInt128 key = resultKey.Fingerprint();
            int version = ResultRecords.Version(p);
            _known[key] = (_known.TryGetValue(key, out Known known) ? known : default).With(version, Fingerprint(ResultRecords.ContentHash(p)));
        }
    }

    public int KnownResults
    {
        get
        {
            lock (_decide)
            {
                return _known.Count;
            }
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

        DateTimeOffset receivedAt = DateTimeOffset.UtcNow;
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
        var decisions = new List<Decision>();
        var records = new List<LogRecord>();
        Task durable;
        SubmissionReport report;
        // What does not depend on what is already known is done before taking the lock: mapping, checks, content hashes.
        var candidates = new List<(ParsedItem Item, ParsedMessage Message, LabResult? Result, byte[]? Hash)>();
        foreach (ParsedMessage message in parsed.Messages)
        {
            foreach (ParsedItem item in message.Items)
            {
                if (message.IsRejected || item.IsRejected || item.Result is null)
                {
                    candidates.Add((item, message, null, null));
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
                candidates.Add((item, message, result, ContentHash.Of(result)));
            }
        }
        lock (_decide)
        {
            var pending = new Dictionary<UInt128, Known>();
            foreach ((ParsedItem item, ParsedMessage message, LabResult? result, byte[]? hash) in candidates)
            {
                decisions.Add(result is not null ? Decide(item, message, result, hash!, pending)
                    : new Decision(item, message, !message.IsRejected && item.IsNotAResult ? ItemStatus.NotAResult : ItemStatus.Rejected, null, 0, null));
            }

            report = Report(dryRun ? null : submissionId, receivedAt, lab, format, dryRun, !dryRun && _log is not null, sha256, body.Length, parsed, decisions);
            if (dryRun || _log is null)
            {
                Record(lab, decisions);
                return new SubmissionOutcome(report, null, dryRun ? [.. decisions.Select((d, i) => Understanding.Of(i, d.Status, d.Item, d.Message, d.Result, receivedAt, _terminology))] : null);
            }

            int index = 0;
            foreach (Decision d in decisions)
            {
                index++;
                if (d.Status is ItemStatus.Accepted or ItemStatus.Correction or ItemStatus.Retraction)
                {
                    records.Add(ResultRecord(d, new ResultEnvelope(submissionId, d.Version, Disposition(d), receivedAt, channel, d.Result!)));
                }
                else if (d.Status == ItemStatus.Quarantined)
                {
                    var envelope = new ResultEnvelope(submissionId, d.Version, "quarantined", receivedAt, channel, d.Result!);
                    string id = $"{submissionId}#{index}";
                    records.Add(new LogRecord(RecordKind.Quarantined, -1, id, Payload(d, envelope)));
                    Park(id, envelope);
                }
            }
            var stored = new StoredSubmission(submissionId, lab?.Finess ?? "", format, channel, receivedAt, sha256, report);
            records.Insert(0, new LogRecord(RecordKind.Submission, -1, submissionId, SubmissionRecords.Encode(stored, body)));

            // Enqueued under the lock, so the journal's order is the order of decisions: a duplicate is never
            // acknowledged before the original it duplicates is durable.
            durable = _log.AppendAsync(records, CancellationToken.None);
            foreach ((UInt128 key, Known known) in pending)
            {
                _known[key] = known;
            }
            activity?.SetTag("sidep.submission", submissionId);
            Record(lab, decisions);
        }
        try
        {
            await durable.WaitAsync(cancellationToken).ConfigureAwait(false);
        }
        catch (Exception ex) when (ex is not OperationCanceledException)
        {
            Forget(ex);
            throw new NotDurableException(ex is JournalUnavailableException
                ? $"not stored: {ex.Message}"
                : $"not stored: the submission could not be made durable ({ex.GetType().Name}: {ex.Message}); nothing of it is acknowledged: send it again", ex);
        }
        s_ackLatency.Record(Stopwatch.GetElapsedTime(started).TotalMilliseconds, new KeyValuePair<string, object?>("channel", channel));
        return new SubmissionOutcome(report, null);
    }

    /// <summary>After a write that failed, the result-key index may hold results that never became durable (decided
    /// before their write): it is rebuilt from the journal, so that a resend is accepted, not taken for a duplicate.</summary>
    private void Forget(Exception failure)
    {
        lock (_decide)
        {
            _known.Clear();
            try
            {
                Rebuild(_log!);
            }
            catch (Exception ex)
            {
                // The journal cannot be read either: nothing can be decided safely any more.
                throw new AggregateException("the result-key index could not be rebuilt after a failed write", failure, ex);
            }
        }
    }

    /// <summary>New, duplicate, correction — or quarantined when the result still has no LOINC.</summary>
    private Decision Decide(ParsedItem item, ParsedMessage message, LabResult result, byte[] hash, Dictionary<UInt128, Known> pending)
    {
        UInt128 key = result.Key.Fingerprint();
        UInt128 content = Fingerprint(hash);
        Known known = pending.TryGetValue(key, out Known p) ? p : _known.TryGetValue(key, out Known k) ? k : default;
        if (known.VersionOf(content) is int same and > 0)
        {
            return new Decision(item, message, ItemStatus.Duplicate, result, same, null);
        }
        int version = known.Version + 1;
        ItemStatus status = result.Loinc is null ? ItemStatus.Quarantined
            : result.Status == ResultStatus.Cancelled ? ItemStatus.Retraction
            : known.Version == 0 ? ItemStatus.Accepted : ItemStatus.Correction;
        pending[key] = known.With(version, content);
        return new Decision(item, message, status, result, version, hash);
    }

    private static string Disposition(Decision d) =>
        d.Version == 1 && d.Status is ItemStatus.Accepted or ItemStatus.Retraction ? "new" : d.Result!.Status == ResultStatus.Cancelled ? "retraction" : "correction";

    private static byte[] Payload(Decision d, ResultEnvelope envelope) => ResultRecords.Encode(d.Hash!, envelope);

    private LogRecord ResultRecord(Decision d, ResultEnvelope envelope)
    {
        return new LogRecord(RecordKind.Result, _log!.PartitionOf(d.Result!.PartitionKey), ResultRecords.Key(d.Result.Key), Payload(d, envelope))
        {
            PartitionKey = d.Result.PartitionKey,
        };
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
        var records = new List<LogRecord>();
        var released = new List<string>();
        var decisions = new List<Decision>();
        Task durable;
        lock (_decide)
        {
            var pending = new Dictionary<UInt128, Known>();
            foreach (TranscodingRow row in rows)
            {
                if (!_quarantine.Remove((lab, row.LocalCode), out List<Quarantined>? parked))
                {
                    continue;
                }
                foreach (Quarantined q in parked)
                {
                    var item = new ParsedItem(new SourcePosition("", 0, 0, 0, 0), q.Envelope.Result, []);
                    LabResult result = _terminology.Apply(q.Envelope.Result, item);
                    Decision d = Decide(item, null!, result, ContentHash.Of(result), pending);
                    decisions.Add(d);
                    released.Add(q.Id);
                    if (d.Status is ItemStatus.Accepted or ItemStatus.Correction or ItemStatus.Retraction)
                    {
                        records.Add(ResultRecord(d, q.Envelope with { Version = d.Version, Disposition = "replayed", Result = d.Result! }));
                    }
                }
            }
            if (released.Count == 0)
            {
                return 0;
            }
            // The release marker goes in the same durable write as the replayed results: after a crash either both are
            // there, or the results are replayed again and found to be duplicates.
            records.Add(new LogRecord(RecordKind.Released, -1, lab, System.Text.Encoding.UTF8.GetBytes(string.Join('\n', released))));
            durable = _log.AppendAsync(records, CancellationToken.None);
            foreach ((UInt128 key, Known known) in pending)
            {
                _known[key] = known;
            }
        }
        await durable.WaitAsync(cancellationToken).ConfigureAwait(false);
        s_replayed.Add(released.Count, new KeyValuePair<string, object?>("lab", lab));
        return released.Count;
    }

    /// <summary>What a lab has waiting in quarantine: per local code, how many, since when, and a few examples.</summary>
    public List<QuarantineSummary> QuarantineOf(string? lab)
    {
        lock (_decide)
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

    private static void Record(Lab? lab, List<Decision> decisions)
    {
        var labTag = new KeyValuePair<string, object?>("lab", lab?.Finess ?? "none");
        s_received.Add(decisions.Count, labTag);
        foreach (Decision d in decisions)
        {
            string reason = d.Status == ItemStatus.Rejected
                ? (d.Message.Diagnostics.Concat(d.Item.Diagnostics).FirstOrDefault(x => x.Severity == Severity.Error)?.Code.ToString() ?? "unknown")
                : "";
            s_outcomes.Add(1, labTag, new("outcome", d.Status.ToString().ToLowerInvariant()), new("reason", reason));
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

    private sealed record Decision(ParsedItem Item, ParsedMessage Message, ItemStatus Status, LabResult? Result, int Version, byte[]? Hash);
}
