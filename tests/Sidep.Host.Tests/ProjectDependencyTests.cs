using System.Xml.Linq;
using Sidep.Tests;

namespace Sidep.Host.Tests;

/// <summary>
/// The dependency rule (ARCHITECTURE.md decision 9), read from the project files: contracts belong to no store;
/// stores and transports depend on the contracts, never on each other; only the host composes them.
/// </summary>
public class ProjectDependencyTests
{
    private static readonly string[] s_backends = ["Sidep.Journal", "Sidep.Storage.Sqlite", "Sidep.Storage.Postgres", "Sidep.Transport.Kafka"];

    private static Dictionary<string, string[]> References()
    {
        string root = Fixtures.RepoRoot;
        return Directory.EnumerateFiles(Path.Combine(root, "src"), "*.csproj", SearchOption.AllDirectories)
            .Concat(Directory.EnumerateFiles(Path.Combine(root, "parsers"), "*.csproj", SearchOption.AllDirectories))
            .Where(p => !p.Contains($"{Path.DirectorySeparatorChar}bin{Path.DirectorySeparatorChar}", StringComparison.Ordinal)
                && !p.Contains($"{Path.DirectorySeparatorChar}obj{Path.DirectorySeparatorChar}", StringComparison.Ordinal))
            .ToDictionary(p => Path.GetFileNameWithoutExtension(p), p => XDocument.Load(p).Descendants("ProjectReference")
                .Select(r => Path.GetFileNameWithoutExtension(r.Attribute("Include")!.Value.Replace('\\', '/'))).Order(StringComparer.Ordinal).ToArray());
    }

    [Fact]
    public void The_domain_and_the_contracts_depend_on_no_store_and_no_transport()
    {
        Dictionary<string, string[]> refs = References();
        Assert.Empty(refs["Sidep.Domain"]);
        Assert.Equal(["Sidep.Domain"], refs["Sidep.Pipeline"]);
        foreach ((string project, string[] to) in refs.Where(r => r.Key.StartsWith("Sidep.Parsing", StringComparison.Ordinal)))
        {
            Assert.All(to, t => Assert.True(t is "Sidep.Domain" || t.StartsWith("Sidep.Parsing", StringComparison.Ordinal), $"{project} → {t}"));
        }
    }

    [Fact]
    public void Stores_and_transports_depend_on_the_contracts_only_never_on_each_other()
    {
        Dictionary<string, string[]> refs = References();
        foreach (string backend in s_backends)
        {
            Assert.Equal(["Sidep.Pipeline"], refs[backend]);
        }
    }

    [Fact]
    public void Only_the_host_composes_the_backends()
    {
        Dictionary<string, string[]> refs = References();
        var found = new List<(string, string)>();
        foreach ((string project, string[] to) in refs.Where(r => r.Key != "Sidep.Host"))
        {
            found.AddRange(to.Where(s_backends.Contains).Select(t => (project, t)));
        }
        Assert.Empty(found);
    }

    [Fact]
    public void The_gateway_depends_on_the_contracts_and_the_stages_never_on_a_store()
    {
        Dictionary<string, string[]> refs = References();
        Assert.Equal(["Sidep.Ingestion", "Sidep.ServiceDefaults"], refs["Sidep.Gateway"]);
        Assert.DoesNotContain(Closure(refs, "Sidep.Gateway"), s_backends.Contains);
    }

    /// <summary>Every project a project depends on, directly or not.</summary>
    private static HashSet<string> Closure(Dictionary<string, string[]> refs, string project)
    {
        var seen = new HashSet<string>(StringComparer.Ordinal);
        var next = new Stack<string>(refs[project]);
        while (next.TryPop(out string? p))
        {
            if (seen.Add(p) && refs.TryGetValue(p, out string[]? more))
            {
                foreach (string m in more)
                {
                    next.Push(m);
                }
            }
        }
        return seen;
    }

    [Fact]
    public void Each_stage_depends_on_the_store_contract_of_its_role_only()
    {
        (Type Stage, Type Role)[] stages =
        [
            (typeof(Sidep.Ingestion.IdentityStage), typeof(Sidep.Pipeline.IIdentityStore)),
            (typeof(Sidep.Ingestion.IndicatorStage), typeof(Sidep.Pipeline.IIndicatorStore)),
            (typeof(Sidep.Ingestion.FanOutStage), typeof(Sidep.Pipeline.ICaseStore)),
            (typeof(Sidep.Ingestion.ResearchStage), typeof(Sidep.Pipeline.IResearchStore)),
        ];
        foreach ((Type stage, Type role) in stages)
        {
            Type[] stores = [.. stage.GetConstructors().Single().GetParameters().Select(p => p.ParameterType)
                .Where(t => typeof(Sidep.Pipeline.IStagePositions).IsAssignableFrom(t))];
            Assert.Equal([role], stores);
        }
    }
}
