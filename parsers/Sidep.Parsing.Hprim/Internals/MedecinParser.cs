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
                        block = new Block(submission, null, position, charset);
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
                        block = new Block(submission, ReadHeader(input, header), new SourcePosition("", header[0].Line, 1, 0, header[0].Offset), charset);
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
        var text = new string?[HeaderLines];
        for (int i = 0; i < HeaderLines; i++)
        {
            text[i] = HprimText.Trimmed(input.Slice(lines[i].Offset, lines[i].Length), charset);
        }
        string? Line(int n) => text[n - 1];
        SourcePosition At(int n) => new("", lines[n - 1].Line, n, 0, lines[n - 1].Offset);

        var diagnostics = new List<Diagnostic>();
        PartialDate? birthDate = null;
        if (Line(7) is string dob)
        {
            if (TryDate(dob, out DateOnly d))
            {
                birthDate = new PartialDate(d.Year, d.Month, d.Day);
            }
            else
            {
                diagnostics.Add(new Diagnostic(Severity.Warning, DiagnosticCode.InvalidDate, "header line 7 (birth date) is not DD/MM/YYYY; age is unknown", At(7)));
            }
        }
        Timestamp? sampled = null;
        if (Line(10) is string exam && TryDate(exam, out DateOnly e))
        {
            var clock = e.ToDateTime(TimeOnly.MinValue);
            sampled = new Timestamp(new DateTimeOffset(clock, DateTimeText.AssumedZone.GetUtcOffset(clock)), TimestampPrecision.Day, TimeZoneGiven: false);
        }
        else if (Line(10) is null)
        {
            // The documented fallback: HPRIM Médecin has no other date of the result; the lab is told.
            diagnostics.Add(new Diagnostic(Severity.Warning, DiagnosticCode.MissingField, "header line 10 (exam date) is empty: the results count on the day Sidep received them", At(10))
                with { Expected = "DD/MM/YYYY" });
        }
        else
        {
            diagnostics.Add(new Diagnostic(Severity.Error, DiagnosticCode.InvalidDate, "header line 10 (exam date) is not DD/MM/YYYY: the sample date is unknown", At(10)));
        }
        string? town = Line(6);
        string? postcode = null;
        if (town is not null && town.Length >= 5 && town[..5].All(char.IsAsciiDigit))
        {
            postcode = town[..5];
            town = town[5..].Trim() is { Length: > 0 } rest ? rest : null;
        }
        string? line4 = Line(4), line5 = Line(5);
        var address = new Address(line4 is not null && line5 is not null ? line4 + ", " + line5 : line4 ?? line5, town, postcode, null, null);
        string? fileNumber = Line(9);
        if (fileNumber is null)
        {
            diagnostics.Add(new Diagnostic(Severity.Error, DiagnosticCode.MissingField, "header line 9 (laboratory file number) is empty: the specimen is not identified", At(9)));
        }
        var identity = new PatientIdentity
        {
            LocalId = Line(1),
            BirthName = Line(2),
            GivenNames = Line(3) is string given ? given.Split([' ', ','], StringSplitOptions.RemoveEmptyEntries) : [],
            BirthDate = birthDate,
            Address = address is { Line: null, City: null, PostalCode: null } ? null : address,
            // Line 8 holds the NIR of the insured person, who may not be the patient: it is not an INS and is not kept.
        };
        return new Header(identity, fileNumber, sampled, Line(11), Line(12), diagnostics);
    }

    private static bool TryDate(string text, out DateOnly date) =>
        DateOnly.TryParseExact(text, "dd/MM/yyyy", System.Globalization.CultureInfo.InvariantCulture, System.Globalization.DateTimeStyles.None, out date);

    private sealed record Header(PatientIdentity Patient, string? FileNumber, Timestamp? SampledAt, string? Sender, string? Receiver, List<Diagnostic> Diagnostics);

    /// <summary>One patient's ****LAB**** block: its RES lines become items, TEX lines their comments.</summary>
    private sealed class Block
    {
        private readonly Header? _header;
        private readonly Hl7Charset _charset;
        private readonly List<(ParsedItem Item, Draft Draft)> _items = [];

        public Block(ParsedSubmission submission, Header? header, SourcePosition position, Hl7Charset charset)
        {
            _header = header;
            _charset = charset;
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
                Message.Diagnostics.AddRange(header.Diagnostics.Where(d => d.Severity == Severity.Error));
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
            var res = new Hl7Segment(line, s_bars, position.ByteOffset, position.Line);
            var values = new string?[14];
            var offsets = new int[14];
            for (int n = 2; n <= values.Length; n++)
            {
                values[n - 1] = HprimText.Trimmed(res.Field(n - 1, out offsets[n - 1]), _charset);
            }
            string? F(int n) => values[n - 1];
            SourcePosition At(int n) => position with { Segment = "RES", Field = n, ByteOffset = position.ByteOffset + offsets[n - 1] };

            string? code = F(3);
            if (code is null)
            {
                item.Reject(DiagnosticCode.MissingField, "RES.3 (analysis code) is empty", At(3));
                return;
            }
            draft.Analysis = new CodedValue(code, F(2), "L");
            string? value = F(5);
            if (value is null)
            {
                item.Reject(DiagnosticCode.MissingField, "RES.5 (result value) is empty", At(5));
                return;
            }
            bool numeric = F(4) is "N";
            draft.Value = new ResultValue(numeric ? Interpretation.NotInterpreted : ResultValues.FromText(value), value);
            draft.Units = F(6);
            draft.AbnormalFlag = F(9);
            string? status = F(10);
            draft.Status = status switch
            {
                "F" or null => ResultStatus.Final,
                "C" => ResultStatus.Corrected,
                "P" => ResultStatus.Preliminary,
                "D" or "X" => ResultStatus.Cancelled,
                _ => null,
            };
            if (status is null)
            {
                item.Diagnostics.Add(new Diagnostic(Severity.Warning, DiagnosticCode.MissingResultStatus, "RES.10 (status) is empty; taken as final", At(10)));
            }
            else if (draft.Status is null)
            {
                item.Reject(DiagnosticCode.InvalidField, $"RES.10 status '{status}' is not F, C, P or D", At(10));
            }
        }

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
                item.Diagnostics.AddRange(_header.Diagnostics.Where(d => d.Severity == Severity.Warning));
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
