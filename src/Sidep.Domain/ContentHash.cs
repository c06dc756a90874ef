using System.Buffers;
using System.Buffers.Binary;
using System.Globalization;
using System.Security.Cryptography;
using System.Text;

namespace Sidep.Domain;

/// <summary>
/// The content hash of a result (ARCHITECTURE.md decision 4): SHA-256 over every field of the canonical
/// result, each written as a tagged, length-prefixed value, so the hash depends on content alone —
/// not on serialiser settings or property order. Same key and same hash: a duplicate; same key, new hash: a new version.
/// The bytes are laid out in a pooled buffer and hashed in one call (hashes are stored in the journal: the layout is
/// pinned by a test, so a result resent after an upgrade stays a duplicate).
/// </summary>
public static class ContentHash
{
    public static byte[] Of(LabResult r)
    {
        var w = new Writer(ArrayPool<byte>.Shared.Rent(1024));
        try
        {
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
            w.Add(c.Symptomatic).Add(c.SymptomOnset).Add((int)c.Housing)
             .Add(c.HealthCareWorker).Add(c.FirstTest).Add(c.Pregnant).Add(c.Hospitalised);
            w.Add(r.Comment);
            // Fields added since hashes were first stored count only when set: the hash of a result that does not use
            // them is what it always was.
            if (r.SampleDateBasis != SampleDateBasis.Collection)
            {
                w.Add("sampleDateBasis").Add((int)r.SampleDateBasis);
            }
            return SHA256.HashData(w.Written);
        }
        finally
        {
            ArrayPool<byte>.Shared.Return(w.Buffer);
        }
    }

    /// <summary>Appends tagged values: null is [0]; a value is [1][its UTF-8 length, int32 little-endian][its UTF-8 bytes];
    /// numbers, booleans and dates as their invariant text.</summary>
    private sealed class Writer(byte[] buffer)
    {
        private int _length;

        private byte[] _buffer = buffer;

        public byte[] Buffer => _buffer;

        public ReadOnlySpan<byte> Written => Buffer.AsSpan(0, _length);

        public Writer Add(string? value)
        {
            if (value is null)
            {
                Room(1)[0] = 0;
                _length++;
                return this;
            }
            Span<byte> room = Room(5 + Encoding.UTF8.GetMaxByteCount(value.Length));
            int n = Encoding.UTF8.GetBytes(value, room[5..]);
            room[0] = 1;
            BinaryPrimitives.WriteInt32LittleEndian(room[1..], n);
            _length += 5 + n;
            return this;
        }

        public Writer Add(int value)
        {
            Span<byte> room = Room(5 + 11);
            value.TryFormat(room[5..], out int n, default, CultureInfo.InvariantCulture);
            return Tagged(room, n);
        }

        public Writer Add(bool? value) => Add(value is null ? null : value.Value ? "1" : "0");

        public Writer Add(CodedValue? value) => value is null ? Add((string?)null) : Add(value.Code).Add(value.Display).Add(value.System);

        public Writer Add(DateOnly? value)
        {
            if (value is null)
            {
                return Add((string?)null);
            }
            Span<byte> room = Room(5 + 10);
            value.Value.TryFormat(room[5..], out int n, "O", CultureInfo.InvariantCulture);
            return Tagged(room, n);
        }

        public Writer Add(Timestamp? value)
        {
            if (value is null)
            {
                return Add((string?)null);
            }
            Span<byte> room = Room(5 + 33);
            value.Value.Value.TryFormat(room[5..], out int n, "O", CultureInfo.InvariantCulture);
            return Tagged(room, n).Add((int)value.Value.Precision).Add(value.Value.TimeZoneGiven);
        }

        private Writer Tagged(Span<byte> room, int n)
        {
            room[0] = 1;
            BinaryPrimitives.WriteInt32LittleEndian(room[1..], n);
            _length += 5 + n;
            return this;
        }

        private Span<byte> Room(int bytes)
        {
            PooledBuffers.Grow(ref _buffer, _length, _length + bytes);
            return _buffer.AsSpan(_length, bytes);
        }
    }
}
