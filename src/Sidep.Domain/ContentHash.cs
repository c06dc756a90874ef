using System.Buffers.Binary;
using System.Globalization;
using System.Security.Cryptography;
using System.Text;

namespace Sidep.Domain;

/// <summary>
/// The content hash of a result (ARCHITECTURE.md decision 4): SHA-256 over every field of the canonical
/// result, each written as a tagged, length-prefixed value, so the hash depends on content alone —
/// not on serialiser settings or property order. Same key and same hash: a duplicate; same key, new hash: a new version.
/// </summary>
public static class ContentHash
{
    public static byte[] Of(LabResult r)
    {
        using var h = IncrementalHash.CreateHash(HashAlgorithmName.SHA256);
        var w = new Writer(h);
        w.Add(r.LabId).Add(r.AccessionId).Add(r.SpecimenId);
        w.Add(r.AnalysisAsSent).Add(r.Loinc).Add(r.Method);
        w.Add((int)r.Value.Interpretation).Add(r.Value.Raw).Add(r.Value.Code).Add(r.Value.CodeSystem);
        w.Add(r.Units).Add(r.AbnormalFlag).Add(r.SpecimenType).Add(r.SampledAt).Add(r.ResultedAt).Add((int)r.Status);
        PatientIdentity p = r.Patient;
        w.Add(p.Ins?.Matricule).Add(p.Ins?.Oid).Add((int)p.IdentityStatus).Add(p.LocalId).Add(p.BirthName).Add(p.UsedName);
        w.Add(p.GivenNames.Count);
        foreach (string g in p.GivenNames)
        {
            w.Add(g);
        }
        w.Add(p.BirthDate?.ToString()).Add((int)p.Sex).Add(p.BirthplaceCode);
        w.Add(p.Address?.Line).Add(p.Address?.City).Add(p.Address?.PostalCode).Add(p.Address?.CommuneCode).Add(p.Address?.Country);
        w.Add(p.Phone).Add(p.Email);
        w.Add(r.Prescriber?.Id).Add(r.Prescriber?.IdAuthority).Add(r.Prescriber?.FamilyName).Add(r.Prescriber?.GivenName);
        PatientContext c = r.Context;
        w.Add(c.Symptomatic).Add(c.SymptomOnset?.ToString("O", CultureInfo.InvariantCulture)).Add((int)c.Housing)
         .Add(c.HealthCareWorker).Add(c.FirstTest).Add(c.Pregnant).Add(c.Hospitalised);
        w.Add(r.Comment);
        return h.GetHashAndReset();
    }

    private readonly struct Writer(IncrementalHash hash)
    {
        public Writer Add(string? value)
        {
            Span<byte> head = stackalloc byte[5];
            if (value is null)
            {
                head[0] = 0;
                hash.AppendData(head[..1]);
                return this;
            }
            byte[] bytes = Encoding.UTF8.GetBytes(value);
            head[0] = 1;
            BinaryPrimitives.WriteInt32LittleEndian(head[1..], bytes.Length);
            hash.AppendData(head);
            hash.AppendData(bytes);
            return this;
        }

        public Writer Add(int value) => Add(value.ToString(CultureInfo.InvariantCulture));

        public Writer Add(bool? value) => Add(value is null ? null : value.Value ? "1" : "0");

        public Writer Add(CodedValue? value) => value is null ? Add((string?)null) : Add(value.Code).Add(value.Display).Add(value.System);

        public Writer Add(Timestamp? value) => value is null
            ? Add((string?)null)
            : Add(value.Value.Value.ToString("O", CultureInfo.InvariantCulture)).Add((int)value.Value.Precision).Add(value.Value.TimeZoneGiven);
    }
}
