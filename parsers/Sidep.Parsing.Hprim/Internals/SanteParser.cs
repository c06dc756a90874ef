using System.Buffers;
using Sidep.Domain;
using static Sidep.Parsing.Diagnostic;
using Sidep.Parsing.Internals;

namespace Sidep.Parsing.Hprim.Internals;

/// <summary>
/// HPRIM Santé: H (header, delimiters), P (patient), OBR (request), OBX (result), C (comment), L (end) records;
/// an "A|" line continues the previous record, even in the middle of a field. Field n of a record is the
/// n-th of the record counted from its type (OBX.4 = analysis code), as HPRIM numbers them.
/// </summary>
internal sealed class SanteParser(HprimParserOptions options, Hl7Charset charset)
{
    private static readonly Hl7Delimiters s_default = new((byte)'|', (byte)'~', (byte)'^', (byte)'\\', (byte)'&');

    private Hl7Delimiters _d = s_default;
    private readonly StringPool _pool = StringPool.ForThisThread();
    private ParsedSubmission _submission = null!;
    private ParsedMessage? _message;
    private string? _labId;
    private Patient? _patient;
    private Request? _request;
    private ResultState? _last;
    private readonly List<ResultState> _items = [];
    private bool _sawEnd;

    public void Parse(ReadOnlySpan<byte> input, ParsedSubmission submission)
    {
        _submission = submission;
        byte[]? joined = null;
        int joinedLength = 0;
        int start = -1, length = 0, recordLine = 0;
        var lines = new Hl7Lines(input, 0, 1);
        try
        {
            while (lines.MoveNext())
            {
                ReadOnlySpan<byte> line = lines.Current;
                if (line.IsEmpty || line.IndexOfAnyExcept(" \t"u8) < 0)
                {
                    continue;
                }
                if (start >= 0 && line.Length >= 2 && line[0] == (byte)'A' && line[1] == _d.Field)
                {
                    // A continuation: the rest of the line follows the previous record's last byte, mid-field or not.
                    ReadOnlySpan<byte> more = line[2..];
                    if (joined is null)
                    {
                        joined = ArrayPool<byte>.Shared.Rent(length + more.Length + 256);
                        input.Slice(start, length).CopyTo(joined);
                        joinedLength = length;
                    }
                    else if (joined.Length < joinedLength + more.Length)
                    {
                        byte[] bigger = ArrayPool<byte>.Shared.Rent((joinedLength + more.Length) * 2);
                        joined.AsSpan(0, joinedLength).CopyTo(bigger);
                        ArrayPool<byte>.Shared.Return(joined);
                        joined = bigger;
                    }
                    more.CopyTo(joined.AsSpan(joinedLength));
                    joinedLength += more.Length;
                    continue;
                }
                if (start >= 0)
                {
                    Record(joined is null ? input.Slice(start, length) : joined.AsSpan(0, joinedLength), start, recordLine);
                }
                if (joined is not null)
                {
                    ArrayPool<byte>.Shared.Return(joined);
                    joined = null;
                }
                start = lines.Offset;
                length = line.Length;
                recordLine = lines.Line;
            }
            bool cut = input[^1] is not ((byte)'\r' or (byte)'\n');
            if (start >= 0)
            {
                Record(joined is null ? input.Slice(start, length) : joined.AsSpan(0, joinedLength), start, recordLine);
            }
            FinishMessage(missingEnd: !_sawEnd, cut, new SourcePosition("L", lines.Line + 1, 0, 0, input.Length));
        }
        finally
        {
            if (joined is not null)
            {
                ArrayPool<byte>.Shared.Return(joined);
            }
        }
    }

    private void Record(ReadOnlySpan<byte> record, long offset, int line)
    {
        int idEnd = record.IndexOf(_d.Field);
        if (record.Length > 1 && record[0] == (byte)'H' && !char.IsAsciiLetterOrDigit((char)record[1]))
        {
            idEnd = 1; // the H record declares the field separator itself
        }
        ReadOnlySpan<byte> id = idEnd < 0 ? record : record[..idEnd];
        string name = RecordName(id);
        var position = new SourcePosition(name, line, 0, 0, offset);
        if (record.Length > options.MaxRecordBytes)
        {
            _submission.Diagnostics.Add(Error(DiagnosticCode.SegmentTooLong, $"record of {record.Length} bytes exceeds the {options.MaxRecordBytes}-byte limit", position));
            return;
        }
        if (name == "?")
        {
            _submission.Diagnostics.Add(Error(DiagnosticCode.NotHprim,
                $"line of {record.Length} bytes is not an HPRIM record (a record starts with its type and '{(char)_d.Field}'); it is ignored, the rest of the file is read",
                position));
            return;
        }
        if (name == "H")
        {
            Header(record, position);
            return;
        }
        if (_message is null)
        {
            _submission.Diagnostics.Add(Error(DiagnosticCode.MissingMsh, $"{name} record comes before any H record: it belongs to no file header", position));
            return;
        }
        var r = new Hl7Segment(record, _d, offset, line);
        switch (name)
        {
            case "P":
                PatientRecord(r, position);
                break;
            case "OBR":
                RequestRecord(r, position);
                break;
            case "OBX":
                ResultRecord(r, position);
                break;
            case "C":
                string? text = Text(Field(r, 4));
                if (text is not null)
                {
                    if (_last is not null)
                    {
                        _last.Comment = _last.Comment is null ? text : _last.Comment + "\n" + text;
                    }
                    else if (_request is not null)
                    {
                        _request.Comment = _request.Comment is null ? text : _request.Comment + "\n" + text;
                    }
                }
                break;
            case "L":
                _sawEnd = true;
                FinishMessage(missingEnd: false, cut: false, position);
                break;
            case "AP" or "AC" or "ACT" or "FAC" or "REG" or "Q" or "M":
                break; // other HPRIM records (billing, queries, manufacturer): nothing Sidep keeps
            default:
                _message.Diagnostics.Add(Warning(DiagnosticCode.UnknownRecord, $"record type {name} is not an HPRIM Santé result record; ignored", position));
                break;
        }
    }

    private static string RecordName(ReadOnlySpan<byte> id)
    {
        if (id.IsEmpty || id.Length > 3)
        {
            return "?";
        }
        foreach (byte b in id)
        {
            if (!char.IsAsciiLetterUpper((char)b))
            {
                return "?";
            }
        }
        return id switch
        {
            [(byte)'H'] => "H",
            [(byte)'P'] => "P",
            [(byte)'C'] => "C",
            [(byte)'L'] => "L",
            [(byte)'O', (byte)'B', (byte)'R'] => "OBR",
            [(byte)'O', (byte)'B', (byte)'X'] => "OBX",
            _ => System.Text.Encoding.ASCII.GetString(id),
        };
    }

    /// <summary>HPRIM field n (the record type is field 1).</summary>
    private static ReadOnlySpan<byte> Field(in Hl7Segment r, int n) => r.Field(n - 1);

    private static ReadOnlySpan<byte> Component(in Hl7Segment r, int n, int c) => r.Component(n - 1, c);

    private static SourcePosition At(in Hl7Segment r, SourcePosition record, int field)
    {
        r.Field(field - 1, out int offset);
        return record with { Field = field, ByteOffset = record.ByteOffset + offset };
    }

    private void Header(ReadOnlySpan<byte> record, SourcePosition position)
    {
        FinishMessage(missingEnd: _message is not null && !_sawEnd, cut: false, position);
        _sawEnd = false;
        if (!Hl7Delimiters.TryRead(record, 1, "H", out Hl7Delimiters d, out string? problem))
        {
            _d = s_default;
            _message = new ParsedMessage { ControlId = null, SenderIds = [], Position = position, ByteLength = record.Length };
            _message.Diagnostics.Add(Error(DiagnosticCode.BadDelimiters, problem!, position with { Field = 2 }));
            _submission.Messages.Add(_message);
            return;
        }
        _d = d;
        var h = new Hl7Segment(record, _d, position.ByteOffset, position.Line);
        string? senderCode = Text(Component(h, 5, 1));
        string? senderName = Text(Component(h, 5, 2));
        var senders = new List<string>(2);
        if (senderCode is not null) senders.Add(senderCode);
        if (senderName is not null) senders.Add(senderName);
        _labId = senderCode ?? senderName;
        _message = new ParsedMessage
        {
            ControlId = Text(Field(h, 3)),
            SenderIds = senders,
            Position = position,
            ByteLength = record.Length,
            ReceivingApplication = Text(Component(h, 10, 1)),
            ReceivingFacility = Text(Component(h, 10, 2)),
            Version = Text(Component(h, 13, 1)),
        };
        _submission.Messages.Add(_message);
        ReadOnlySpan<byte> type = Field(h, 7);
        if (!type.IsEmpty && !type.SequenceEqual("ORU"u8))
        {
            _message.Diagnostics.Add(Error(DiagnosticCode.UnsupportedMessageType, $"H.7 message type {Text(type)} is not accepted; Sidep takes ORU result files", At(h, position, 7)));
        }
        if (senders.Count == 0)
        {
            _message.Diagnostics.Add(Error(DiagnosticCode.MissingField, "H.5 (sender) is empty: the laboratory is not identified", At(h, position, 5)));
        }
    }

    private void PatientRecord(in Hl7Segment p, SourcePosition position)
    {
        var diagnostics = new List<Diagnostic>();
        string? family = Text(Hl7Spans.SubComponent(Component(p, 6, 1), 1, _d));
        string? birthName = Text(Component(p, 7, 1));
        var given = new List<string>();
        foreach (string? g in new[] { Text(Component(p, 6, 2)), Text(Component(p, 6, 3)) })
        {
            if (g is not null)
            {
                given.AddRange(g.Split([' ', ','], StringSplitOptions.RemoveEmptyEntries | StringSplitOptions.TrimEntries));
            }
        }
        PartialDate? birthDate = null;
        ReadOnlySpan<byte> dob = Component(p, 8, 1);
        if (!dob.IsEmpty)
        {
            if (DateTimeText.TryParsePartialDate(dob, out PartialDate parsed))
            {
                birthDate = parsed;
            }
            else
            {
                diagnostics.Add(Warning(DiagnosticCode.InvalidDate, "P.8 birth date is not a date (YYYY[MM[DD]]); age is unknown", At(p, position, 8)));
            }
        }
        Sex sex = Component(p, 9, 1) switch
        {
            [(byte)'F'] => Sex.Female,
            [(byte)'M'] => Sex.Male,
            [(byte)'O'] or [(byte)'A'] => Sex.Other,
            _ => Sex.Unknown,
        };
        ReadOnlySpan<byte> xad = Hl7Spans.FirstRepetition(Field(p, 11), _d);
        string? street = Text(Hl7Spans.Component(xad, 1, _d));
        string? street2 = Text(Hl7Spans.Component(xad, 2, _d));
        var address = new Address(street is not null && street2 is not null ? street + ", " + street2 : street ?? street2,
            Text(Hl7Spans.Component(xad, 3, _d)), Text(Hl7Spans.Component(xad, 5, _d)), null, Text(Hl7Spans.Component(xad, 6, _d)));
        _patient = new Patient(new PatientIdentity
        {
            LocalId = Text(Component(p, 3, 1)) ?? Text(Component(p, 4, 1)),
            BirthName = birthName ?? family,
            UsedName = birthName is null ? null : family,
            GivenNames = given,
            BirthDate = birthDate,
            Sex = sex,
            Address = address is { Line: null, City: null, PostalCode: null, Country: null } ? null : address,
            Phone = Text(Component(p, 13, 1)),
        }, diagnostics);
        _request = null;
        _last = null;
    }

    private void RequestRecord(in Hl7Segment obr, SourcePosition position)
    {
        var request = new Request(position)
        {
            Accession = Text(Component(obr, 3, 1)) ?? Text(Component(obr, 3, 2)) ?? Text(Component(obr, 4, 1)) ?? Text(Component(obr, 4, 2)),
        };
        ReadOnlySpan<byte> prescriber = Hl7Spans.FirstRepetition(Field(obr, 17), _d);
        string? id = Text(Hl7Spans.Component(prescriber, 1, _d));
        string? prescriberName = Text(Hl7Spans.Component(prescriber, 2, _d));
        if (id is not null || prescriberName is not null)
        {
            request.Prescriber = new Prescriber(id, null, prescriberName, null);
        }
        ReadOnlySpan<byte> sampled = Hl7Spans.Component(Hl7Spans.FirstRepetition(Field(obr, 8), _d), 1, _d);
        if (!sampled.IsEmpty)
        {
            if (DateTimeText.TryParseTimestamp(sampled, out Timestamp ts))
            {
                request.SampledAt = ts;
            }
            else
            {
                request.Diagnostics.Add(Error(DiagnosticCode.InvalidDate, "OBR.8 sample date/time is not a date (YYYYMMDD[HHMM[SS]])", At(obr, position, 8))
                    with { Found = Text(sampled), Expected = "YYYYMMDD[HHMM[SS]]" });
            }
        }
        _request = request;
        _last = null;
    }

    private void ResultRecord(in Hl7Segment obx, SourcePosition position)
    {
        var item = new ParsedItem(position, null, []);
        _message!.Items.Add(item);
        var state = new ResultState(item, _patient, _request);
        _items.Add(state);
        _last = state;
        if (_request is null)
        {
            item.Reject(DiagnosticCode.MissingField, "OBX is not inside an OBR request", position);
        }
        ReadOnlySpan<byte> code = Component(obx, 4, 1);
        string? codeText = Text(code);
        if (codeText is null)
        {
            item.Reject(DiagnosticCode.MissingField, "OBX.4 (analysis code) is empty", At(obx, position, 4));
            return;
        }
        string? system = Text(Component(obx, 4, 3));
        state.Analysis = new CodedValue(codeText, Text(Component(obx, 4, 2))?.Trim(), system);
        state.Loinc = system is "LN" or "LOINC" ? codeText : null;

        ReadOnlySpan<byte> type = Field(obx, 3);
        if (type.SequenceEqual("FIC"u8) || type.SequenceEqual("ED"u8))
        {
            item.Ignore($"not a result: OBX.3 value type {Text(type)} is a file or document reference, not a laboratory result; ignored", At(obx, position, 3),
                Text(type), "NM, ST, TX, CE");
            return;
        }
        ReadOnlySpan<byte> status = Field(obx, 12);
        state.Status = status switch
        {
            [(byte)'F'] => ResultStatus.Final,
            [(byte)'C'] or [(byte)'M'] => ResultStatus.Corrected,
            [(byte)'D'] or [(byte)'X'] or [(byte)'W'] => ResultStatus.Cancelled,
            [(byte)'P'] or [(byte)'I'] or [(byte)'R'] or [(byte)'S'] => ResultStatus.Preliminary,
            _ => null,
        };
        if (status.IsEmpty)
        {
            item.Reject(DiagnosticCode.MissingResultStatus, "OBX.12 (result status) is empty; F, C, P or D expected", At(obx, position, 12));
        }
        else if (state.Status is null)
        {
            item.Diagnostics.Add(Error(DiagnosticCode.InvalidField, $"OBX.12 status '{Text(status)}' is not an HPRIM result status (F, C, P, D)", At(obx, position, 12))
                with { Found = Text(status), Expected = "F, C, P or D" });
        }
        ReadOnlySpan<byte> value = Field(obx, 6);
        if (value.IsEmpty && state.Status != ResultStatus.Cancelled)
        {
            item.Reject(DiagnosticCode.MissingField, "OBX.6 (result value) is empty", At(obx, position, 6));
        }
        else
        {
            bool coded = type.SequenceEqual("CE"u8) || type.SequenceEqual("CWE"u8);
            bool numeric = type.SequenceEqual("NM"u8) || type.SequenceEqual("SN"u8);
            ReadOnlySpan<byte> first = Hl7Spans.FirstRepetition(value, _d);
            if (coded)
            {
                string? valueCode = Text(Hl7Spans.Component(first, 1, _d));
                string? valueText = Text(Hl7Spans.Component(first, 2, _d));
                Interpretation i = ResultValues.FromSnomed(valueCode);
                if (i == Interpretation.NotInterpreted) i = ResultValues.FromText(valueText);
                if (i == Interpretation.NotInterpreted) i = ResultValues.FromText(valueCode);
                state.Value = new ResultValue(i, valueText ?? valueCode ?? "", valueCode, Text(Hl7Spans.Component(first, 3, _d)));
            }
            else
            {
                string raw = Text(first) ?? "";
                state.Value = new ResultValue(numeric ? Interpretation.NotInterpreted : ResultValues.FromText(raw), raw);
            }
        }
        state.Units = Text(Component(obx, 7, 1));
        state.AbnormalFlag = Text(Component(obx, 9, 1));
        ReadOnlySpan<byte> analysed = Component(obx, 15, 1);
        if (!analysed.IsEmpty)
        {
            if (DateTimeText.TryParseTimestamp(analysed, out Timestamp ts))
            {
                state.ResultedAt = ts;
            }
            else
            {
                item.Diagnostics.Add(Warning(DiagnosticCode.InvalidDate, "OBX.15 analysis date/time is not a date; ignored", At(obx, position, 15)));
            }
        }
    }

    private void FinishMessage(bool missingEnd, bool cut, SourcePosition end)
    {
        if (_message is null)
        {
            return;
        }
        if (missingEnd)
        {
            _message.Diagnostics.Add(Warning(DiagnosticCode.MissingTrailer, "the file has no L record: it may have been cut; the records read are kept", end));
            if (cut && _items.Count > 0 && _last is not null && ReferenceEquals(_items[^1], _last))
            {
                _last.Item.Reject(DiagnosticCode.TruncatedMessage, "the file ends inside this record, without a line end or an L record: it may be cut, send it again", _last.Item.Position);
            }
        }
        if (_items.Count == 0 && !_message.IsRejected)
        {
            _message.Diagnostics.Add(Error(DiagnosticCode.TruncatedMessage, "the file holds no OBX result", _message.Position));
        }
        foreach (ResultState state in _items)
        {
            ParsedItem item = state.Item;
            if (item.IsNotAResult)
            {
                continue; // ignored, and said so: no other check applies
            }
            if (state.Patient is null)
            {
                item.Reject(DiagnosticCode.MissingPatient, "no P record precedes this result", item.Position);
            }
            else
            {
                item.Diagnostics.AddRange(state.Patient.Diagnostics);
            }
            if (state.Request is not null)
            {
                item.Diagnostics.AddRange(state.Request.Diagnostics);
                if (state.Request.Accession is null)
                {
                    item.Reject(DiagnosticCode.MissingField, "OBR.3 and OBR.4 (sample identifiers) are empty: the specimen is not identified", state.Request.Position with { Field = 3 });
                }
            }
            Timestamp? sampled = state.Request?.SampledAt;
            SampleDateBasis basis = SampleDateBasis.Collection;
            if (state.Request is not null && sampled is null && !item.HasError)
            {
                // The documented fallback: counted on the analysis date (OBX.15), else the day received; the lab is told which.
                (sampled, basis) = state.ResultedAt is null ? ((Timestamp?)null, SampleDateBasis.Receipt) : (state.ResultedAt, SampleDateBasis.ResultReported);
                item.Diagnostics.Add(Warning(DiagnosticCode.MissingField, state.ResultedAt is null
                    ? "OBR.8 (sample date) and OBX.15 (analysis date) are empty: the result counts on the day Sidep received it"
                    : $"OBR.8 (sample date) is empty: the result counts on its analysis date (OBX.15, {state.ResultedAt.Value.Date.ToString("yyyy-MM-dd", System.Globalization.CultureInfo.InvariantCulture)})",
                    state.Request.Position with { Field = 8 }) with { Expected = "OBR.8: the sample date/time" });
            }
            if (item.HasError || state.Patient is null || state.Request?.Accession is null || state.Analysis is null || state.Status is null)
            {
                continue;
            }
            item.Result = new LabResult
            {
                LabId = _labId ?? "",
                AccessionId = state.Request.Accession,
                AnalysisAsSent = state.Analysis,
                Loinc = state.Loinc,
                Value = state.Value ?? new ResultValue(Interpretation.NotInterpreted, ""),
                Units = state.Units,
                AbnormalFlag = state.AbnormalFlag,
                SampledAt = sampled,
                SampleDateBasis = basis,
                ResultedAt = state.ResultedAt,
                Status = state.Status.Value,
                Patient = state.Patient.Identity,
                Prescriber = state.Request.Prescriber,
                Comment = state.Comment ?? state.Request.Comment,
            };
        }
        _items.Clear();
        _message = null;
        _patient = null;
        _request = null;
        _last = null;
    }

    private string? Text(ReadOnlySpan<byte> value) => Hl7Text.Decode(value, _d, charset, _pool);

    private sealed record Patient(PatientIdentity Identity, List<Diagnostic> Diagnostics);

    private sealed class Request(SourcePosition position)
    {
        public SourcePosition Position { get; } = position;
        public string? Accession { get; init; }
        public Prescriber? Prescriber;
        public Timestamp? SampledAt;
        public string? Comment;
        public List<Diagnostic> Diagnostics { get; } = [];
    }

    private sealed class ResultState(ParsedItem item, Patient? patient, Request? request)
    {
        public ParsedItem Item { get; } = item;
        public Patient? Patient { get; } = patient;
        public Request? Request { get; } = request;
        public CodedValue? Analysis;
        public string? Loinc;
        public ResultStatus? Status;
        public ResultValue? Value;
        public string? Units;
        public string? AbnormalFlag;
        public Timestamp? ResultedAt;
        public string? Comment;
    }
}
