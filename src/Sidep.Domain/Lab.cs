namespace Sidep.Domain;

/// <summary>A registered laboratory. <see cref="FacilityIds"/> are the identifiers it may send as (MSH-4 HD-1/HD-2);
/// <see cref="MllpSources"/> the source addresses its plain-TCP MLLP connections come from;
/// <see cref="MllpCertificates"/> the SHA-256 thumbprints (hex) of the client certificates of its MLLP/TLS connections.</summary>
public sealed record Lab(string Finess, string Name, IReadOnlyList<string> FacilityIds, IReadOnlyList<string> MllpSources)
{
    public IReadOnlyList<string> MllpCertificates { get; init; } = [];

    public bool SendsAs(string facilityId) =>
        string.Equals(facilityId, Finess, StringComparison.OrdinalIgnoreCase) || FacilityIds.Contains(facilityId, StringComparer.OrdinalIgnoreCase);
}
