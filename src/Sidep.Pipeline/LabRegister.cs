using System.Security.Cryptography;
using System.Text;
using Sidep.Domain;

namespace Sidep.Pipeline;

/// <summary>A facility id a registration would share with another lab.</summary>
public sealed record LabConflict(int Index, string FacilityId, string OwnedBy)
{
    public override string ToString() => $"facility id {FacilityId} belongs to lab {OwnedBy}";
}

/// <summary>Registrations refused because they would share facility ids with other labs.</summary>
public sealed class LabConflictException(IReadOnlyList<LabConflict> conflicts)
    : ArgumentException(string.Join("; ", conflicts) + ": a facility id is one lab's only (a lab could otherwise submit as another)")
{
    public IReadOnlyList<LabConflict> Conflicts { get; } = conflicts;
}

/// <summary>A change of a lab's transcoding table, numbered in the order changes were made (what a gateway follows to
/// learn the mappings added through another).</summary>
public readonly record struct TranscodingChange(long Mark, string Lab, TranscodingRow Row);

/// <summary>
/// The lab register and the labs' transcoding tables: what every gateway authenticates labs and maps local codes with;
/// and their activity (<see cref="ILabActivityLog"/>), what lab health is judged on.
/// The embedded mode keeps them in the data directory's database; the distributed mode in PostgreSQL, so that any
/// gateway serves any lab.
/// </summary>
public interface ILabRegister : ILabActivityLog
{
    /// <summary>Registers (or re-keys) labs at once; returns their API keys in order, shown once (only their SHA-256 is
    /// stored). A lab registered again gets the lists of this registration (they replace the old ones) and a new key.</summary>
    /// <exception cref="LabConflictException">A facility id (or FINESS) another lab sends as: nothing is registered.</exception>
    List<string> AddLabs(IReadOnlyList<LabRegistration> labs);

    Lab? FindLabByApiKey(string apiKey);

    Lab? FindLab(string finess);

    List<Lab> ListLabs();

    /// <summary>The lab whose plain-TCP MLLP connections come from <paramref name="address"/>, if any.</summary>
    Lab? FindLabByMllpSource(string address);

    /// <summary>The lab whose MLLP/TLS client certificate has this SHA-256 thumbprint (hex), if any.</summary>
    Lab? FindLabByCertificate(string thumbprint);

    /// <summary>Adds or replaces mappings of a lab's local codes; returns how many were new and how many changed.</summary>
    (int Added, int Updated) UpsertTranscoding(string lab, IReadOnlyList<TranscodingRow> rows);

    /// <summary>The mappings of one lab, or of every lab.</summary>
    List<(string Lab, TranscodingRow Row)> ListTranscoding(string? lab = null);

    /// <summary>The mappings added or changed after <paramref name="mark"/> (0: all), in the order of their changes.</summary>
    List<TranscodingChange> TranscodingChangedAfter(long mark);
}

/// <summary>The lab register's rules, the same whatever holds it.</summary>
public static class LabRules
{
    public static LabRegistration Registration(string finess, string name, IEnumerable<string> facilityIds, IEnumerable<string> mllpSources, IEnumerable<string>? mllpCertificates = null) =>
        new(finess, name, [.. facilityIds], [.. mllpSources], [.. mllpCertificates ?? []]);

    /// <summary>A new API key: 32 random bytes, base64url, prefixed so that it is recognised when it leaks.</summary>
    public static string NewApiKey() => "sdp_" + Convert.ToBase64String(RandomNumberGenerator.GetBytes(32)).TrimEnd('=').Replace('+', '-').Replace('/', '_');

    public static string HashKey(string apiKey) => Convert.ToHexString(SHA256.HashData(Encoding.UTF8.GetBytes(apiKey)));

    /// <summary>A certificate thumbprint as stored and compared: hex, upper case, without colons.</summary>
    public static string Thumbprint(string thumbprint) => thumbprint.Replace(":", "", StringComparison.Ordinal).ToUpperInvariant();

    /// <summary>The identifiers these registrations would share with another lab (a facility id is one lab's only: a
    /// lab that could send as another's facility could submit as that lab), as (index, facility id, the owning lab).</summary>
    public static List<LabConflict> Conflicts(IEnumerable<Lab> registered, IReadOnlyList<LabRegistration> labs)
    {
        var owner = new Dictionary<string, string>(StringComparer.OrdinalIgnoreCase);
        foreach (Lab existing in registered)
        {
            if (labs.Any(l => string.Equals(l.Finess, existing.Finess, StringComparison.OrdinalIgnoreCase)))
            {
                continue; // registered again: its old lists are replaced
            }
            owner.TryAdd(existing.Finess, existing.Finess);
            foreach (string facility in existing.FacilityIds)
            {
                owner.TryAdd(facility, existing.Finess);
            }
        }
        foreach (LabRegistration lab in labs)
        {
            owner.TryAdd(lab.Finess, lab.Finess);
        }
        var conflicts = new List<LabConflict>();
        for (int i = 0; i < labs.Count; i++)
        {
            foreach (string facility in labs[i].FacilityIds.Distinct(StringComparer.OrdinalIgnoreCase))
            {
                if (owner.TryGetValue(facility, out string? lab) && !string.Equals(lab, labs[i].Finess, StringComparison.OrdinalIgnoreCase))
                {
                    conflicts.Add(new LabConflict(i, facility, lab));
                }
                else
                {
                    owner[facility] = labs[i].Finess;
                }
            }
        }
        return conflicts;
    }
}

public static class LabRegisterExtensions
{
    /// <summary>Registers one lab and returns its API key, shown once.</summary>
    public static string AddLab(this ILabRegister register, string finess, string name, IEnumerable<string> facilityIds, IEnumerable<string> mllpSources,
        IEnumerable<string>? mllpCertificates = null) =>
        register.AddLabs([LabRules.Registration(finess, name, facilityIds, mllpSources, mllpCertificates)])[0];
}
