using Sidep.Domain;
using static Sidep.Parsing.Diagnostic;

namespace Sidep.Parsing.Hl7v2.Internals;

using Sidep.Parsing.Internals;

/// <summary>Maps one ORU^R01 message (MSH up to the next MSH) onto the canonical model.
/// Fields are read in place; strings are made only for what the model keeps.</summary>
internal sealed class MessageParser
{
    /// <summary>The OBX codes of CI-SIS's document metadata (ANS, "ORU^R01" transport of a CDA report, MetaDMPMSS): where a
    /// report goes and who may see it, carried as OBX beside the results. Not laboratory results.</summary>
    private static readonly HashSet<string> CiSisMetadata = new(StringComparer.Ordinal)
    {
        "MASQUE_PS", "INVISIBLE_PATIENT", "INVISIBLE_REPRESENTANTS_LEGAUX", "CONNEXION_SECRETE", "MODIF_CONFIDENTIALITYCODE",
        "DESTDMP", "DESTMSSANTEPS", "DESTMSSANTEPAT", "CORPSMAIL_PS", "CORPSMAIL_PATIENT", "COMP_LOT", "ACK_RECEPTION", "ACK_LECTURE",
    };

    private readonly Hl7ParserOptions _options;
    /// <summary>The calling thread's pool, taken at each message (the parser may be called from another thread next).</summary>
    private StringPool _pool = StringPool.ForThisThread();
    private Hl7Delimiters _d;
    private Hl7Charset _charset;
    private ParsedMessage _message = null!;
    private readonly List<ResultDraft> _drafts = [];
    private PatientDraft? _patient;
    private OrderGroup? _group;
    private ResultDraft? _lastResult;
    private string? _messageLabId;
    private SourcePosition _patientPosition;
    private string? _orcFiller;
    private Prescriber? _orcPrescriber;

    public MessageParser(Hl7ParserOptions options) => _options = options;

    public ParsedMessage Parse(ReadOnlySpan<byte> message, long baseOffset, int baseLine)
    {
        _pool = StringPool.ForThisThread();
        _drafts.Clear();
        _patient = null;
        _group = null;
        _lastResult = null;
        _orcFiller = null;
        _orcPrescriber = null;

        var mshPosition = new SourcePosition("MSH", baseLine, 0, 0, baseOffset);
        if (!Hl7Delimiters.TryRead(message, out _d, out string? problem))
        {
            _message = NewMessage(null, [], mshPosition, message.Length);
            _message.Diagnostics.Add(Error(DiagnosticCode.BadDelimiters, problem!, mshPosition with { Field = 2 }));
            return _message;
        }

        int lineEnd = message.IndexOfAny(Hl7Constants.CarriageReturn, Hl7Constants.LineFeed);
        var msh = new Hl7Segment(lineEnd < 0 ? message : message[..lineEnd], _d, baseOffset, baseLine);
        ReadMsh(msh, message, mshPosition);

        int segments = 0;
        var lines = new Hl7Lines(message, 0, baseLine);
        while (lines.MoveNext())
        {
            ReadOnlySpan<byte> bytes = lines.Current;
            if (bytes.IsEmpty)
            {
                continue;
            }
            long offset = baseOffset + lines.Offset;
            if (++segments > _options.MaxSegmentsPerMessage)
            {
                _message.Diagnostics.Add(Error(DiagnosticCode.TooManySegments,
                    $"message has more than {_options.MaxSegmentsPerMessage} segments; the rest is not read", new SourcePosition(SegmentName(bytes), lines.Line, 0, 0, offset)));
                break;
            }
            if (bytes.Length > _options.MaxSegmentBytes)
            {
                _message.Diagnostics.Add(Error(DiagnosticCode.SegmentTooLong,
                    $"segment of {bytes.Length} bytes exceeds the {_options.MaxSegmentBytes}-byte limit", new SourcePosition(SegmentName(bytes), lines.Line, 0, 0, offset)));
                continue;
            }
            ReadSegment(new Hl7Segment(bytes, _d, offset, lines.Line));
        }

        Finish(mshPosition);
        return _message;
    }

    /// <summary>The segment id as a string: the usual ones without allocating.</summary>
    private static string SegmentName(ReadOnlySpan<byte> bytes)
    {
        ReadOnlySpan<byte> id = bytes.Length >= 3 ? bytes[..3] : bytes;
        foreach (byte b in id)
        {
            if (!char.IsAsciiLetterOrDigit((char)b))
            {
                return "?";
            }
        }
        return id switch
        {
            [(byte)'O', (byte)'B', (byte)'X'] => "OBX",
            [(byte)'O', (byte)'B', (byte)'R'] => "OBR",
            [(byte)'O', (byte)'R', (byte)'C'] => "ORC",
            [(byte)'P', (byte)'I', (byte)'D'] => "PID",
            [(byte)'M', (byte)'S', (byte)'H'] => "MSH",
            [(byte)'S', (byte)'P', (byte)'M'] => "SPM",
            [(byte)'N', (byte)'T', (byte)'E'] => "NTE",
            [(byte)'P', (byte)'V', (byte)'1'] => "PV1",
            _ => System.Text.Encoding.ASCII.GetString(id),
        };
    }

    private static ParsedMessage NewMessage(string? controlId, IReadOnlyList<string> senders, SourcePosition position, long length) => new()
    {
        ControlId = controlId,
        SenderIds = senders,
        Position = position,
        ByteLength = length,
    };

    private void ReadMsh(in Hl7Segment msh, ReadOnlySpan<byte> message, SourcePosition position)
    {
        // Character set first: every other field is decoded with it.
        bool knownCharset = Hl7Text.TryReadCharset(msh.Field(18), _d, out _charset, out bool declared);
        if (!knownCharset)
        {
            _charset = Hl7Charset.Utf8;
            declared = false;
        }
        int invalidAt = _charset == Hl7Charset.Utf8 ? Hl7Text.FirstInvalidUtf8(message) : -1;
        // MSH-18 says ISO-8859 but the bytes are UTF-8 (a sender's template left unchanged): read as ISO-8859, "LEFÈVRE"
        // would become "LEFÃˆVRE" and match nobody. Text that is valid UTF-8 with multi-byte characters is UTF-8.
        int utf8Despite = -1;
        if (_charset is Hl7Charset.Latin1 or Hl7Charset.Latin9 && message.IndexOfAnyInRange((byte)0x80, (byte)0xFF) is int high and >= 0
            && Hl7Text.FirstInvalidUtf8(message) < 0)
        {
            utf8Despite = high;
            _charset = Hl7Charset.Utf8;
        }

        var senders = new List<string>(2);
        string? facilityNamespace = Text(Hl7Spans.Component(msh.Field(4), 1, _d));
        string? facilityUniversal = Text(Hl7Spans.Component(msh.Field(4), 2, _d));
        if (facilityNamespace is not null) senders.Add(facilityNamespace);
        if (facilityUniversal is not null) senders.Add(facilityUniversal);
        _messageLabId = facilityUniversal ?? facilityNamespace;

        _message = new ParsedMessage
        {
            ControlId = Text(msh.Field(10)),
            SenderIds = senders,
            Position = position,
            ByteLength = message.Length,
            SendingApplication = Text(Hl7Spans.Component(msh.Field(3), 1, _d)),
            ReceivingApplication = Text(Hl7Spans.Component(msh.Field(5), 1, _d)),
            ReceivingFacility = Text(Hl7Spans.Component(msh.Field(6), 1, _d)),
            AcceptAckType = Text(msh.Field(15)),
            ApplicationAckType = Text(msh.Field(16)),
            Version = Text(Hl7Spans.Component(msh.Field(12), 1, _d)),
        };

        if (!knownCharset)
        {
            _message.Diagnostics.Add(Warning(DiagnosticCode.UnsupportedCharset,
                "MSH-18 names a character set Sidep does not decode; read as UTF-8", At(msh, 18)));
        }
        if (utf8Despite >= 0)
        {
            _message.Diagnostics.Add(Warning(DiagnosticCode.InvalidEncoding,
                $"MSH-18 declares ISO-8859 but the message is UTF-8 (its first multi-byte character at byte {utf8Despite}); read as UTF-8",
                At(msh, 18)) with { Found = Text(Hl7Spans.FirstRepetition(msh.Field(18), _d)), Expected = "UNICODE UTF-8, the character set of these bytes" });
        }
        if (invalidAt >= 0)
        {
            if (declared)
            {
                _message.Diagnostics.Add(Warning(DiagnosticCode.InvalidEncoding,
                    $"byte 0x{message[invalidAt]:X2} is not valid UTF-8 as MSH-18 declares; replaced by U+FFFD",
                    position with { ByteOffset = position.ByteOffset + invalidAt }));
            }
            else
            {
                _charset = Hl7Charset.Latin1;
                _message.Diagnostics.Add(Warning(DiagnosticCode.InvalidEncoding,
                    $"byte 0x{message[invalidAt]:X2} is not valid UTF-8 and MSH-18 is empty; the message was read as ISO-8859-1",
                    position with { ByteOffset = position.ByteOffset + invalidAt }));
            }
        }

        ReadOnlySpan<byte> type = Hl7Spans.FirstRepetition(msh.Field(9), _d);
        ReadOnlySpan<byte> code = Hl7Spans.Component(type, 1, _d);
        ReadOnlySpan<byte> trigger = Hl7Spans.Component(type, 2, _d);
        if (code.IsEmpty)
        {
            _message.Diagnostics.Add(Error(DiagnosticCode.MissingField, "MSH-9 (message type) is empty", At(msh, 9)));
        }
        else if (!code.SequenceEqual("ORU"u8) || !trigger.SequenceEqual("R01"u8))
        {
            _message.Diagnostics.Add(Error(DiagnosticCode.UnsupportedMessageType,
                $"message type {Text(type)} is not accepted; Sidep takes ORU^R01 observation results", At(msh, 9)) with { Found = Text(type), Expected = "ORU^R01" });
        }
        if (_message.ControlId is null)
        {
            _message.Diagnostics.Add(Warning(DiagnosticCode.MissingField, "MSH-10 (message control id) is empty; the ACK cannot refer to it", At(msh, 10)));
        }
        if (facilityNamespace is null && facilityUniversal is null)
        {
            _message.Diagnostics.Add(Error(DiagnosticCode.MissingField, "MSH-4 (sending facility) is empty: the laboratory is not identified", At(msh, 4)));
        }
    }

    private void ReadSegment(in Hl7Segment segment)
    {
        if (segment.Is(Hl7Constants.Pid))
        {
            ReadPid(segment);
        }
        else if (segment.Is(Hl7Constants.Orc))
        {
            _orcFiller = Text(segment.Component(3, 1)) ?? Text(segment.Component(2, 1));
            _orcPrescriber = ReadPrescriber(Hl7Spans.FirstRepetition(segment.Field(12), _d));
        }
        else if (segment.Is(Hl7Constants.Obr))
        {
            ReadObr(segment);
        }
        else if (segment.Is(Hl7Constants.Obx))
        {
            ReadObx(segment);
        }
        else if (segment.Is(Hl7Constants.Nte))
        {
            string? comment = TextRepeated(segment.Field(3));
            if (comment is null)
            {
                return;
            }
            if (_lastResult is not null)
            {
                _lastResult.Comment = _lastResult.Comment is null ? comment : _lastResult.Comment + "\n" + comment;
            }
            else if (_group is not null)
            {
                _group.Comment = _group.Comment is null ? comment : _group.Comment + "\n" + comment;
            }
        }
        else if (segment.Is(Hl7Constants.Spm))
        {
            ReadSpm(segment);
        }
        else if (segment.Is(Hl7Constants.Msh) && segment.Offset != _message.Position.ByteOffset)
        {
            // Cannot happen: the splitter starts a message at every MSH.
            _message.Diagnostics.Add(Error(DiagnosticCode.InvalidField, "second MSH inside a message", At(segment, 0)));
        }
    }

    private void ReadPid(in Hl7Segment pid)
    {
        _patientPosition = At(pid, 0);
        var draft = new PatientDraft(_patientPosition) { Identifiers = At(pid, 3) };
        Ins? ins = null;
        string? localId = null;
        foreach (ReadOnlySpan<byte> cx in Hl7Spans.Repetitions(pid.Field(3), _d))
        {
            ReadOnlySpan<byte> authority = Hl7Spans.Component(cx, 4, _d);
            ReadOnlySpan<byte> oid = Hl7Spans.SubComponent(authority, 2, _d);
            string? id = Text(Hl7Spans.Component(cx, 1, _d));
            if (id is null)
            {
                continue;
            }
            string? oidText = Text(oid);
            if (oidText is not null && oidText.StartsWith(InsNumber.OidRoot + ".", StringComparison.Ordinal))
            {
                InsKind? kind = InsNumber.KindOfOid(oidText);
                if (kind is null)
                {
                    draft.Diagnostics.Add(Warning(DiagnosticCode.InvalidIns, $"PID-3 assigning authority {oidText} is not an INS OID (.8 NIR, .9 NIA, .10 test, .11 demo); identifier ignored", At(pid, 3)));
                }
                else if (!InsNumber.IsValid(id))
                {
                    draft.Diagnostics.Add(Warning(DiagnosticCode.InvalidIns, "PID-3 INS matricule fails its key check (15 characters, key = 97 - number mod 97); kept out of identity, traits are used instead", At(pid, 3)));
                }
                else if (_options.Production && kind is InsKind.Test or InsKind.Demo)
                {
                    draft.Diagnostics.Add(Error(DiagnosticCode.TestIdentityInProduction, $"PID-3 INS uses the {kind} OID {oidText}, refused in production", At(pid, 3)));
                }
                else
                {
                    ins ??= new Ins(id, oidText, kind.Value);
                }
            }
            else
            {
                localId ??= id;
            }
        }

        string? birthName = null, usedName = null;
        List<string> given = [];
        foreach (ReadOnlySpan<byte> xpn in Hl7Spans.Repetitions(pid.Field(5), _d))
        {
            var name = new Hl7Components(xpn, _d.Component);
            ReadOnlySpan<byte> nameType = name[7];
            string? family = Text(Hl7Spans.SubComponent(name[1], 1, _d));
            bool isUsed = nameType.SequenceEqual("D"u8);
            if (isUsed)
            {
                usedName ??= family;
            }
            else
            {
                birthName ??= family;
            }
            if (given.Count == 0 && !isUsed)
            {
                AddNames(given, Text(name[2]));
                AddNames(given, Text(name[3]));
            }
        }
        if (given.Count == 0)
        {
            ReadOnlySpan<byte> first = Hl7Spans.FirstRepetition(pid.Field(5), _d);
            AddNames(given, Text(Hl7Spans.Component(first, 2, _d)));
        }

        PartialDate? birthDate = null;
        ReadOnlySpan<byte> dob = pid.Component(7, 1);
        if (!dob.IsEmpty)
        {
            if (DateTimeText.TryParsePartialDate(dob, out PartialDate parsed))
            {
                birthDate = parsed;
            }
            else
            {
                draft.Diagnostics.Add(Warning(DiagnosticCode.InvalidDate, "PID-7 birth date is not a date (YYYY[MM[DD]]); age is unknown", At(pid, 7)));
            }
        }

        Sex sex = pid.Component(8, 1) switch
        {
            [(byte)'F'] => Sex.Female,
            [(byte)'M'] => Sex.Male,
            [(byte)'O'] or [(byte)'A'] => Sex.Other,
            _ => Sex.Unknown,
        };

        Address? address = null;
        string? birthplace = null;
        foreach (ReadOnlySpan<byte> xad in Hl7Spans.Repetitions(pid.Field(11), _d))
        {
            var part = new Hl7Components(xad, _d.Component);
            if (part[7].SequenceEqual("BDL"u8))
            {
                birthplace ??= Text(part[9]) ?? Text(part[5]);
                continue;
            }
            if (address is null)
            {
                string? street = Text(Hl7Spans.SubComponent(part[1], 1, _d));
                string? other = Text(part[2]);
                address = new Address(
                    street is not null && other is not null ? street + ", " + other : street ?? other,
                    Text(part[3]),
                    Text(part[5]),
                    Text(part[9]),
                    Text(part[6]));
                if (address is { Line: null, City: null, PostalCode: null, CommuneCode: null, Country: null })
                {
                    address = null;
                }
            }
        }
        birthplace ??= Text(pid.Field(23));

        string? phone = null, email = null;
        foreach (ReadOnlySpan<byte> xtn in Hl7Spans.Repetitions(pid.Field(13), _d))
        {
            var part = new Hl7Components(xtn, _d.Component);
            ReadOnlySpan<byte> mail = part[4];
            if (!mail.IsEmpty && mail.Contains((byte)'@'))
            {
                email ??= Text(mail);
            }
            string? number = Text(part[12]);
            if (number is null)
            {
                string? area = Text(part[6]);
                string? local = Text(part[7]);
                number = local is null ? Text(part[1]) : area + local;
            }
            phone ??= number;
        }

        IdentityStatus status = pid.Component(32, 1) switch
        {
            var s when s.SequenceEqual("VALI"u8) => IdentityStatus.Validated,
            var s when s.SequenceEqual("QUAL"u8) => IdentityStatus.Qualified,
            var s when s.SequenceEqual("PROV"u8) => IdentityStatus.Provisional,
            var s when s.SequenceEqual("RECUP"u8) => IdentityStatus.Recovered,
            _ => IdentityStatus.Unknown,
        };

        draft.Identity = new PatientIdentity
        {
            Ins = ins,
            IdentityStatus = status,
            LocalId = localId,
            BirthName = birthName,
            UsedName = usedName,
            GivenNames = given,
            BirthDate = birthDate,
            Sex = sex,
            BirthplaceCode = birthplace,
            Address = address,
            Phone = phone,
            Email = email,
        };
        _patient = draft;
        _group = null;
        _lastResult = null;
    }

    private static void AddNames(List<string> names, string? text)
    {
        if (text is null)
        {
            return;
        }
        foreach (string part in text.Split([' ', ','], StringSplitOptions.RemoveEmptyEntries | StringSplitOptions.TrimEntries))
        {
            names.Add(part);
        }
    }

    private Prescriber? ReadPrescriber(ReadOnlySpan<byte> xcn)
    {
        if (xcn.IsEmpty)
        {
            return null;
        }
        var part = new Hl7Components(xcn, _d.Component);
        ReadOnlySpan<byte> authority = part[9];
        var p = new Prescriber(
            Text(part[1]),
            Text(Hl7Spans.SubComponent(authority, 2, _d)) ?? Text(Hl7Spans.SubComponent(authority, 1, _d)) ?? Text(part[13]),
            Text(Hl7Spans.SubComponent(part[2], 1, _d)) ?? Text(Hl7Spans.SubComponent(part[2], 2, _d)),
            Text(part[3]));
        return p is { Id: null, FamilyName: null, GivenName: null } ? null : p;
    }

    private void ReadObr(in Hl7Segment obr)
    {
        var group = new OrderGroup(At(obr, 0))
        {
            Accession = Text(obr.Component(3, 1)) ?? Text(obr.Component(2, 1)) ?? _orcFiller,
            Prescriber = ReadPrescriber(Hl7Spans.FirstRepetition(obr.Field(16), _d)) ?? _orcPrescriber,
        };
        ReadTime(obr, 7, "OBR-7 observation (collection) date/time", out group.CollectedAt, group.Diagnostics);
        ReadTime(obr, 22, "OBR-22 result report date/time", out group.ReportedAt, group.Diagnostics);
        _group = group;
        _lastResult = null;
    }

    private void ReadTime(in Hl7Segment segment, int field, string what, out Timestamp? value, List<Diagnostic> diagnostics)
    {
        value = null;
        ReadOnlySpan<byte> text = segment.Component(field, 1);
        if (text.IsEmpty)
        {
            return;
        }
        if (DateTimeText.TryParseTimestamp(text, out Timestamp ts))
        {
            value = ts;
        }
        else
        {
            diagnostics.Add(Error(DiagnosticCode.InvalidDate, $"{what} is not an HL7 date/time (YYYYMMDD[HHMM[SS]][+/-ZZZZ])", At(segment, field))
                with { Found = Text(text), Expected = "YYYYMMDD[HHMM[SS[.S]]][+/-ZZZZ]" });
        }
    }

    private void ReadSpm(in Hl7Segment spm)
    {
        if (_group is null)
        {
            return;
        }
        ReadOnlySpan<byte> eip = spm.Field(2);
        // SPM-2 is EIP: placer^filler, each an EI whose parts are sub-components.
        string? id = Text(Hl7Spans.SubComponent(Hl7Spans.Component(eip, 1, _d), 1, _d)) ?? Text(Hl7Spans.SubComponent(Hl7Spans.Component(eip, 2, _d), 1, _d));
        _group.SpecimenId ??= id;
        ReadOnlySpan<byte> type = spm.Field(4);
        string? typeCode = Text(Hl7Spans.Component(type, 1, _d));
        string? typeDisplay = Text(Hl7Spans.Component(type, 2, _d));
        if (typeCode is null && typeDisplay is not null)
        {
            // Some senders shift the code into the text component ("^871810001^SCT").
            (typeCode, typeDisplay) = (typeDisplay, null);
        }
        if (typeCode is not null)
        {
            _group.SpecimenType ??= new CodedValue(typeCode, typeDisplay, Text(Hl7Spans.Component(type, 3, _d)));
        }
        ReadTime(spm, 17, "SPM-17 specimen collection date/time", out Timestamp? collected, _group.Diagnostics);
        _group.SpecimenCollectedAt ??= collected;
    }

    private void ReadObx(in Hl7Segment obx)
    {
        SourcePosition position = At(obx, 0);
        var id = new Hl7Components(Hl7Spans.FirstRepetition(obx.Field(3), _d), _d.Component);
        string? code = Text(id[1]);
        string? system = Text(id[3]);
        string? altCode = Text(id[4]);
        string? altSystem = Text(id[6]);
        ReadOnlySpan<byte> observationType = obx.Field(29);

        string? loinc = null;
        bool loincByForm = false;
        if (code is not null && IsLoincSystem(system))
        {
            loinc = code;
        }
        else if (altCode is not null && IsLoincSystem(altSystem))
        {
            loinc = altCode;
        }
        else if (code is not null && !IsKnownOtherSystem(system) && LoincCode.IsWellFormed(code))
        {
            loinc = code;
            loincByForm = true;
        }

        if (observationType.SequenceEqual("QST"u8) || (loinc is not null && AskAtOrderEntry.IsQuestion(loinc)) || (code is not null && AskAtOrderEntry.IsQuestion(code)))
        {
            if (_patient is not null)
            {
                AskAtOrderEntry.Apply(_patient.Context, loinc ?? code, obx, _d, _charset);
            }
            return;
        }

        var item = new ParsedItem(position, null, []);
        _message.Items.Add(item);
        var draft = new ResultDraft(item, _patient, _group);
        _drafts.Add(draft);
        _lastResult = draft;

        if (_group is null)
        {
            item.Reject(DiagnosticCode.MissingField, "OBX is not inside an OBR order group", position);
        }
        if (code is null)
        {
            item.Reject(DiagnosticCode.MissingField, "OBX-3 (observation identifier) is empty", At(obx, 3));
            return;
        }
        draft.Analysis = new CodedValue(code, Text(id[2]), system);
        draft.Loinc = loinc;
        if (CiSisMetadata.Contains(code))
        {
            item.Ignore($"not a result: OBX-3 {code} is CI-SIS document metadata (MetaDMPMSS: who may see the report, where it goes), not a laboratory result; ignored",
                At(obx, 3), code, "a test code (LOINC, or a local code of the lab's transcoding table)");
            return;
        }
        // A local code without LOINC is not an error here: terminology maps it, or holds the result in quarantine.
        if (loincByForm)
        {
            item.Diagnostics.Add(Warning(DiagnosticCode.InvalidField, $"OBX-3 coding system is '{system ?? ""}', not LN; '{code}' was taken as LOINC by its form and check digit", At(obx, 3)));
        }

        ReadOnlySpan<byte> valueType = obx.Field(2);
        if (valueType.SequenceEqual("ED"u8) || valueType.SequenceEqual("RP"u8))
        {
            item.Ignore($"not a result: OBX-2 value type {Text(valueType)} is an embedded or referenced document, not a laboratory result; ignored", At(obx, 2),
                Text(valueType), "CWE, CE, CNE, ST, TX, FT, NM or SN");
            return;
        }

        ReadOnlySpan<byte> statusCode = obx.Field(11);
        draft.Status = statusCode switch
        {
            [(byte)'F'] => ResultStatus.Final,
            [(byte)'C'] => ResultStatus.Corrected,
            [(byte)'D'] or [(byte)'W'] or [(byte)'X'] or [(byte)'N'] => ResultStatus.Cancelled,
            [(byte)'P'] or [(byte)'R'] or [(byte)'S'] or [(byte)'I'] => ResultStatus.Preliminary,
            _ => null,
        };
        if (statusCode.IsEmpty)
        {
            item.Diagnostics.Add(Error(DiagnosticCode.MissingResultStatus, "OBX-11 (observation result status) is empty; F, C, P, D, W or X expected", At(obx, 11))
                with { Expected = "F, C, P, D, W or X (HL7 table 0085)" });
        }
        else if (draft.Status is null)
        {
            item.Diagnostics.Add(Error(DiagnosticCode.InvalidField, $"OBX-11 status '{Text(statusCode)}' is not an HL7 0085 result status", At(obx, 11))
                with { Found = Text(statusCode), Expected = "F, C, P, D, W or X (HL7 table 0085)" });
        }
        else if (draft.Status == ResultStatus.Preliminary)
        {
            item.Diagnostics.Add(Warning(DiagnosticCode.InvalidField, "OBX-11 marks the result preliminary: it is stored but not counted until a final version arrives", At(obx, 11)));
        }

        ReadOnlySpan<byte> value = obx.Field(5);
        if (value.IsEmpty && draft.Status != ResultStatus.Cancelled)
        {
            item.Reject(DiagnosticCode.MissingField, "OBX-5 (observation value) is empty", At(obx, 5));
        }
        else
        {
            draft.Value = ReadValue(valueType, value);
        }
        draft.Units = Text(obx.Component(6, 1));
        draft.AbnormalFlag = Text(obx.Component(8, 1));
        ReadOnlySpan<byte> method = Hl7Spans.FirstRepetition(obx.Field(17), _d);
        draft.Method = Text(Hl7Spans.Component(method, 2, _d)) ?? Text(Hl7Spans.Component(method, 1, _d));
        ReadTime(obx, 14, "OBX-14 observation date/time", out draft.ObservedAt, item.Diagnostics);
        ReadTime(obx, 19, "OBX-19 analysis date/time", out draft.AnalysedAt, item.Diagnostics);
    }

    private ResultValue ReadValue(ReadOnlySpan<byte> valueType, ReadOnlySpan<byte> value)
    {
        bool coded = valueType.SequenceEqual("CWE"u8) || valueType.SequenceEqual("CE"u8) || valueType.SequenceEqual("CNE"u8) || valueType.SequenceEqual("CF"u8);
        if (coded)
        {
            var first = new Hl7Components(Hl7Spans.FirstRepetition(value, _d), _d.Component);
            string? code = Text(first[1])?.Trim();
            string? text = Text(first[2]);
            string? system = Text(first[3]);
            Interpretation interpretation = ResultValues.FromSnomed(code);
            if (interpretation == Interpretation.NotInterpreted)
            {
                interpretation = ResultValues.FromText(text);
            }
            if (interpretation == Interpretation.NotInterpreted && system is null)
            {
                interpretation = ResultValues.FromText(code);
            }
            return new ResultValue(interpretation, text ?? code ?? "", code, system);
        }
        string raw = TextRepeated(value) ?? "";
        bool quantitative = valueType.SequenceEqual("NM"u8) || valueType.SequenceEqual("SN"u8);
        return new ResultValue(quantitative ? Interpretation.NotInterpreted : ResultValues.FromText(raw), raw);
    }

    private void Finish(SourcePosition mshPosition)
    {
        if (_drafts.Count == 0 && !_message.IsRejected)
        {
            _message.Diagnostics.Add(Error(DiagnosticCode.TruncatedMessage,
                "message holds no OBX result: truncated, or not a result message", mshPosition));
        }
        foreach (ResultDraft draft in _drafts)
        {
            ParsedItem item = draft.Item;
            if (item.IsNotAResult)
            {
                continue; // ignored, and said so: no other check applies
            }
            if (draft.Patient is null)
            {
                item.Reject(DiagnosticCode.MissingPatient, "no PID segment precedes this result", item.Position);
            }
            else
            {
                item.Diagnostics.AddRange(draft.Patient.Diagnostics);
                item.IdentityPosition = draft.Patient.Identifiers;
            }
            if (draft.Group is not null)
            {
                item.Diagnostics.AddRange(draft.Group.Diagnostics);
                if (draft.Group.Accession is null && draft.Group.SpecimenId is null)
                {
                    item.Reject(DiagnosticCode.MissingField, "OBR-3 (filler order number), OBR-2, ORC-3 and SPM-2 are all empty: the specimen is not identified", draft.Group.Position with { Field = 3 });
                }
            }
            Timestamp? sampled = draft.Group?.SpecimenCollectedAt ?? draft.Group?.CollectedAt ?? draft.ObservedAt;
            Timestamp? resulted = draft.AnalysedAt ?? draft.Group?.ReportedAt;
            SampleDateBasis basis = SampleDateBasis.Collection;
            if (sampled is null && draft.Group is not null && !item.HasError)
            {
                // The documented fallback: counted on the result's date, else the day received, and the lab is told which.
                (sampled, basis) = resulted is null ? ((Timestamp?)null, SampleDateBasis.Receipt) : (resulted, SampleDateBasis.ResultReported);
                item.Diagnostics.Add(Diagnostic.Warning(DiagnosticCode.MissingField, resulted is null
                    ? "no specimen collection date (OBR-7, SPM-17 and OBX-14 are empty) nor result date (OBX-19, OBR-22): the result counts on the day Sidep received it"
                    : $"no specimen collection date (OBR-7, SPM-17 and OBX-14 are empty): the result counts on its result date ({(draft.AnalysedAt is null ? "OBR-22" : "OBX-19")}, {resulted.Value.Date.ToString("yyyy-MM-dd", System.Globalization.CultureInfo.InvariantCulture)})",
                    draft.Group.Position with { Field = 7 }) with { Expected = "OBR-7 or SPM-17: the specimen collection date/time" });
            }
            if (item.HasError || draft.Patient?.Identity is null || draft.Group is null || draft.Analysis is null || draft.Status is null)
            {
                continue;
            }
            item.Result = new LabResult
            {
                LabId = _messageLabId ?? "",
                AccessionId = draft.Group.Accession ?? draft.Group.SpecimenId!,
                SpecimenId = draft.Group.SpecimenId,
                AnalysisAsSent = draft.Analysis,
                Loinc = draft.Loinc,
                Method = draft.Method,
                Value = draft.Value ?? new ResultValue(Interpretation.NotInterpreted, ""),
                Units = draft.Units,
                AbnormalFlag = draft.AbnormalFlag,
                SpecimenType = draft.Group.SpecimenType,
                SampledAt = sampled,
                SampleDateBasis = basis,
                ResultedAt = resulted,
                Status = draft.Status.Value,
                Patient = draft.Patient.Identity,
                Prescriber = draft.Group.Prescriber,
                Context = draft.Patient.Context.ToContext(),
                Comment = draft.Comment ?? draft.Group.Comment,
            };
        }
    }

    private static bool IsLoincSystem(string? system) => system is "LN" or "LOINC" or "http://loinc.org" or "2.16.840.1.113883.6.1";

    private static bool IsKnownOtherSystem(string? system) => system is "SCT" or "SNM" or "L" or "LOCAL" or "99ELR" or "HL70136";

    private string? Text(ReadOnlySpan<byte> value) => Hl7Text.Decode(value, _d, _charset, _pool);

    /// <summary>A text field whose repetitions are lines (ST, TX, FT).</summary>
    private string? TextRepeated(ReadOnlySpan<byte> field)
    {
        if (field.IndexOf(_d.Repetition) < 0)
        {
            return Text(field);
        }
        var lines = new List<string>();
        foreach (ReadOnlySpan<byte> r in Hl7Spans.Repetitions(field, _d))
        {
            lines.Add(Text(r) ?? "");
        }
        return string.Join('\n', lines);
    }

    private static SourcePosition At(in Hl7Segment segment, int field)
    {
        int offset = 0;
        if (field > 0)
        {
            segment.Field(field, out offset);
        }
        return new SourcePosition(SegmentName(segment.Bytes), segment.Line, field, 0, segment.Offset + offset);
    }

    private sealed class PatientDraft(SourcePosition position)
    {
        public SourcePosition Position { get; } = position;
        /// <summary>PID-3, where the INS is expected.</summary>
        public SourcePosition Identifiers { get; init; }
        public PatientIdentity? Identity { get; set; }
        public ContextDraft Context { get; } = new();
        public List<Diagnostic> Diagnostics { get; } = [];
    }

    private sealed class OrderGroup(SourcePosition position)
    {
        public SourcePosition Position { get; } = position;
        public string? Accession { get; init; }
        public Prescriber? Prescriber { get; init; }
        public Timestamp? CollectedAt;
        public Timestamp? ReportedAt;
        public Timestamp? SpecimenCollectedAt;
        public string? SpecimenId;
        public CodedValue? SpecimenType;
        public string? Comment;
        public List<Diagnostic> Diagnostics { get; } = [];
    }

    private sealed class ResultDraft(ParsedItem item, PatientDraft? patient, OrderGroup? group)
    {
        public ParsedItem Item { get; } = item;
        public PatientDraft? Patient { get; } = patient;
        public OrderGroup? Group { get; } = group;
        public CodedValue? Analysis;
        public string? Loinc;
        public ResultStatus? Status;
        public ResultValue? Value;
        public string? Units;
        public string? AbnormalFlag;
        public string? Method;
        public string? Comment;
        public Timestamp? ObservedAt;
        public Timestamp? AnalysedAt;
    }
}
