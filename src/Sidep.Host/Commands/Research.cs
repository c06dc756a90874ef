namespace Sidep.Host;

/// <summary>`sidep research`: k-anonymous extracts of the research sink.</summary>
public static partial class Cli
{
    private static Command Research()
    {
        Option<string> dataDir = DataDirOption();
        var output = new Option<DirectoryInfo>("--out") { Required = true, Description = "Directory to write the extract and its manifest to" };
        var from = new Option<string?>("--from") { Description = "First sample day, YYYY-MM-DD" };
        var to = new Option<string?>("--to") { Description = "Last sample day, YYYY-MM-DD" };
        var k = new Option<int>("--k") { Description = "Smallest group allowed over (age class, sex, territory, sample week)", DefaultValueFactory = _ => 5 };
        var export = new Command("export", "Write a k-anonymous research extract (Parquet + manifest) from the research partitions") { dataDir, output, from, to, k };
        export.SetAction(async (parse, ct) =>
        {
            DateOnly? first = null, last = null;
            foreach ((Option<string?> option, Action<DateOnly> set) in new (Option<string?>, Action<DateOnly>)[] { (from, d => first = d), (to, d => last = d) })
            {
                if (parse.GetValue(option) is string text)
                {
                    if (!DateOnly.TryParseExact(text, "yyyy-MM-dd", System.Globalization.CultureInfo.InvariantCulture, System.Globalization.DateTimeStyles.None, out DateOnly d))
                    {
                        Console.Error.WriteLine($"{option.Name} '{text}' is not a date YYYY-MM-DD");
                        return 2;
                    }
                    set(d);
                }
            }
            try
            {
                ResearchExtractManifest manifest = await ResearchExtract.CreateAsync(Path.Combine(parse.GetValue(dataDir)!, "research"), parse.GetValue(output)!.FullName,
                    first, last, Math.Max(1, parse.GetValue(k)), cancellationToken: ct);
                Console.WriteLine($"{Path.Combine(parse.GetValue(output)!.FullName, manifest.File)}: {manifest.Rows} rows of {manifest.SourceRows}; " +
                    $"smallest group {manifest.SmallestGroup} over {manifest.QuasiIdentifiers}" +
                    (manifest.Generalised ? $" (generalised: the recorded detail gave a group of {manifest.SmallestGroupAsRecorded}; {manifest.SuppressedRows} rows suppressed)" : ""));
                return 0;
            }
            catch (InvalidOperationException ex)
            {
                Console.Error.WriteLine(ex.Message);
                return 2;
            }
        });
        return new Command("research", "The pseudonymised research sink") { export };
    }
}
