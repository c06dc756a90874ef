namespace Sidep.Domain;

public enum Sex { Unknown, Female, Male, Other }

/// <summary>INS identity reliability (PID-32 / Patient.extension identityReliability).</summary>
public enum IdentityStatus { Unknown, Provisional, Recovered, Validated, Qualified }

/// <summary>A birth date that may be partial (year only, year and month): HL7 and HPRIM both allow it.</summary>
public readonly record struct PartialDate(int Year, int? Month, int? Day)
{
    [System.Text.Json.Serialization.JsonIgnore]
    public bool IsComplete => Month is not null && Day is not null;

    /// <summary>YYYY, YYYY-MM or YYYY-MM-DD.</summary>
    public override string ToString() =>
        Month is null ? $"{Year:D4}" : Day is null ? $"{Year:D4}-{Month:D2}" : $"{Year:D4}-{Month:D2}-{Day:D2}";

    /// <summary>Age in whole years on <paramref name="on"/>, or null when the date is too partial to know.</summary>
    public int? AgeOn(DateOnly on)
    {
        if (Month is null || Day is null)
        {
            return null;
        }
        int age = on.Year - Year;
        if (on.Month < Month || (on.Month == Month && on.Day < Day))
        {
            age--;
        }
        return age;
    }
}

public sealed record Ins(string Matricule, string Oid, InsKind Kind);

public sealed record Address(string? Line, string? City, string? PostalCode, string? CommuneCode, string? Country);

/// <summary>The identity traits of the patient as the laboratory sent them.</summary>
public sealed record PatientIdentity
{
    public Ins? Ins { get; init; }
    public IdentityStatus IdentityStatus { get; init; }
    /// <summary>The laboratory's own patient identifier (PID-3 non-INS, HPRIM P-3).</summary>
    public string? LocalId { get; init; }
    public string? BirthName { get; init; }
    public string? UsedName { get; init; }
    public IReadOnlyList<string> GivenNames { get; init; } = [];
    public PartialDate? BirthDate { get; init; }
    public Sex Sex { get; init; }
    /// <summary>INSEE code of the place of birth (commune, or 99xxx country).</summary>
    public string? BirthplaceCode { get; init; }
    public Address? Address { get; init; }
    public string? Phone { get; init; }
    public string? Email { get; init; }

    /// <summary>Normalised birth date + sex: the matcher's blocking key and the log's partition key.</summary>
    [System.Text.Json.Serialization.JsonIgnore]
    public string BlockingKey => $"{BirthDate?.ToString() ?? "?"}|{Sex switch { Sex.Female => 'F', Sex.Male => 'M', Sex.Other => 'O', _ => 'U' }}";
}
