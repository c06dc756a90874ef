using Npgsql;
using Sidep.Domain;
using Sidep.Pipeline;

namespace Sidep.Storage.Postgres;

/// <summary>The lab register and the transcoding tables (distributed mode): one for every gateway.</summary>
public sealed partial class PostgresStore
{
    public List<string> AddLabs(IReadOnlyList<LabRegistration> labs) => InTransaction((c, tx) =>
    {
        // Registrations take turns: the conflict check and the inserts see the same register.
        using (NpgsqlCommand exclusive = Command(c, tx, "LOCK TABLE labs IN EXCLUSIVE MODE"))
        {
            exclusive.ExecuteNonQuery();
        }
        if (LabRules.Conflicts(Labs(c, tx, "", null), labs) is [_, ..] conflicts)
        {
            throw new LabConflictException(conflicts);
        }
        var keys = new List<string>(labs.Count);
        foreach (LabRegistration lab in labs)
        {
            string apiKey = LabRules.NewApiKey();
            using NpgsqlCommand upsert = Command(c, tx, """
                INSERT INTO labs (finess, name, api_key_hash, facility_ids, mllp_sources, mllp_certs) VALUES ($1, $2, $3, $4, $5, $6)
                ON CONFLICT (finess) DO UPDATE SET name = excluded.name, api_key_hash = excluded.api_key_hash,
                    facility_ids = excluded.facility_ids, mllp_sources = excluded.mllp_sources, mllp_certs = excluded.mllp_certs
                """, lab.Finess, lab.Name, LabRules.HashKey(apiKey), lab.FacilityIds.ToArray(), lab.MllpSources.ToArray(),
                lab.MllpCertificates.Select(LabRules.Thumbprint).ToArray());
            upsert.ExecuteNonQuery();
            keys.Add(apiKey);
        }
        return keys;
    });

    public Lab? FindLabByApiKey(string apiKey) => LabsWhere("WHERE api_key_hash = $1", LabRules.HashKey(apiKey)).FirstOrDefault();

    public Lab? FindLab(string finess) => LabsWhere("WHERE finess = $1", finess).FirstOrDefault();

    public List<Lab> ListLabs() => LabsWhere("", null);

    public Lab? FindLabByMllpSource(string address) => LabsWhere("WHERE mllp_sources @> ARRAY[$1]", address).FirstOrDefault();

    public Lab? FindLabByCertificate(string thumbprint) => LabsWhere("WHERE mllp_certs @> ARRAY[$1]", LabRules.Thumbprint(thumbprint)).FirstOrDefault();

    private List<Lab> LabsWhere(string where, string? value) => Retrying(() =>
    {
        using NpgsqlConnection c = _source.OpenConnection();
        return Labs(c, null, where, value);
    });

    private static List<Lab> Labs(NpgsqlConnection c, NpgsqlTransaction? tx, string where, string? value)
    {
        using NpgsqlCommand cmd = Command(c, tx, $"SELECT finess, name, facility_ids, mllp_sources, mllp_certs FROM labs {where} ORDER BY finess", value is null ? [] : [value]);
        using NpgsqlDataReader r = cmd.ExecuteReader();
        var labs = new List<Lab>();
        while (r.Read())
        {
            labs.Add(new Lab(r.GetString(0), r.GetString(1), r.GetFieldValue<string[]>(2), r.GetFieldValue<string[]>(3)) { MllpCertificates = r.GetFieldValue<string[]>(4) });
        }
        return labs;
    }

    public (int Added, int Updated) UpsertTranscoding(string lab, IReadOnlyList<TranscodingRow> rows) => InTransaction((c, tx) =>
    {
        // Writers take turns, so that marks become visible in their order (a follower never skips one).
        using (NpgsqlCommand exclusive = Command(c, tx, "LOCK TABLE transcoding IN EXCLUSIVE MODE"))
        {
            exclusive.ExecuteNonQuery();
        }
        int added = 0, updated = 0;
        foreach (TranscodingRow row in rows)
        {
            using NpgsqlCommand find = Command(c, tx, "SELECT loinc FROM transcoding WHERE lab = $1 AND local_code = $2", lab, row.LocalCode);
            object? existing = find.ExecuteScalar();
            if (existing is null)
            {
                added++;
            }
            else if ((string)existing != row.Loinc)
            {
                updated++;
            }
            using NpgsqlCommand upsert = Command(c, tx, """
                INSERT INTO transcoding (lab, local_code, loinc, label) VALUES ($1, $2, $3, $4)
                ON CONFLICT (lab, local_code) DO UPDATE SET loinc = excluded.loinc, label = excluded.label, updated_at = now(), mark = nextval('transcoding_mark')
                """, lab, row.LocalCode, row.Loinc, row.Label);
            upsert.ExecuteNonQuery();
        }
        return (added, updated);
    });

    public List<(string Lab, TranscodingRow Row)> ListTranscoding(string? lab = null) =>
        [.. Transcoding(lab is null ? "ORDER BY lab, local_code" : "WHERE lab = $1 ORDER BY lab, local_code", lab).Select(t => (t.Lab, t.Row))];

    public List<TranscodingChange> TranscodingChangedAfter(long mark) => Transcoding("WHERE mark > $1 ORDER BY mark", mark);

    private List<TranscodingChange> Transcoding(string where, object? value) =>
        Query($"SELECT lab, local_code, loinc, label, mark FROM transcoding {where}",
            r => new TranscodingChange(r.GetInt64(4), r.GetString(0), new TranscodingRow(r.GetString(1), r.GetString(2), r.IsDBNull(3) ? null : r.GetString(3))),
            value is null ? [] : [value]);
}
