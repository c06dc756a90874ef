using Sidep.Domain;
using Sidep.Parsing.Internals;

namespace Sidep.Parsing.Hprim.Internals;

/// <summary>
/// HPRIM Médecin: for each patient, a 12-line header (patient code, name, first name, two address lines,
/// postcode and town, birth date DD/MM/YYYY, NIR, lab file number, exam date, sender, receiver), free text, then a
/// ****LAB**** block of RES| and TEX| lines closed by ****FIN****; ****FINFICHIER**** ends the file.
/// RES fields are numbered from the record type: RES.2 label, RES.3 code, RES.4 type, RES.5 value, RES.6 unit,
/// RES.7 min, RES.8 max, RES.9 abnormal flag, RES.10 status.
/// </summary>
internal sealed class MedecinParser(Hl7Charset charset)
{
    private const int HeaderLines = 12;
    private static readonly byte[] s_lab = "****LAB****"u8.ToArray();
    private static readonly byte[] s_fin = "****FIN****"u8.ToArray();
    private static readonly byte[] s_finFichier = "****FINFICHIER****"u8.ToArray();
    private static readonly Hl7Delimiters s_bars = new((byte)'|', (byte)'~', (byte)'^', (byte)'\\', (byte)'&');

    /// <summary>The short values a file repeats (codes, labels, units, senders, towns), decoded once.</summary>
    private readonly StringPool _pool = StringPool.ForThisThread();

    private enum State { BeforeHeader, Header, Text, Lab }

    public void Parse(ReadOnlySpan<byte> input, ParsedSubmission submission)
    {
        var lines = new Hl7Lines(input, 0, 1);
        State state = State.BeforeHeader;
        var header = new (int Offset, int Length, int Line)[HeaderLines];
        int headerCount = 0;
        Block? block = null;
        bool sawEndOfFile = false;
        while (lines.MoveNext())
        {
            ReadOnlySpan<byte> line = lines.Current;
            ReadOnlySpan<byte> trimmed = line.Trim(" \t"u8);
            var position = new SourcePosition(Name(trimmed), lines.Line, 0, 0, lines.Offset);
            if (trimmed.SequenceEqual(s_finFichier))
            {
                sawEndOfFile = true;
                break;
            }
            switch (state)
            {
                case State.BeforeHeader:
                    if (trimmed.IsEmpty)
                    {
                        continue;
                    }
                    if (trimmed.SequenceEqual(s_lab) || trimmed.StartsWith("RES|"u8) || trimmed.StartsWith("TEX|"u8))
                    {
                        // A ****LAB**** block with no patient header before it.
                        block = new Block(submission, null, position, charset, _pool);
                        block.Message.Diagnostics.Add(new Diagnostic(Severity.Error, DiagnosticCode.MissingPatient,
                            "no HPRIM Médecin header (12 lines: patient, birth date, file number, exam date, sender…) precedes these results", position));
                        state = State.Lab;
                        if (!trimmed.SequenceEqual(s_lab))
                        {
                            block.Line(line, position);
                        }
                        continue;
                    }
                    state = State.Header;
                    headerCount = 0;
                    goto case State.Header;
                case State.Header:
                    header[headerCount++] = (lines.Offset, line.Length, lines.Line);
                    if (headerCount == HeaderLines)
                    {
                        block = new Block(submission, ReadHeader(input, header), new SourcePosition("", header[0].Line, 1, 0, header[0].Offset), charset, _pool);
                        state = State.Text;
                    }
                    continue;
                case State.Text:
                    if (trimmed.SequenceEqual(s_lab))
                    {
                        state = State.Lab;
                    }
                    continue;
                case State.Lab:
                    if (trimmed.SequenceEqual(s_fin))
                    {
                        block!.Finish(closed: true, position);
                        block = null;
                        state = State.BeforeHeader;
                        continue;
                    }
                    block!.Line(line, position);
                    continue;
            }
        }
        var end = new SourcePosition("", lines.Line + 1, 0, 0, input.Length);
        if (state == State.Header && block is null)
        {
            submission.Diagnostics.Add(new Diagnostic(Severity.Error, DiagnosticCode.TruncatedMessage,
                $"the file ends after {headerCount} of the 12 header lines", end));
        }
        block?.Finish(closed: false, end);
        if (!sawEndOfFile)
        {
            submission.Diagnostics.Add(new Diagnostic(Severity.Warning, DiagnosticCode.MissingTrailer, "the file has no ****FINFICHIER**** line: it may have been cut", end));
        }
    }

    private static string Name(ReadOnlySpan<byte> line) =>
        line.StartsWith("RES|"u8) ? "RES" : line.StartsWith("TEX|"u8) || line.SequenceEqual("TEX"u8) ? "TEX" : "";

    private Header ReadHeader(ReadOnlySpan<byte> input, (int Offset, int Length, int Line)[] lines)
    {
        SourcePosition At(int n) => new("", lines[n - 1].Line, n, 0, lines[n - 1].Offset);

        var diagnostics = new List<Diagnostic>();
        PartialDate? birthDate = null;
        ReadOnlySpan<byte> birth = HeaderLine(input, lines, 7), exam = HeaderLine(input, lines, 10);
        if (!birth.IsEmpty)
        {
            if (TryDate(birth, out DateOnly d))
            {
                birthDate = new PartialDate(d.Year, d.Month, d.Day);
            }
            else
            {
                diagnostics.Add(new Diagnostic(Severity.Warning, DiagnosticCode.InvalidDate, "header line 7 (birth date) is not DD/MM/YYYY; age is unknown", At(7)));
            }
        }
        Timestamp? sampled = null;
        if (TryDate(exam, out DateOnly e))
        {
            var clock = e.ToDateTime(TimeOnly.MinValue);
            sampled = new Timestamp(new DateTimeOffset(clock, DateTimeText.AssumedOffset(clock)), TimestampPrecision.Day, TimeZoneGiven: false);
        }
        else if (exam.IsEmpty)
        {
            // The documented fallback: HPRIM Médecin has no other date of the result; the lab is told.
            diagnostics.Add(new Diagnostic(Severity.Warning, DiagnosticCode.MissingField, "header line 10 (exam date) is empty: the results count on the day Sidep received them", At(10))
                with { Expected = "DD/MM/YYYY" });
        }
        else
        {
            diagnostics.Add(new Diagnostic(Severity.Error, DiagnosticCode.InvalidDate, "header line 10 (exam date) is not DD/MM/YYYY: the sample date is unknown", At(10)));
        }
        ReadOnlySpan<byte> townLine = HeaderLine(input, lines, 6);
        string? postcode = null;
        if (townLine.Length >= 5 && townLine[..5].IndexOfAnyExceptInRange((byte)'0', (byte)'9') < 0)
        {
            postcode = _pool.Get(townLine[..5], charset);
            townLine = townLine[5..].Trim(" \t"u8);
        }
        string? town = townLine.IsEmpty ? null : _pool.Get(townLine, charset);
        string? line4 = HeaderText(input, lines, 4), line5 = HeaderText(input, lines, 5);
        var address = new Address(line4 is not null && line5 is not null ? line4 + ", " + line5 : line4 ?? line5, town, postcode, null, null);
        string? fileNumber = HeaderText(input, lines, 9);
        if (fileNumber is null)
        {
            diagnostics.Add(new Diagnostic(Severity.Error, DiagnosticCode.MissingField, "header line 9 (laboratory file number) is empty: the specimen is not identified", At(9)));
        }
        var identity = new PatientIdentity
        {
            LocalId = HeaderText(input, lines, 1),
            BirthName = HeaderText(input, lines, 2),
            GivenNames = HeaderText(input, lines, 3) is string given ? given.Split([' ', ','], StringSplitOptions.RemoveEmptyEntries) : [],
            BirthDate = birthDate,
            Address = address is { Line: null, City: null, PostalCode: null } ? null : address,
            // Line 8 holds the NIR of the insured person, who may not be the patient: it is not an INS, and is neither
            // decoded nor kept.
        };
        ReadOnlySpan<byte> sender = HeaderLine(input, lines, 11), receiver = HeaderLine(input, lines, 12);
        return new Header(identity, fileNumber, sampled, sender.IsEmpty ? null : _pool.Get(sender, charset), receiver.IsEmpty ? null : _pool.Get(receiver, charset), diagnostics);
    }

    /// <summary>Header line <paramref name="n"/> (1-based), trimmed.</summary>
    private static ReadOnlySpan<byte> HeaderLine(ReadOnlySpan<byte> input, (int Offset, int Length, int Line)[] lines, int n) =>
        input.Slice(lines[n - 1].Offset, lines[n - 1].Length).Trim(" \t"u8);

    private string? HeaderText(ReadOnlySpan<byte> input, (int Offset, int Length, int Line)[] lines, int n) =>
        HeaderLine(input, lines, n) is { IsEmpty: false } bytes ? Hl7Text.Chars(bytes, charset) : null;

    /// <summary>DD/MM/YYYY, read from the bytes (a real calendar date, or false).</summary>
    private static bool TryDate(ReadOnlySpan<byte> text, out DateOnly date)
    {
        date = default;
        if (text.Length != 10 || text[2] != (byte)'/' || text[5] != (byte)'/'
            || !DateTimeText.TryNumber(text[..2], out int day) || !DateTimeText.TryNumber(text.Slice(3, 2), out int month) || !DateTimeText.TryNumber(text[6..], out int year))
        {
            return false;
        }
        if (year < 1 || month is < 1 or > 12 || day < 1 || day > DateTime.DaysInMonth(year, month))
        {
            return false;
        }
        date = new DateOnly(year, month, day);
        return true;
    }

    private sealed record Header(PatientIdentity Patient, string? FileNumber, Timestamp? SampledAt, string? Sender, string? Receiver, List<Diagnostic> Diagnostics);

    /// <summary>One patient's ****LAB**** block: its RES lines become items, TEX lines their comments.</summary>
    private sealed class Block
    {
        private readonly Header? _header;
        private readonly Hl7Charset _charset;
        private readonly StringPool _pool;
        private readonly List<(ParsedItem Item, Draft Draft)> _items = [];

        public Block(ParsedSubmission submission, Header? header, SourcePosition position, Hl7Charset charset, StringPool pool)
        {
            _header = header;
            _charset = charset;
            _pool = pool;
            Message = new ParsedMessage
            {
                ControlId = header?.FileNumber,
                SenderIds = header?.Sender is string s ? [s] : [],
                Position = position,
                ByteLength = 0,
                ReceivingFacility = header?.Receiver,
            };
            if (header is not null)
            {
                AddOf(header.Diagnostics, Severity.Error, Message.Diagnostics);
                if (header.Sender is null)
                {
                    Message.Diagnostics.Add(new Diagnostic(Severity.Error, DiagnosticCode.MissingField, "header line 11 (sender) is empty: the laboratory is not identified", position with { Field = 11 }));
                }
            }
            submission.Messages.Add(Message);
        }

        public ParsedMessage Message { get; }

        public void Line(ReadOnlySpan<byte> line, SourcePosition position)
        {
            if (line.StartsWith("TEX"u8))
            {
                string? text = line.Length > 4 ? Hl7Text.Chars(line[4..].TrimEnd(" \t"u8), _charset) : null;
                if (_items.Count > 0 && !string.IsNullOrWhiteSpace(text))
                {
                    Draft last = _items[^1].Draft;
                    last.Comment = last.Comment is null ? text.Trim() : last.Comment + "\n" + text.Trim();
                }
                return;
            }
            if (!line.StartsWith("RES|"u8))
            {
                if (line.Trim(" \t"u8).Length > 0)
                {
                    Message.Diagnostics.Add(new Diagnostic(Severity.Warning, DiagnosticCode.UnknownRecord,
                        $"line of {line.Length} bytes in the ****LAB**** block is neither RES| nor TEX|; ignored", position));
                }
                return;
            }
            var item = new ParsedItem(position with { Segment = "RES" }, null, []);
            Message.Items.Add(item);
            var draft = new Draft();
            _items.Add((item, draft));
            // RES.n is field n - 1 of the line (fields are numbered from the record type); only the fields Sidep keeps are decoded.
            var res = new Hl7Segment(line, s_bars, position.ByteOffset, position.Line);
            ReadOnlySpan<byte> code = res.Field(2, out int codeAt).Trim(" \t"u8);
            if (code.IsEmpty)
            {
                item.Reject(DiagnosticCode.MissingField, "RES.3 (analysis code) is empty", At(position, 3, codeAt));
                return;
            }
            draft.Analysis = new CodedValue(_pool.Get(code, _charset), Pooled(res.Field(1)), "L");
            ReadOnlySpan<byte> valueBytes = res.Field(4, out int valueAt).Trim(" \t"u8);
            if (valueBytes.IsEmpty)
            {
                item.Reject(DiagnosticCode.MissingField, "RES.5 (result value) is empty", At(position, 5, valueAt));
                return;
            }
            string value = _pool.Get(valueBytes, _charset);
            bool numeric = res.Field(3).Trim(" \t"u8).SequenceEqual("N"u8);
            draft.Value = new ResultValue(numeric ? Interpretation.NotInterpreted : ResultValues.FromText(value), value);
            draft.Units = Pooled(res.Field(5));
            draft.AbnormalFlag = Pooled(res.Field(8));
            ReadOnlySpan<byte> status = res.Field(9, out int statusAt).Trim(" \t"u8);
            draft.Status = status.Length switch
            {
                0 => ResultStatus.Final,
                1 => status[0] switch
                {
                    (byte)'F' => ResultStatus.Final,
                    (byte)'C' => ResultStatus.Corrected,
                    (byte)'P' => ResultStatus.Preliminary,
                    (byte)'D' or (byte)'X' => ResultStatus.Cancelled,
                    _ => null,
                },
                _ => null,
            };
            if (status.IsEmpty)
            {
                item.Diagnostics.Add(new Diagnostic(Severity.Warning, DiagnosticCode.MissingResultStatus, "RES.10 (status) is empty; taken as final", At(position, 10, statusAt)));
            }
            else if (draft.Status is null)
            {
                item.Reject(DiagnosticCode.InvalidField, $"RES.10 status '{Hl7Text.Chars(status, _charset)}' is not F, C, P or D", At(position, 10, statusAt));
            }
        }

        /// <summary>Adds the header's problems of one severity (a loop: most headers have none, and this runs per result).</summary>
        private static void AddOf(List<Diagnostic> from, Severity severity, List<Diagnostic> to)
        {
            foreach (Diagnostic d in from)
            {
                if (d.Severity == severity)
                {
                    to.Add(d);
                }
            }
        }

        private string? Pooled(ReadOnlySpan<byte> field) => field.Trim(" \t"u8) is { IsEmpty: false } t ? _pool.Get(t, _charset) : null;

        private static SourcePosition At(SourcePosition line, int field, int offset) => line with { Segment = "RES", Field = field, ByteOffset = line.ByteOffset + offset };

        public void Finish(bool closed, SourcePosition end)
        {
            if (!closed)
            {
                Message.Diagnostics.Add(new Diagnostic(Severity.Warning, DiagnosticCode.MissingTrailer, "the ****LAB**** block has no ****FIN**** line", end));
            }
            if (_items.Count == 0 && !Message.IsRejected)
            {
                Message.Diagnostics.Add(new Diagnostic(Severity.Error, DiagnosticCode.TruncatedMessage, "the ****LAB**** block holds no RES result", Message.Position));
            }
            foreach ((ParsedItem item, Draft draft) in _items)
            {
                if (_header is null || Message.IsRejected || item.HasError || draft.Analysis is null || draft.Value is null || draft.Status is null)
                {
                    continue;
                }
                AddOf(_header.Diagnostics, Severity.Warning, item.Diagnostics);
                item.Result = new LabResult
                {
                    LabId = _header.Sender ?? "",
                    AccessionId = _header.FileNumber!,
                    AnalysisAsSent = draft.Analysis,
                    Value = draft.Value,
                    Units = draft.Units,
                    AbnormalFlag = draft.AbnormalFlag,
                    SampledAt = _header.SampledAt,
                    SampleDateBasis = _header.SampledAt is null ? SampleDateBasis.Receipt : SampleDateBasis.Collection,
                    Status = draft.Status.Value,
                    Patient = _header.Patient,
                    Comment = draft.Comment,
                };
            }
        }
    }

    private sealed class Draft
    {
        public CodedValue? Analysis;
        public ResultValue? Value;
        public string? Units;
        public string? AbnormalFlag;
        public ResultStatus? Status;
        public string? Comment;
    }
}
