using System.Text.Json;
using Sidep.Domain;
using Sidep.Parsing.Internals;

namespace Sidep.Parsing.Fhir.Internals;

/// <summary>Pass 2: maps each Observation of the index onto a canonical result, reading the resources it references.</summary>
internal ref struct BundleMapper
{
    private readonly ReadOnlySpan<byte> _json;
    private readonly ResourceIndex _index;
    private readonly ParsedMessage _message;
    // Made when first needed: a small bundle (one observation, one patient) pays for no table it does not use.
    private ReadOnce<PatientData> _patients;
    private ReadOnce<OrganizationData> _organizations;
    /// <summary>Every item's line, counted as the mapper advances through the bundle (not from its start each time);
    /// the resources observations refer to (their patients) on a counter of their own, so that going to a patient
    /// placed at the other end of the bundle and back is not a pass over it per result.</summary>
    private LineCounter _lines, _referenced;

    public BundleMapper(ReadOnlySpan<byte> json, ResourceIndex index, ParsedMessage message)
    {
        _json = json;
        _index = index;
        _message = message;
    }

    public void Map()
    {
        // Which report groups which observation: for accession, sample time and performer fallbacks.
        // Top-level resources and the ones they contain (a DiagnosticReport may carry its Observations contained).
        var all = new List<Entry>(_index.Entries.Count);
        foreach (Entry e in _index.Entries)
        {
            all.Add(e);
            all.AddRange(e.Contained);
        }
        Dictionary<Entry, ReportData>? reports = null;
        foreach (Entry e in all)
        {
            if (e.Type != "DiagnosticReport")
            {
                continue;
            }
            reports ??= [];
            ReportData report = ReadReport(_json[e.Start..e.End]);
            foreach (string reference in report.Results)
            {
                if (_index.Resolve(reference, e) is Entry observation)
                {
                    reports.TryAdd(observation, report);
                }
            }
        }
        var observations = new List<(Entry Entry, ObservationData Data)>(all.Count);
        foreach (Entry e in all)
        {
            if (e.Type == "Observation")
            {
                observations.Add((e, ReadObservation(_json[e.Start..e.End])));
            }
        }
        // Ask-at-order-entry answers describe the patient: read them all before building results.
        foreach ((Entry entry, ObservationData o) in observations)
        {
            if (o.Loinc is string code && AskAtOrderEntry.IsQuestion(code) && _index.Resolve(o.Subject, entry) is Entry patient && patient.Type == "Patient")
            {
                AskAtOrderEntry.Apply(Patient(patient).Context, code, o);
            }
        }
        foreach ((Entry entry, ObservationData o) in observations)
        {
            if (o.Loinc is string code && AskAtOrderEntry.IsQuestion(code))
            {
                continue;
            }
            Build(entry, o, reports?.GetValueOrDefault(entry));
        }
        var senders = new List<string>();
        foreach (ParsedItem item in _message.Items)
        {
            if (item.Result?.LabId is { Length: > 0 } lab && !senders.Contains(lab))
            {
                senders.Add(lab);
            }
        }
        if (senders.Count > 0)
        {
            _message.SenderIds = senders;
        }
    }

    /// <summary>The first of these performers that is an Organization (read once per bundle), or null.</summary>
    private OrganizationData? Performer(IReadOnlyList<string> references, Entry from)
    {
        foreach (string reference in references)
        {
            if (_index.Resolve(reference, from) is { Type: "Organization" } org)
            {
                if (!_organizations.TryGet(org, out OrganizationData? data))
                {
                    _organizations.Add(org, data = ReadOrganization(_json[org.Start..org.End]));
                }
                return data;
            }
        }
        return null;
    }

    private PatientData Patient(Entry entry)
    {
        if (!_patients.TryGet(entry, out PatientData? patient))
        {
            patient = ReadPatient(_json[entry.Start..entry.End], entry, _json);
            _patients.Add(entry, patient);
        }
        return patient;
    }

    private SourcePosition At(Entry entry, string element, int offset = -1) =>
        new(entry.PathTo(element), _lines.LineOf(_json, offset < 0 ? entry.Start : entry.Start + offset), 0, 0, offset < 0 ? entry.Start : entry.Start + offset);

    /// <summary>A position in a resource an observation refers to (its patient).</summary>
    private SourcePosition AtReferenced(Entry entry, string element) =>
        new(entry.PathTo(element), _referenced.LineOf(_json, entry.Start), 0, 0, entry.Start);

    /// <summary>Bytes counted to give positions (the linearity test: about the bundle's length, not its square).</summary>
    public readonly long PositionBytes => _lines.Scanned + _referenced.Scanned;

    private void Build(Entry entry, ObservationData o, ReportData? report)
    {
        var item = new ParsedItem(At(entry, ""), null, []);
        _message.Items.Add(item);
        if (o.Code is null || o.Code.Codings.Count == 0 && o.Code.Text is null)
        {
            item.Reject(DiagnosticCode.MissingField, "Observation.code is missing: what was tested is unknown", At(entry, "code"));
            return;
        }
        Coding? analysis = o.Code.Codings.FirstOrDefault(c => c.System == "http://loinc.org" && c.Code is not null) is { Code: not null } l ? l
            : o.Code.Codings.FirstOrDefault(c => c.Code is not null) is { Code: not null } any ? any : null;
        if (analysis is null)
        {
            item.Reject(DiagnosticCode.MissingField, "Observation.code has no coding with a code (only text)", At(entry, "code", o.CodeOffset)
                with { });
            return;
        }
        Entry? patientEntry = _index.Resolve(o.Subject, entry);
        if (patientEntry is null || patientEntry.Type != "Patient")
        {
            item.Diagnostics.Add(Diagnostic.Error(DiagnosticCode.MissingPatient,
                o.Subject is null ? "Observation.subject is missing: a result needs its Patient" : $"Observation.subject '{o.Subject}' does not resolve to a Patient of this submission",
                At(entry, "subject", o.SubjectOffset)) with { Found = o.Subject, Expected = "a reference to a Patient in the Bundle (urn:uuid:…, Patient/id) or contained (#id)" });
            return;
        }
        PatientData patient = Patient(patientEntry);
        item.Diagnostics.AddRange(patient.Diagnostics);
        item.IdentityPosition = AtReferenced(patientEntry, "identifier");

        Entry? specimenEntry = o.Specimen is null ? null : _index.Resolve(o.Specimen, entry);
        SpecimenData? specimen = specimenEntry?.Type == "Specimen" ? ReadSpecimen(_json[specimenEntry.Start..specimenEntry.End]) : null;
        if (o.Specimen is not null && specimen is null)
        {
            item.Diagnostics.Add(Diagnostic.Warning(DiagnosticCode.UnresolvedReference, $"Observation.specimen '{o.Specimen}' does not resolve to a Specimen of this submission",
                At(entry, "specimen")) with { Found = o.Specimen });
        }
        if (specimen is null && report?.Specimens.FirstOrDefault() is string fromReport && _index.Resolve(fromReport, entry) is { Type: "Specimen" } rs)
        {
            specimen = ReadSpecimen(_json[rs.Start..rs.End]);
        }

        ResultStatus status = o.Status switch
        {
            "final" => ResultStatus.Final,
            "amended" or "corrected" => ResultStatus.Corrected,
            "entered-in-error" or "cancelled" => ResultStatus.Cancelled,
            "preliminary" or "registered" => ResultStatus.Preliminary,
            _ => ResultStatus.Final,
        };
        if (o.Status is null or "unknown" || o.Status is not ("final" or "amended" or "corrected" or "entered-in-error" or "cancelled" or "preliminary" or "registered"))
        {
            item.Diagnostics.Add(Diagnostic.Warning(DiagnosticCode.MissingResultStatus, $"Observation.status is {(o.Status is null ? "missing" : $"'{o.Status}'")}; taken as final",
                At(entry, "status", o.StatusOffset)) with { Found = o.Status, Expected = "final, amended, corrected, preliminary, registered, cancelled or entered-in-error" });
        }

        ResultValue? value = o.Value();
        if (value is null && status != ResultStatus.Cancelled)
        {
            item.Reject(DiagnosticCode.MissingField, "the Observation has no value (valueCodeableConcept, valueString or valueQuantity)", At(entry, "value[x]"));
            return;
        }

        Timestamp? sampled = null;
        foreach ((string? text, string element) in new[] { (specimen?.Collected, "specimen→Specimen.collection.collected[x]"), (o.Effective, "effective[x]"), (report?.Effective, "DiagnosticReport.effective[x]") })
        {
            if (text is null)
            {
                continue;
            }
            if (FhirDate.TryParseTimestamp(text, out Timestamp ts))
            {
                sampled = ts;
                break;
            }
            item.Reject(DiagnosticCode.InvalidDate, $"{element} is not a FHIR dateTime", At(entry, element.StartsWith("effective", StringComparison.Ordinal) ? "effective[x]" : element)
                with { }) ;
            item.Diagnostics[^1] = item.Diagnostics[^1] with { Found = text, Expected = "YYYY-MM-DDThh:mm:ss+zz:zz" };
            return;
        }
        Timestamp? resulted = FhirDate.TryParseTimestamp(o.Issued ?? report?.Issued, out Timestamp issued) ? issued : null;
        SampleDateBasis basis = SampleDateBasis.Collection;
        if (sampled is null)
        {
            // The documented fallback, and the lab is told which date counts: when the specimen reached the laboratory,
            // else when the result was issued, else the day Sidep received it.
            string counted;
            if (FhirDate.TryParseTimestamp(specimen?.Received, out Timestamp received))
            {
                (sampled, basis, counted) = (received, SampleDateBasis.SpecimenReceived, $"the time the laboratory received the specimen (Specimen.receivedTime, {Day(received)})");
            }
            else if (resulted is not null)
            {
                (sampled, basis, counted) = (resulted, SampleDateBasis.ResultReported, $"the time the result was issued ({(o.Issued is null ? "DiagnosticReport.issued" : "issued")}, {Day(resulted.Value)})");
            }
            else
            {
                (basis, counted) = (SampleDateBasis.Receipt, "the day Sidep received it");
            }
            item.Diagnostics.Add(Diagnostic.Warning(DiagnosticCode.MissingField,
                $"no sample time (Specimen.collection.collected[x], Observation.effective[x] and DiagnosticReport.effective[x] are missing): the result counts on {counted}",
                At(entry, "effective[x]")) with { Expected = "Specimen.collection.collectedDateTime or Observation.effectiveDateTime" });
        }

        string? accession = specimen?.Accession ?? specimen?.FirstIdentifier ?? report?.FirstIdentifier ?? o.FirstIdentifier;
        if (accession is null)
        {
            accession = o.Id ?? entry.Id ?? entry.FullUrl ?? $"entry{entry.Index}";
            item.Diagnostics.Add(Diagnostic.Warning(DiagnosticCode.MissingField,
                "no accession identifier (Specimen.accessionIdentifier, Specimen.identifier, DiagnosticReport.identifier or Observation.identifier): the Observation id stands in, so a resend with new ids would not be recognised",
                At(entry, "specimen")) with { Expected = "Specimen.accessionIdentifier.value" });
        }

        OrganizationData? lab = Performer(o.Performers, entry) ?? (report is null ? null : Performer(report.Performers, entry));

        item.Result = new LabResult
        {
            LabId = lab?.Id ?? "",
            AccessionId = accession,
            SpecimenId = specimen?.FirstIdentifier,
            AnalysisAsSent = new CodedValue(analysis.Value.Code!, analysis.Value.Display ?? o.Code.Text, SystemName(analysis.Value.System)),
            Loinc = analysis.Value.System == "http://loinc.org" ? analysis.Value.Code : null,
            Method = o.Method,
            Value = value ?? new ResultValue(Interpretation.NotInterpreted, ""),
            Units = o.Unit,
            AbnormalFlag = o.Flag,
            SpecimenType = specimen?.Type,
            SampledAt = sampled,
            SampleDateBasis = basis,
            ResultedAt = resulted,
            Status = status,
            Patient = patient.Identity,
            Context = patient.Context.ToContext(),
            Comment = o.Note,
        };
    }

    private static string Day(Timestamp t) => t.Date.ToString("yyyy-MM-dd", System.Globalization.CultureInfo.InvariantCulture);

    private static string? SystemName(string? system) => system switch
    {
        "http://loinc.org" => "LN",
        "http://snomed.info/sct" => "SCT",
        _ => system,
    };

    private static ObservationData ReadObservation(ReadOnlySpan<byte> json)
    {
        var o = new ObservationData();
        var r = new Utf8JsonReader(json, ResourceIndex.Options);
        r.Read();
        if (r.TokenType != JsonTokenType.StartObject)
        {
            return o;
        }
        // A loop over the reader, not callbacks: this runs for every observation of a bundle (JsonRead's loop idiom).
        while (JsonRead.NextProperty(ref r))
        {
            int at = (int)r.TokenStartIndex;
            if (r.ValueTextEquals("id"u8)) o.Id = JsonRead.String(ref r);
            else if (r.ValueTextEquals("status"u8)) { o.StatusOffset = at; o.Status = JsonRead.String(ref r); }
            else if (r.ValueTextEquals("code"u8)) { o.CodeOffset = at; o.Code = JsonRead.CodeableConcept(ref r); }
            else if (r.ValueTextEquals("subject"u8)) { o.SubjectOffset = at; o.Subject = JsonRead.Reference(ref r); }
            else if (r.ValueTextEquals("specimen"u8)) o.Specimen = JsonRead.Reference(ref r);
            else if (r.ValueTextEquals("effectiveDateTime"u8) || r.ValueTextEquals("effectiveInstant"u8)) o.Effective = JsonRead.String(ref r);
            else if (r.ValueTextEquals("effectivePeriod"u8)) { string? start = JsonRead.PeriodStart(ref r); o.Effective ??= start; }
            else if (r.ValueTextEquals("issued"u8)) o.Issued = JsonRead.String(ref r);
            else if (r.ValueTextEquals("performer"u8)) o.Performers = JsonRead.References(ref r);
            else if (r.ValueTextEquals("valueCodeableConcept"u8)) o.ValueConcept = JsonRead.CodeableConcept(ref r);
            else if (r.ValueTextEquals("valueString"u8)) o.ValueString = JsonRead.String(ref r);
            else if (r.ValueTextEquals("valueDateTime"u8)) o.ValueDateTime = JsonRead.String(ref r);
            else if (r.ValueTextEquals("valueBoolean"u8)) o.ValueString = JsonRead.String(ref r);
            else if (r.ValueTextEquals("valueQuantity"u8))
            {
                if (JsonRead.EnterObject(ref r))
                {
                    while (JsonRead.NextProperty(ref r))
                    {
                        if (r.ValueTextEquals("value"u8)) o.Quantity = JsonRead.String(ref r);
                        else if (r.ValueTextEquals("unit"u8) || r.ValueTextEquals("code"u8)) { string? unit = JsonRead.String(ref r); o.Unit ??= unit; }
                        else r.Skip();
                    }
                }
            }
            else if (r.ValueTextEquals("interpretation"u8))
            {
                bool started = false;
                if (JsonRead.EnterArray(ref r))
                {
                    while (JsonRead.NextObject(ref r, ref started))
                    {
                        while (JsonRead.NextProperty(ref r))
                        {
                            if (!r.ValueTextEquals("coding"u8))
                            {
                                r.Skip();
                                continue;
                            }
                            bool codings = false;
                            if (JsonRead.EnterArray(ref r))
                            {
                                while (JsonRead.NextElement(ref r, ref codings))
                                {
                                    string? flag = JsonRead.CodingHere(ref r).Code;
                                    o.Flag ??= flag;
                                }
                            }
                        }
                    }
                }
            }
            else if (r.ValueTextEquals("identifier"u8)) o.FirstIdentifier = JsonRead.FirstIdentifierValue(ref r);
            else if (r.ValueTextEquals("method"u8))
            {
                Concept m = JsonRead.CodeableConcept(ref r);
                o.Method = m.Text ?? (m.Codings.Count > 0 ? m.Codings[0].Display ?? m.Codings[0].Code : null);
            }
            else if (r.ValueTextEquals("note"u8))
            {
                bool started = false;
                if (JsonRead.EnterArray(ref r))
                {
                    while (JsonRead.NextObject(ref r, ref started))
                    {
                        while (JsonRead.NextProperty(ref r))
                        {
                            if (r.ValueTextEquals("text"u8) && JsonRead.String(ref r) is string t) o.Note = o.Note is null ? t : o.Note + "\n" + t;
                            else if (r.TokenType == JsonTokenType.PropertyName) r.Skip();
                        }
                    }
                }
            }
            else r.Skip();
        }
        foreach (Coding c in o.Code?.Codings ?? [])
        {
            if (c.System == "http://loinc.org")
            {
                o.Loinc = c.Code;
                break;
            }
        }
        return o;
    }

    private static PatientData ReadPatient(ReadOnlySpan<byte> json, Entry entry, ReadOnlySpan<byte> whole)
    {
        IReadOnlyList<Identifier> ids = [];
        var names = new List<(string? Use, string? Family, List<string> Given)>(1);
        string? gender = null, birthDate = null, phone = null, email = null, status = null, birthplace = null;
        Address? address = null;
        int birthOffset = 0;
        var r = new Utf8JsonReader(json, ResourceIndex.Options);
        r.Read();
        // A loop over the reader, not callbacks (JsonRead's loop idiom): a patient is read once per bundle, and a small
        // bundle's closures were a tenth of what it allocated.
        bool isObject = r.TokenType == JsonTokenType.StartObject;
        while (isObject && JsonRead.NextProperty(ref r))
        {
            if (r.ValueTextEquals("identifier"u8)) ids = JsonRead.Identifiers(ref r);
            else if (r.ValueTextEquals("name"u8))
            {
                bool started = false;
                if (JsonRead.EnterArray(ref r))
                {
                    while (JsonRead.NextElement(ref r, ref started))
                    {
                        string? use = null, family = null;
                        List<string> given = [];
                        if (r.TokenType == JsonTokenType.StartObject)
                        {
                            while (JsonRead.NextProperty(ref r))
                            {
                                if (r.ValueTextEquals("use"u8)) use = JsonRead.String(ref r);
                                else if (r.ValueTextEquals("family"u8)) family = JsonRead.String(ref r);
                                else if (r.ValueTextEquals("given"u8)) given = JsonRead.Strings(ref r);
                                else r.Skip();
                            }
                        }
                        names.Add((use, family, given));
                    }
                }
            }
            else if (r.ValueTextEquals("gender"u8)) gender = JsonRead.String(ref r);
            else if (r.ValueTextEquals("birthDate"u8)) { birthOffset = (int)r.TokenStartIndex; birthDate = JsonRead.String(ref r); }
            else if (r.ValueTextEquals("address"u8))
            {
                bool started = false;
                if (JsonRead.EnterArray(ref r))
                {
                    while (JsonRead.NextElement(ref r, ref started))
                    {
                        if (address is not null)
                        {
                            continue;
                        }
                        List<string> lines = [];
                        string? city = null, postal = null, country = null;
                        if (r.TokenType == JsonTokenType.StartObject)
                        {
                            while (JsonRead.NextProperty(ref r))
                            {
                                if (r.ValueTextEquals("line"u8)) lines = JsonRead.Strings(ref r);
                                else if (r.ValueTextEquals("city"u8)) city = JsonRead.String(ref r);
                                else if (r.ValueTextEquals("postalCode"u8)) postal = JsonRead.String(ref r);
                                else if (r.ValueTextEquals("country"u8)) country = JsonRead.String(ref r);
                                else r.Skip();
                            }
                        }
                        address = new Address(lines.Count == 0 ? null : string.Join(", ", lines), city, postal, null, country);
                    }
                }
            }
            else if (r.ValueTextEquals("telecom"u8))
            {
                bool started = false;
                if (JsonRead.EnterArray(ref r))
                {
                    while (JsonRead.NextElement(ref r, ref started))
                    {
                        string? system = null, value = null;
                        if (r.TokenType == JsonTokenType.StartObject)
                        {
                            while (JsonRead.NextProperty(ref r))
                            {
                                if (r.ValueTextEquals("system"u8)) system = JsonRead.String(ref r);
                                else if (r.ValueTextEquals("value"u8)) value = JsonRead.String(ref r);
                                else r.Skip();
                            }
                        }
                        if (system == "email") email ??= value;
                        else if (system is "phone" or "sms" or null) phone ??= value;
                    }
                }
            }
            else if (r.ValueTextEquals("extension"u8))
            {
                // Only two extensions matter: identity reliability (FR Core) and birthplace; the others are skipped unread.
                bool started = false;
                if (JsonRead.EnterArray(ref r))
                {
                    while (JsonRead.NextObject(ref r, ref started))
                    {
                        string? url = null;
                        while (JsonRead.NextProperty(ref r))
                        {
                            if (r.ValueTextEquals("url"u8))
                            {
                                url = JsonRead.String(ref r);
                            }
                            else if (url is not null && (url.Contains("reliability", StringComparison.OrdinalIgnoreCase) || url.EndsWith("patient-birthPlace", StringComparison.Ordinal)))
                            {
                                r.Read();
                                using JsonDocument doc = JsonDocument.ParseValue(ref r);
                                if (url.EndsWith("patient-birthPlace", StringComparison.Ordinal))
                                {
                                    birthplace ??= BirthplaceOf(doc.RootElement);
                                }
                                else
                                {
                                    status ??= FindReliability(doc.RootElement, inside: true);
                                }
                            }
                            else
                            {
                                r.Skip();
                            }
                        }
                    }
                }
            }
            else r.Skip();
        }

        var diagnostics = new List<Diagnostic>();
        Ins? ins = null;
        string? localId = null;
        foreach (Identifier id in ids)
        {
            string? oid = id.System?.StartsWith("urn:oid:", StringComparison.Ordinal) == true ? id.System[8..] : null;
            if (oid is not null && oid.StartsWith(InsNumber.OidRoot + ".", StringComparison.Ordinal) && InsNumber.KindOfOid(oid) is InsKind kind && id.Value is not null)
            {
                if (InsNumber.IsValid(id.Value))
                {
                    ins ??= new Ins(id.Value, oid, kind);
                }
                else
                {
                    diagnostics.Add(Diagnostic.Warning(DiagnosticCode.InvalidIns, "Patient.identifier INS fails its key check; kept out of identity, traits are used instead",
                        new SourcePosition(entry.Path + ".identifier", Contiguous.LineOf(whole, entry.Start), 0, 0, entry.Start)));
                }
            }
            else
            {
                localId ??= id.Value;
            }
        }
        var official = names.FirstOrDefault(n => n.Use == "official");
        var usual = names.FirstOrDefault(n => n.Use == "usual");
        var first = official.Family is not null || official.Given is not null ? official : names.FirstOrDefault(n => n.Use is null or "official") is var f && (f.Family is not null || f.Given is not null) ? f : names.FirstOrDefault();
        PartialDate? birth = null;
        if (birthDate is not null)
        {
            if (FhirDate.TryParsePartialDate(birthDate, out PartialDate d))
            {
                birth = d;
            }
            else
            {
                diagnostics.Add(Diagnostic.Warning(DiagnosticCode.InvalidDate, "Patient.birthDate is not a FHIR date (YYYY[-MM[-DD]]); age is unknown",
                    new SourcePosition(entry.Path + ".birthDate", Contiguous.LineOf(whole, entry.Start + birthOffset), 0, 0, entry.Start + birthOffset)));
            }
        }
        var identity = new PatientIdentity
        {
            Ins = ins,
            IdentityStatus = status switch { "VALI" => IdentityStatus.Validated, "QUAL" => IdentityStatus.Qualified, "PROV" => IdentityStatus.Provisional, "RECUP" => IdentityStatus.Recovered, _ => IdentityStatus.Unknown },
            LocalId = localId,
            BirthName = first.Family,
            UsedName = usual.Family is not null && usual.Family != first.Family ? usual.Family : null,
            GivenNames = first.Given ?? [],
            BirthDate = birth,
            BirthplaceCode = birthplace,
            Sex = gender switch { "female" => Sex.Female, "male" => Sex.Male, "other" => Sex.Other, _ => Sex.Unknown },
            Address = address,
            Phone = phone,
            Email = email,
        };
        return new PatientData(identity, diagnostics);
    }

    /// <summary>patient-birthPlace's valueAddress: the INSEE code in district (FR Core), else its postal code.</summary>
    private static string? BirthplaceOf(JsonElement address)
    {
        foreach (string name in new[] { "district", "postalCode" })
        {
            if (address.ValueKind == JsonValueKind.Object && address.TryGetProperty(name, out JsonElement v) && v.GetString() is { Length: > 0 } code)
            {
                return code;
            }
        }
        return null;
    }

    private static string? FindReliability(JsonElement e, bool inside)
    {
        switch (e.ValueKind)
        {
            case JsonValueKind.Array:
                foreach (JsonElement x in e.EnumerateArray())
                {
                    if (FindReliability(x, inside) is string s) return s;
                }
                return null;
            case JsonValueKind.Object:
                bool here = inside || (e.TryGetProperty("url", out JsonElement url) && url.GetString() is string u
                    && (u.Contains("reliability", StringComparison.OrdinalIgnoreCase) || u.Contains("identityStatus", StringComparison.OrdinalIgnoreCase)));
                foreach (JsonProperty p in e.EnumerateObject())
                {
                    if (here && p.Value.ValueKind == JsonValueKind.String && p.Value.GetString() is "VALI" or "QUAL" or "PROV" or "RECUP")
                    {
                        return p.Value.GetString();
                    }
                    if (FindReliability(p.Value, here) is string s) return s;
                }
                return null;
            default:
                return null;
        }
    }

    private static SpecimenData ReadSpecimen(ReadOnlySpan<byte> json)
    {
        var s = new SpecimenData();
        var r = new Utf8JsonReader(json, ResourceIndex.Options);
        r.Read();
        bool isObject = r.TokenType == JsonTokenType.StartObject;
        while (isObject && JsonRead.NextProperty(ref r))
        {
            if (r.ValueTextEquals("accessionIdentifier"u8)) s.Accession = JsonRead.Identifier(ref r).Value;
            else if (r.ValueTextEquals("identifier"u8)) s.FirstIdentifier = JsonRead.FirstIdentifierValue(ref r);
            else if (r.ValueTextEquals("type"u8))
            {
                Concept c = JsonRead.CodeableConcept(ref r);
                Coding first = c.Codings.FirstOrDefault(x => x.Code is not null);
                s.Type = first.Code is not null ? new CodedValue(first.Code, first.Display ?? c.Text, SystemName(first.System)) : null;
            }
            else if (r.ValueTextEquals("receivedTime"u8)) s.Received = JsonRead.String(ref r);
            else if (r.ValueTextEquals("collection"u8))
            {
                if (JsonRead.EnterObject(ref r))
                {
                    while (JsonRead.NextProperty(ref r))
                    {
                        if (r.ValueTextEquals("collectedDateTime"u8)) s.Collected = JsonRead.String(ref r);
                        else if (r.ValueTextEquals("collectedPeriod"u8)) { string? start = JsonRead.PeriodStart(ref r); s.Collected ??= start; }
                        else r.Skip();
                    }
                }
            }
            else r.Skip();
        }
        return s;
    }

    private static OrganizationData ReadOrganization(ReadOnlySpan<byte> json)
    {
        IReadOnlyList<Identifier> ids = [];
        string? name = null;
        var r = new Utf8JsonReader(json, ResourceIndex.Options);
        r.Read();
        bool isObject = r.TokenType == JsonTokenType.StartObject;
        while (isObject && JsonRead.NextProperty(ref r))
        {
            if (r.ValueTextEquals("identifier"u8)) ids = JsonRead.Identifiers(ref r);
            else if (r.ValueTextEquals("name"u8)) name = JsonRead.String(ref r);
            else r.Skip();
        }
        string? finess = ids.FirstOrDefault(i => i.System == FhirParser.FinessSystem && i.Value is not null).Value;
        return new OrganizationData(finess ?? ids.FirstOrDefault(i => i.Value is not null).Value ?? name, name);
    }

    private static ReportData ReadReport(ReadOnlySpan<byte> json)
    {
        var d = new ReportData();
        var r = new Utf8JsonReader(json, ResourceIndex.Options);
        r.Read();
        bool isObject = r.TokenType == JsonTokenType.StartObject;
        while (isObject && JsonRead.NextProperty(ref r))
        {
            if (r.ValueTextEquals("result"u8)) d.Results = JsonRead.References(ref r);
            else if (r.ValueTextEquals("performer"u8)) d.Performers = JsonRead.References(ref r);
            else if (r.ValueTextEquals("specimen"u8)) d.Specimens = JsonRead.References(ref r);
            else if (r.ValueTextEquals("identifier"u8)) d.FirstIdentifier = JsonRead.FirstIdentifierValue(ref r);
            else if (r.ValueTextEquals("effectiveDateTime"u8)) d.Effective = JsonRead.String(ref r);
            else if (r.ValueTextEquals("effectivePeriod"u8)) { string? start = JsonRead.PeriodStart(ref r); d.Effective ??= start; }
            else if (r.ValueTextEquals("issued"u8)) d.Issued = JsonRead.String(ref r);
            else r.Skip();
        }
        return d;
    }
}

internal sealed class ObservationData
{
    public string? Id, Status, Subject, Specimen, Effective, Issued, ValueString, ValueDateTime, Quantity, Unit, Flag, FirstIdentifier, Method, Note, Loinc;
    public Concept? Code, ValueConcept;
    public IReadOnlyList<string> Performers = [];
    public int StatusOffset = -1, CodeOffset = -1, SubjectOffset = -1;

    public ResultValue? Value()
    {
        if (ValueConcept is not null)
        {
            Coding coding = ValueConcept.Codings.FirstOrDefault(c => c.System == "http://snomed.info/sct" && c.Code is not null) is { Code: not null } sct ? sct
                : ValueConcept.Codings.FirstOrDefault(c => c.Code is not null);
            Interpretation i = ResultValues.FromSnomed(coding.Code);
            if (i == Interpretation.NotInterpreted) i = ResultValues.FromText(coding.Display);
            if (i == Interpretation.NotInterpreted) i = ResultValues.FromText(ValueConcept.Text);
            return new ResultValue(i, coding.Display ?? ValueConcept.Text ?? coding.Code ?? "", coding.Code,
                coding.System switch { "http://snomed.info/sct" => "SCT", null => null, var s => s });
        }
        if (ValueString is not null)
        {
            return new ResultValue(ResultValues.FromText(ValueString), ValueString);
        }
        if (Quantity is not null)
        {
            return new ResultValue(Interpretation.NotInterpreted, Quantity);
        }
        return ValueDateTime is not null ? new ResultValue(Interpretation.NotInterpreted, ValueDateTime) : null;
    }
}

internal sealed record PatientData(PatientIdentity Identity, List<Diagnostic> Diagnostics)
{
    public ContextDraft Context { get; } = new();
}

internal sealed class SpecimenData
{
    public string? Accession, FirstIdentifier, Collected, Received;
    public CodedValue? Type;
}

internal sealed record OrganizationData(string? Id, string? Name);

internal sealed class ReportData
{
    public IReadOnlyList<string> Results = [], Performers = [], Specimens = [];
    public string? FirstIdentifier, Effective, Issued;
}

/// <summary>What was read of the resources a bundle's observations refer to, each read once: most bundles name one patient
/// and one organization, held without a dictionary (which was a tenth of what a one-observation bundle cost); a
/// dictionary from the second.</summary>
internal struct ReadOnce<T> where T : class
{
    private Entry? _first;
    private T? _firstValue;
    private Dictionary<Entry, T>? _more;

    public readonly bool TryGet(Entry entry, [System.Diagnostics.CodeAnalysis.NotNullWhen(true)] out T? value)
    {
        if (ReferenceEquals(entry, _first))
        {
            value = _firstValue!;
            return true;
        }
        value = null;
        return _more is not null && _more.TryGetValue(entry, out value);
    }

    public void Add(Entry entry, T value)
    {
        if (_first is null)
        {
            (_first, _firstValue) = (entry, value);
        }
        else
        {
            (_more ??= [])[entry] = value;
        }
    }
}
