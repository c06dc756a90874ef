using Sidep.Ingestion;

namespace Sidep.Gateway;

/// <summary>Gateway settings.</summary>
/// <param name="DataDirectory">Where the journal and the database live.</param>
/// <param name="MaxBodyBytes">Largest HTTP submission accepted; default 64 MiB (a 413 states it).</param>
/// <param name="MllpPort">MLLP/TCP port; 0 picks a free one, negative disables MLLP. Default 2575.</param>
/// <param name="MllpMaxFrameBytes">Largest MLLP frame; default 16 MiB.</param>
/// <param name="MllpFrameTimeout">How long a started frame may take to complete (slowloris guard); default 30 s.</param>
/// <param name="MllpIdleTimeout">How long a connection may stay silent; default 5 min.</param>
/// <param name="Partitions">Partitions of the embedded log; default 8.</param>
/// <param name="Production">Production mode: test and demo INS OIDs are refused.</param>
/// <param name="MllpCertificate">Server certificate (with its private key) for MLLP over TLS. When set, every MLLP
/// connection must be TLS with a client certificate, and the lab is the one that registered that certificate's
/// SHA-256 thumbprint; when null, MLLP is plain TCP and the lab is identified by its source address.</param>
/// <param name="OperatorToken">Token of the restricted operator role (identity decisions); none: those endpoints are off.</param>
/// <param name="AgentSigningKey">The secret (at least 32 bytes) that signs agents' bearer tokens (JWT, HS256); none: the
/// contact-tracing, audit and notification endpoints are off.</param>
/// <param name="AgentIssuer">The issuer agents' tokens must carry.</param>
/// <param name="MaxLag">Backpressure: when a stage is this many results behind its input, HTTP submissions get 503 with
/// Retry-After and MLLP acknowledgements wait; default 500,000 (a few minutes of a peak day).</param>
/// <param name="RunStages">Whether the pipeline's stages run (tests of backpressure stop them); default true.</param>
/// <param name="JournalSegmentBytes">The embedded journal rolls to a new segment file past this size; default 256 MiB.</param>
/// <param name="MllpMaxConnections">MLLP connections served at once; past it a new one is closed at once. Default 2,000.</param>
/// <param name="MllpMaxConnectionsPerSource">MLLP connections served at once from one source address; default 64.</param>
/// <param name="MllpHonourAckTypes">MLLP answers as MSH-15/16 ask (NE: none; enhanced mode: a commit ACK and the
/// application ACK); default false: every message is answered once, whatever they say.</param>
/// <param name="PriorPositivePerMinute">Prior-positive questions an agent may ask a minute; default 30.</param>
/// <param name="MllpAccept">How the MLLP listener accepts a connection (tests inject accept() failures here); default the socket's own.</param>
/// <param name="JournalFileSystem">The file system under the embedded journal (tests inject faults there); default the OS's.</param>
/// <param name="ResearchKeys">The research sink's pseudonymisation keys, "k1=secret;k2=secret" (the last is current);
/// none: a random key is made once and kept in the data directory (secrets/research-keys).</param>
public sealed record GatewayOptions(
    string DataDirectory,
    long MaxBodyBytes = 64L * 1024 * 1024,
    int MllpPort = 2575,
    string MllpAddress = "127.0.0.1",
    int MllpMaxFrameBytes = 16 * 1024 * 1024,
    TimeSpan? MllpFrameTimeout = null,
    TimeSpan? MllpIdleTimeout = null,
    int Partitions = 8,
    bool Production = false,
    System.Security.Cryptography.X509Certificates.X509Certificate2? MllpCertificate = null,
    string? OperatorToken = null,
    string? AgentSigningKey = null,
    string AgentIssuer = AgentTokens.DefaultIssuer,
    string? ResearchKeys = null,
    long MaxLag = 500_000,
    bool RunStages = true,
    long JournalSegmentBytes = 256L * 1024 * 1024,
    Sidep.Pipeline.IJournalFileSystem? JournalFileSystem = null,
    int MllpMaxConnections = 2_000,
    int MllpMaxConnectionsPerSource = 64,
    Func<System.Net.Sockets.Socket, CancellationToken, ValueTask<System.Net.Sockets.Socket>>? MllpAccept = null,
    int PriorPositivePerMinute = 30,
    bool MllpHonourAckTypes = false)
{
    /// <summary>The shortest operator token accepted: a guessable token opens the lab register and the indicators.</summary>
    public const int MinOperatorTokenLength = 16;

    /// <summary>The shortest agent signing key accepted (HS256 wants at least 256 bits).</summary>
    public const int MinAgentKeyLength = 32;

    /// <summary>What makes these settings half-secure, one line each: a secret that is configured (by any source) but
    /// empty or short. An unset secret turns its role off; an empty one is a mistake (`--operator-token "$UNSET"`).</summary>
    public IReadOnlyList<string> Problems()
    {
        var problems = new List<string>();
        if (OperatorToken is string token && token.Trim().Length < MinOperatorTokenLength)
        {
            problems.Add($"the operator token is {(token.Trim().Length == 0 ? "empty" : "too short")}: it must be at least {MinOperatorTokenLength} characters " +
                "(leave it unset to turn the operator role off)");
        }
        if (AgentSigningKey is string key && key.Trim().Length < MinAgentKeyLength)
        {
            problems.Add($"the agent signing key is {(key.Trim().Length == 0 ? "empty" : "too short")}: it must be at least {MinAgentKeyLength} characters " +
                "(leave it unset to turn agents' access off)");
        }
        problems.AddRange(LabHealth.Problems());
        if (PersonKey is not (PersonKeyNames.Sidep or PersonKeyNames.Spf2021))
        {
            problems.Add($"unknown person key '{PersonKey}': {PersonKeyNames.Sidep} or {PersonKeyNames.Spf2021}");
        }
        return problems;
    }

    /// <summary>What the indicators count persons by: <c>sidep</c> (the matcher's persons, the default) or <c>spf2021</c>
    /// (Santé publique France's key since May 2021), to reproduce the published figures.</summary>
    public string PersonKey { get; init; } = PersonKeyNames.Sidep;

    /// <summary>When a lab is flagged silent or dropping (README, "Labs that fall silent").</summary>
    public LabHealthOptions LabHealth { get; init; } = new();

    /// <summary>How often the gateway adds its lab activity counts to the store; default 5 s.</summary>
    public TimeSpan ActivityFlushEvery { get; init; } = TimeSpan.FromSeconds(5);

    /// <summary>The clock receipts are stamped and lab health judged with (tests move it).</summary>
    public TimeProvider Clock { get; init; } = TimeProvider.System;

    public TimeSpan FrameTimeout => MllpFrameTimeout ?? TimeSpan.FromSeconds(30);
    public TimeSpan IdleTimeout => MllpIdleTimeout ?? TimeSpan.FromMinutes(5);
}
