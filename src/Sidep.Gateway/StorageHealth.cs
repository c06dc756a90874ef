using System.Collections.Concurrent;
using System.Diagnostics.Metrics;
using Microsoft.AspNetCore.Builder;
using Microsoft.AspNetCore.Http;
using Microsoft.Extensions.DependencyInjection;
using Microsoft.Extensions.Diagnostics.HealthChecks;
using Microsoft.Extensions.Logging;
using Sidep.Domain;
using Sidep.Pipeline;

namespace Sidep.Gateway;

/// <summary>
/// Storage that cannot be written now (a full disk, an I/O error, a read-only file system), as the parts that met it
/// report it: the stages wait it out with back-off, ingestion answers 503 / AR with Retry-After, and <c>/health</c> says
/// "Degraded" and why until a while after the last failure; everything resumes by itself.
/// </summary>
public sealed class StorageHealth(TimeProvider time, StorageFaults faults) : IHealthCheck
{
    /// <summary>How long after its last failure a part is still reported degraded.</summary>
    public static readonly TimeSpan Linger = TimeSpan.FromSeconds(15);

    private static readonly Counter<long> s_failures = MllpListener.Meter.CreateCounter<long>("sidep.storage.unavailable",
        description: "Writes that met storage that could not take them (full disk, I/O error, read-only), by part; each was retried");

    private readonly ConcurrentDictionary<string, (DateTimeOffset At, string Reason)> _failures = new(StringComparer.Ordinal);
    private readonly List<Func<string?>> _probes = [];

    /// <summary>What kind of storage failure an exception is, in this mode.</summary>
    public StorageFaults Faults => faults;

    /// <summary>A part met storage it cannot write: it is degraded (and counted) until <see cref="Linger"/> after the last time.</summary>
    public void Failed(string part, Exception ex)
    {
        _failures[part] = (time.GetUtcNow(), faults.Describe(ex));
        s_failures.Add(1, new KeyValuePair<string, object?>("part", part));
    }

    /// <summary>A reason read at every check (the journal's: why it refuses appends now), or null.</summary>
    public void Watch(Func<string?> probe) => _probes.Add(probe);

    public Task<HealthCheckResult> CheckHealthAsync(HealthCheckContext context, CancellationToken cancellationToken = default)
    {
        DateTimeOffset now = time.GetUtcNow();
        List<string> reasons = [.. _probes.Select(p => p()).OfType<string>()];
        reasons.AddRange(_failures.Where(f => now - f.Value.At < Linger).OrderBy(f => f.Key, StringComparer.Ordinal)
            .Select(f => $"{f.Key} cannot write ({f.Value.Reason}), last at {f.Value.At:HH:mm:ss}Z; retrying"));
        return Task.FromResult(reasons.Count == 0 ? HealthCheckResult.Healthy() : HealthCheckResult.Degraded(string.Join("; ", reasons)));
    }

    /// <summary>Requests that meet storage that cannot be written (the state store full, say) are answered 503 with
    /// Retry-After: nothing was stored, send again — never a 500, never the process stopping.</summary>
    public static void UseStorageUnavailableAnswers(WebApplication app)
    {
        StorageHealth health = app.Services.GetRequiredService<StorageHealth>();
        ILogger logger = app.Services.GetRequiredService<ILoggerFactory>().CreateLogger<StorageHealth>();
        app.Use(async (context, next) =>
        {
            try
            {
                await next(context);
            }
            catch (Exception ex) when (health.Faults.IsStorageUnavailable(ex) && !context.Response.HasStarted)
            {
                health.Failed("gateway", ex);
                logger.LogWarning("storage unavailable on {Path}: {Reason}", context.Request.Path, health.Faults.Describe(ex));
                context.Response.Clear();
                context.Response.StatusCode = StatusCodes.Status503ServiceUnavailable;
                context.Response.Headers.RetryAfter = "5";
                await Results.Problem(statusCode: 503, title: "Not stored",
                    detail: $"storage is unavailable ({health.Faults.Describe(ex)}); nothing of this request was stored: send it again").ExecuteAsync(context);
            }
        });
    }
}
