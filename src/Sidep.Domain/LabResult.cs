namespace Sidep.Domain;

/// <summary>
/// The canonical laboratory result: what every parser produces and every stage consumes
/// (ARCHITECTURE.md, fixed decision 1). Format types never leak past the parsers.
/// </summary>
public sealed record LabResult
{
    /// <summary>FINESS (or, for foreign senders, the facility identifier) of the laboratory that performed the test.</summary>
    public required string LabId { get; init; }

    /// <summary>Accession / specimen identifier: with <see cref="LabId"/> and the test code it forms the result key.</summary>
    public required string AccessionId { get; init; }

    /// <summary>Specimen identifier when sent apart from the accession (HL7 SPM-2).</summary>
    public string? SpecimenId { get; init; }

    /// <summary>The analysis code exactly as the laboratory sent it.</summary>
    public required CodedValue AnalysisAsSent { get; init; }

    /// <summary>The LOINC code of the analysis, when sent or mapped; null until terminology maps it.</summary>
    public string? Loinc { get; init; }

    /// <summary>Test method (for instance "RT-PCR", "Antigen"), or the device / kit identifier sent.</summary>
    public string? Method { get; init; }

    public required ResultValue Value { get; init; }

    public string? Units { get; init; }

    /// <summary>Abnormal flag as sent (HL7 table 0078: N, A, H, L, POS, NEG, DET, ND…; HPRIM OBX.9).</summary>
    public string? AbnormalFlag { get; init; }

    /// <summary>Specimen type (for instance a SNOMED CT code "258500001^Nasopharyngeal swab").</summary>
    public CodedValue? SpecimenType { get; init; }

    /// <summary>The date the result counts on: the specimen's collection, or where the sender gave none, the fallback
    /// <see cref="SampleDateBasis"/> names (null: none was sent, the result counts on the day Sidep received it).</summary>
    public Timestamp? SampledAt { get; init; }

    /// <summary>What <see cref="SampledAt"/> is: the collection time, or the fallback taken when it was missing.</summary>
    public SampleDateBasis SampleDateBasis { get; init; }

    public Timestamp? ResultedAt { get; init; }

    public required ResultStatus Status { get; init; }

    public required PatientIdentity Patient { get; init; }

    public Prescriber? Prescriber { get; init; }

    public PatientContext Context { get; init; } = PatientContext.Empty;

    /// <summary>Free-text comments attached to the result (HL7 NTE, HPRIM C records).</summary>
    public string? Comment { get; init; }

    [System.Text.Json.Serialization.JsonIgnore]
    public ResultKey Key => new(LabId, AccessionId, Loinc ?? AnalysisAsSent.Code);

    /// <summary>The partition key of ARCHITECTURE.md decision 5: normalised birth date + sex.</summary>
    [System.Text.Json.Serialization.JsonIgnore]
    public string PartitionKey => Patient.BlockingKey;
}

/// <summary>(lab, accession, test code): the identity of a result across versions (decision 4).</summary>
public readonly record struct ResultKey(string LabId, string AccessionId, string TestCode)
{
    public override string ToString() => $"{LabId}/{AccessionId}/{TestCode}";

    /// <summary>A 128-bit fingerprint of the key (the first half of its SHA-256): how stages index results compactly.</summary>
    public UInt128 Fingerprint()
    {
        // SHA-256 of "lab␟accession␟test" in UTF-8, the bytes written on the stack (a heap buffer only for long keys).
        System.Text.Encoding utf8 = System.Text.Encoding.UTF8;
        int most = utf8.GetMaxByteCount(LabId.Length + AccessionId.Length + TestCode.Length + 2);
        byte[]? rented = most > 512 ? System.Buffers.ArrayPool<byte>.Shared.Rent(most) : null;
        Span<byte> text = rented ?? stackalloc byte[512];
        int at = utf8.GetBytes(LabId, text);
        text[at++] = 0x1F;
        at += utf8.GetBytes(AccessionId, text[at..]);
        text[at++] = 0x1F;
        at += utf8.GetBytes(TestCode, text[at..]);
        Span<byte> hash = stackalloc byte[32];
        System.Security.Cryptography.SHA256.HashData(text[..at], hash);
        if (rented is not null)
        {
            System.Buffers.ArrayPool<byte>.Shared.Return(rented);
        }
        return System.Buffers.Binary.BinaryPrimitives.ReadUInt128LittleEndian(hash);
    }
}

/// <summary>A code with its display text and coding system, as sent.</summary>
public sealed record CodedValue(string Code, string? Display = null, string? System = null)
{
    public override string ToString() => System is null ? Code : $"{Code} ({System})";
}

public enum ResultStatus
{
    Final,
    Corrected,
    /// <summary>Cancelled, deleted or entered in error: a retraction of the earlier versions.</summary>
    Cancelled,
    /// <summary>Preliminary: stored, not counted until a final version arrives.</summary>
    Preliminary,
}

/// <summary>Where a result's sample date comes from (README, "How the indicators count"): the specimen's collection
/// time, else — with a warning to the lab — the time the laboratory received the specimen, the time the result was
/// reported, or the day Sidep received it.</summary>
public enum SampleDateBasis
{
    Collection,
    SpecimenReceived,
    ResultReported,
    Receipt,
}

public enum Interpretation
{
    /// <summary>No qualitative reading applies (a quantitative value, or a value Sidep does not recognise).</summary>
    NotInterpreted,
    Positive,
    Negative,
    Indeterminate,
    Unsatisfactory,
}

/// <summary>The result value: a normalised interpretation plus exactly what was sent.</summary>
public sealed record ResultValue(Interpretation Interpretation, string Raw, string? Code = null, string? CodeSystem = null);

/// <summary>A timestamp with its precision and whether the time zone was given by the sender or assumed.</summary>
public readonly record struct Timestamp(DateTimeOffset Value, TimestampPrecision Precision, bool TimeZoneGiven)
{
    [System.Text.Json.Serialization.JsonIgnore]
    public DateOnly Date => DateOnly.FromDateTime(Value.DateTime);
    public override string ToString() => Value.ToString("O");
}

public enum TimestampPrecision { Year, Month, Day, Hour, Minute, Second, Fraction }

public sealed record Prescriber(string? Id, string? IdAuthority, string? FamilyName, string? GivenName);

public enum HousingType { Unknown, Private, NursingHome, OtherCollective }

/// <summary>The free context SI-DEP collected with each test.</summary>
public sealed record PatientContext
{
    public static readonly PatientContext Empty = new();
    public bool? Symptomatic { get; init; }
    public DateOnly? SymptomOnset { get; init; }
    public HousingType Housing { get; init; } = HousingType.Unknown;
    public bool? HealthCareWorker { get; init; }
    public bool? FirstTest { get; init; }
    public bool? Pregnant { get; init; }
    public bool? Hospitalised { get; init; }
}
