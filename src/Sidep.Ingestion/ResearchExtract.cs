using System.Globalization;
using System.Text.Json;
using Sidep.Indicators;

namespace Sidep.Ingestion;

/// <summary>A row of a research extract: a research row whose quasi-identifiers may have been generalised.</summary>
public sealed class ExtractRow
{
    public string Pseudonym { get; set; } = "";
    /// <summary>"30-34" (five years), or "30-39" when generalised; "" when unknown.</summary>
    public string AgeClass { get; set; } = "";
    public string Sex { get; set; } = "";
    /// <summary>Null when generalised to the région.</summary>
    public string? Departement { get; set; }
    public string? Region { get; set; }
    /// <summary>Null when generalised.</summary>
    public string? Commune { get; set; }
    public string SampleDate { get; set; } = "";
    public string SampleWeek { get; set; } = "";
    public string? ResultDate { get; set; }
    public string? Loinc { get; set; }
    public string? Method { get; set; }
    public string Result { get; set; } = "";
    public string? LabDepartement { get; set; }
    public bool? Symptomatic { get; set; }
    public int? DaysFromOnset { get; set; }
    public string Housing { get; set; } = "";
    public bool? HealthCareWorker { get; set; }
}

/// <summary>What an extract holds and what was done to make it k-anonymous.</summary>
public sealed record ResearchExtractManifest(string From, string To, int K, string KeyId, int SourceRows, int Rows, int SmallestGroupAsRecorded,
    bool Generalised, int SuppressedRows, int SmallestGroup, string QuasiIdentifiers, string File, string Sha256, DateTimeOffset WrittenAt);

/// <summary>
/// A research extract over a range of sample dates, k-anonymous over (age class, sex, territory, sample week): its
/// smallest group is reported; below k, the extract is generalised (ten-year age classes, région instead of
/// département, no commune) and, if groups are still below k, their rows are suppressed — all said in the manifest.
/// </summary>
public static class ResearchExtract
{
    public static async Task<ResearchExtractManifest> CreateAsync(string researchDirectory, string outputDirectory, DateOnly? from, DateOnly? to, int k,
        TimeProvider? time = null, CancellationToken cancellationToken = default)
    {
        ResearchManifest source = ResearchSink.ReadManifest(researchDirectory)
            ?? throw new InvalidOperationException($"no research partitions in {researchDirectory} (manifest.json is missing)");
        var rows = new List<ResearchRow>();
        foreach ((string date, ResearchPartition partition) in source.Partitions.OrderBy(p => p.Key, StringComparer.Ordinal))
        {
            var day = DateOnly.ParseExact(date, "yyyy-MM-dd", CultureInfo.InvariantCulture);
            if (day < (from ?? DateOnly.MinValue) || day > (to ?? DateOnly.MaxValue))
            {
                continue;
            }
            await using FileStream file = File.OpenRead(Path.Combine(researchDirectory, partition.File));
            rows.AddRange((await Parquet.Serialization.ParquetSerializer.DeserializeAsync<ResearchRow>(file, cancellationToken: cancellationToken).ConfigureAwait(false)).Data);
        }
        List<ExtractRow> extract = [.. rows.Select(r => Detailed(r))];
        int smallestAsRecorded = Smallest(extract);
        bool generalised = false;
        int suppressed = 0;
        if (extract.Count > 0 && smallestAsRecorded < k)
        {
            generalised = true;
            extract = [.. rows.Select(r => Generalised(r))];
            var small = extract.GroupBy(Group).Where(g => g.Count() < k).SelectMany(g => g).ToHashSet();
            suppressed = small.Count;
            extract.RemoveAll(small.Contains);
        }
        Directory.CreateDirectory(outputDirectory);
        string fileName = $"extract_{from?.ToString("yyyy-MM-dd", CultureInfo.InvariantCulture) ?? "start"}_{to?.ToString("yyyy-MM-dd", CultureInfo.InvariantCulture) ?? "end"}.parquet";
        string path = Path.Combine(outputDirectory, fileName);
        string temporary = path + ".tmp";
        await using (var output = new FileStream(temporary, FileMode.Create, FileAccess.Write, FileShare.None))
        {
            await Parquet.Serialization.ParquetSerializer.SerializeAsync(extract, output, cancellationToken: cancellationToken).ConfigureAwait(false);
            output.Flush(flushToDisk: true);
        }
        string sha;
        await using (FileStream written = File.OpenRead(temporary))
        {
            sha = Convert.ToHexStringLower(await System.Security.Cryptography.SHA256.HashDataAsync(written, cancellationToken).ConfigureAwait(false));
        }
        File.Move(temporary, path, overwrite: true);
        var manifest = new ResearchExtractManifest(from?.ToString("yyyy-MM-dd", CultureInfo.InvariantCulture) ?? "", to?.ToString("yyyy-MM-dd", CultureInfo.InvariantCulture) ?? "",
            k, source.KeyId, rows.Count, extract.Count, smallestAsRecorded, generalised, suppressed, Smallest(extract),
            generalised ? "10-year age class, sex, région, sample week" : "5-year age class, sex, département, sample week", fileName, sha,
            (time ?? TimeProvider.System).GetUtcNow());
        await File.WriteAllBytesAsync(Path.Combine(outputDirectory, "manifest.json"), JsonSerializer.SerializeToUtf8Bytes(manifest, ResearchJson.Default.ResearchExtractManifest),
            cancellationToken).ConfigureAwait(false);
        return manifest;
    }

    private static (string, string, string?, string?, string) Group(ExtractRow r) => (r.AgeClass, r.Sex, r.Departement, r.Region, r.SampleWeek);

    private static int Smallest(List<ExtractRow> rows) => rows.Count == 0 ? 0 : rows.GroupBy(Group).Min(g => g.Count());

    private static ExtractRow Detailed(ResearchRow r) => Row(r, width: 5, generalise: false);

    private static ExtractRow Generalised(ResearchRow r) => Row(r, width: 10, generalise: true);

    private static ExtractRow Row(ResearchRow r, int width, bool generalise)
    {
        Geography g = Geography.France;
        int dep = r.Departement is null ? -1 : g.DepartementIndex(r.Departement);
        string? region = dep >= 0 && g.RegionOfDepartement[dep] >= 0 ? g.Regions[g.RegionOfDepartement[dep]] : null;
        var day = DateOnly.ParseExact(r.SampleDate, "yyyy-MM-dd", CultureInfo.InvariantCulture);
        DateTime dt = day.ToDateTime(TimeOnly.MinValue);
        return new ExtractRow
        {
            Pseudonym = r.Pseudonym,
            AgeClass = r.AgeYears is int a ? $"{a / width * width}-{a / width * width + width - 1}" : "",
            Sex = r.Sex,
            Departement = generalise ? null : r.Departement,
            Region = region,
            Commune = generalise ? null : r.Commune,
            SampleDate = r.SampleDate,
            SampleWeek = $"{ISOWeek.GetYear(dt)}-W{ISOWeek.GetWeekOfYear(dt):D2}",
            ResultDate = r.ResultDate,
            Loinc = r.Loinc,
            Method = r.Method,
            Result = r.Result,
            LabDepartement = generalise ? null : r.LabDepartement,
            Symptomatic = r.Symptomatic,
            DaysFromOnset = r.DaysFromOnset,
            Housing = r.Housing,
            HealthCareWorker = r.HealthCareWorker,
        };
    }
}
