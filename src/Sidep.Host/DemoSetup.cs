using Sidep.Gateway;
using Sidep.Pipeline;
using Sidep.Storage.Sqlite;

namespace Sidep.Host;

/// <summary>
/// <c>serve --demo</c>: the demo lab, an operator token and an agents' signing key that stay the same across restarts of
/// one data directory (kept in its <c>secrets/</c>, readable by Sidep's user only), and the banner that says how to use
/// them — every command printed runs as printed (through the repository's <c>./sidep</c>, no second build).
/// </summary>
internal static class DemoSetup
{
    public const string Finess = "990000001";
    public const string Facility = "SIDEP-DEMO";

    /// <summary>The demo's operator token and agent key: those given, else those kept in the data directory, else new
    /// ones, kept there.</summary>
    public static GatewayOptions WithSecrets(GatewayOptions options) => options with
    {
        OperatorToken = options.OperatorToken ?? Kept(options.DataDirectory, "demo-operator-token", 16),
        AgentSigningKey = options.AgentSigningKey ?? Kept(options.DataDirectory, "demo-agent-key", 32),
    };

    /// <summary>The demo lab's API key: the one kept, while it still opens the demo lab; else the lab is registered
    /// (again) and its new key kept.</summary>
    public static string LabKey(ILabRegister store, string dataDirectory)
    {
        string path = SecretPath(dataDirectory, "demo-lab-key");
        if (File.Exists(path) && File.ReadAllText(path).Trim() is { Length: > 0 } kept && store.FindLabByApiKey(kept)?.Finess == Finess)
        {
            return kept;
        }
        string key = store.AddLab(Finess, "Laboratoire de démonstration", [Facility], ["127.0.0.1"]);
        Write(path, key);
        return key;
    }

    public static void PrintBanner(string url, string labKey, GatewayOptions options)
    {
        string investigator = AgentTokens.Mint(options.AgentSigningKey!, "demo-investigator", AgentRoles.Investigator, ["69"], TimeSpan.FromHours(12), options.AgentIssuer);
        Console.WriteLine($"  Demo lab {Finess} registered; its API key: {labKey}");
        Console.WriteLine("  Send it a result (over HTTP, then over MLLP with Debian's python3-hl7):");
        Console.WriteLine($"    ./sidep send --server {url} --api-key {labKey} examples/demo-oru-r01.hl7");
        Console.WriteLine($"    curl -s -H 'Authorization: Bearer {labKey}' -H 'Content-Type: application/hl7-v2' --data-binary @examples/demo-oru-r01.hl7 {url}/v1/submissions");
        if (options.MllpPort > 0)
        {
            Console.WriteLine($"    mllp_send --loose --port {options.MllpPort} --file examples/demo-oru-r01.hl7 {options.MllpAddress}");
        }
        Console.WriteLine($"  Operator token (identity decisions, indicators): {options.OperatorToken}");
        Console.WriteLine($"  The console (indicators, map, labs' health, operations; sign in with the operator token): {url}/console/");
        Console.WriteLine($"  The API's reference: {url}/docs (OpenAPI document: {url}/openapi/v1.json)");
        Console.WriteLine("  Read the daily indicators:");
        Console.WriteLine($"    curl -s -H 'X-Operator-Token: {options.OperatorToken}' {url}/v1/indicators/fra/daily.csv");
        Console.WriteLine("  A contact tracer of the Rhône (69) reads its cases (token valid 12 h):");
        Console.WriteLine($"    curl -s -H 'Authorization: Bearer {investigator}' {url}/v1/cases");
        Console.WriteLine("  Mint other agents' tokens with the demo's agent key:");
        Console.WriteLine($"    ./sidep agents token --key {options.AgentSigningKey} --agent a.martin --role investigator --territory 75");
        Console.WriteLine($"  (The keys and tokens stay the same at the next start on {Path.GetFullPath(options.DataDirectory)}; delete it to start afresh.)");
    }

    private static string Kept(string dataDirectory, string name, int bytes)
    {
        string path = SecretPath(dataDirectory, name);
        if (File.Exists(path) && File.ReadAllText(path).Trim() is { Length: > 0 } kept)
        {
            return kept;
        }
        string secret = Convert.ToHexString(System.Security.Cryptography.RandomNumberGenerator.GetBytes(bytes)).ToLowerInvariant();
        Write(path, secret);
        return secret;
    }

    private static string SecretPath(string dataDirectory, string name)
    {
        string secrets = Path.Combine(dataDirectory, "secrets");
        DataDirectory.CreateOwnerOnly(secrets);
        return Path.Combine(secrets, name);
    }

    private static void Write(string path, string secret)
    {
        File.WriteAllText(path, secret + "\n");
        if (!OperatingSystem.IsWindows())
        {
            File.SetUnixFileMode(path, UnixFileMode.UserRead | UnixFileMode.UserWrite);
        }
    }
}
