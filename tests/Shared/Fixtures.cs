namespace Sidep.Tests;

/// <summary>Where the real-world fixtures are: ../shared/corpus beside the repository.</summary>
public static class Fixtures
{
    public static string RepoRoot { get; } = FindRoot();

    public static string Shared => Path.GetFullPath(Path.Combine(RepoRoot, "..", "shared"));

    public static string Hl7Dir => Path.Combine(Shared, "corpus", "hl7v2");

    /// <summary>The reference tables (LOINC value sets, populations, names): ../shared/reference.</summary>
    public static string ReferenceDirectory => Path.Combine(Shared, "reference");

    public static string Hl7(string name) => Path.Combine(Hl7Dir, name);

    public static byte[] Hl7Bytes(string name) => File.ReadAllBytes(Hl7(name));

    public static IEnumerable<string> Hl7Files => Directory.GetFiles(Hl7Dir, "*.hl7").OrderBy(f => f, StringComparer.Ordinal);

    public static string HprimDir => Path.Combine(Shared, "corpus", "hprim");

    public static byte[] HprimBytes(string name) => File.ReadAllBytes(Path.Combine(HprimDir, name));

    public static string FhirDir => Path.Combine(Shared, "corpus", "fhir");

    public static byte[] FhirBytes(string name) => File.ReadAllBytes(Path.Combine(FhirDir, name));

    public static IEnumerable<string> HprimFiles => Directory.GetFiles(HprimDir, "*.hpr").OrderBy(f => f, StringComparer.Ordinal);

    private static string FindRoot()
    {
        string? dir = AppContext.BaseDirectory;
        while (dir is not null && !File.Exists(Path.Combine(dir, "Sidep.sln")))
        {
            dir = Path.GetDirectoryName(dir);
        }
        return dir ?? throw new InvalidOperationException("Sidep.sln not found above " + AppContext.BaseDirectory);
    }
}
