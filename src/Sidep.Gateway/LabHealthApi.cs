using System.Diagnostics.Metrics;
using Microsoft.AspNetCore.Builder;
using Microsoft.AspNetCore.Http;
using Microsoft.AspNetCore.Routing;
using Microsoft.Extensions.Hosting;
using Microsoft.Extensions.Logging;
using Sidep.Ingestion;
using Sidep.Pipeline;

namespace Sidep.Gateway;

/// <summary>
/// Labs that fall silent or drop, judged against their own history (<see cref="LabHealth"/>): the gateway's counts
/// added to the store every few seconds (<see cref="LabActivityFlusher"/>), judged on demand and for the metric
/// <c>sidep_labs</c> (labs by state), at most once a minute for the metric.
/// </summary>
public sealed class LabHealthMonitor : IDisposable
{
    public const string MeterName = "Sidep.Labs";

    private readonly Meter _meter = new(MeterName);

    private readonly ILabRegister _labs;
    private readonly ILabActivityLog _activity;
    private readonly GatewayOptions _options;
    private readonly Lock _lock = new();
    private (DateTimeOffset At, List<LabHealthRow> Rows)? _last;

    /// <summary>The labs' days before today, read once a day (the hours are read at every judgement).</summary>
    private (int Day, List<LabDay> Days)? _history;

    /// <param name="activity">The labs' activity with this gateway's pending counts (<see cref="CurrentLabActivity"/>).</param>
    public LabHealthMonitor(ILabRegister labs, ILabActivityLog activity, GatewayOptions options)
    {
        (_labs, _activity, _options) = (labs, activity, options);
        _meter.CreateObservableGauge("sidep.labs", () =>
        {
            List<LabHealthRow> rows;
            try
            {
                rows = Judge(TimeSpan.FromMinutes(1));
            }
            catch (Exception ex) when (ex is not OutOfMemoryException)
            {
                // The store is away: the storage health check says so; no reading rather than a wrong one.
                return [];
            }
            return Enum.GetValues<LabState>().Select(s => new Measurement<int>(rows.Count(r => r.State == s),
                new KeyValuePair<string, object?>("state", s.ToString().ToLowerInvariant())));
        }, description: "Registered labs by health state (silent, dropping, ok, learning)");
    }

    /// <summary>Every lab judged now, or at most <paramref name="maxAge"/> ago.</summary>
    public List<LabHealthRow> Judge(TimeSpan maxAge)
    {
        DateTimeOffset now = _options.Clock.GetUtcNow();
        lock (_lock)
        {
            if (_last is { } last && now - last.At <= maxAge)
            {
                return last.Rows;
            }
            int today = DateOnly.FromDateTime(now.UtcDateTime).DayNumber;
            if (_history is not { } history || history.Day != today)
            {
                _history = history = (today, LabHealth.History(_activity, now, _options.LabHealth));
            }
            List<LabHealthRow> rows = LabHealth.Evaluate(_activity, _labs.ListLabs(), now, _options.LabHealth, history.Days);
            _last = (now, rows);
            return rows;
        }
    }

    public void Dispose() => _meter.Dispose();
}

/// <summary>Adds the gateway's activity counts to the store every <see cref="GatewayOptions.ActivityFlushEvery"/>, and
/// once more when the server stops.</summary>
public sealed class LabActivityFlusher(LabActivityRecorder recorder, ILabRegister labs, GatewayOptions options, ILogger<LabActivityFlusher> logger) : BackgroundService
{
    protected override async Task ExecuteAsync(CancellationToken stoppingToken)
    {
        using var timer = new PeriodicTimer(options.ActivityFlushEvery);
        try
        {
            while (await timer.WaitForNextTickAsync(stoppingToken).ConfigureAwait(false))
            {
                Flush();
            }
        }
        catch (OperationCanceledException)
        {
        }
    }

    public override async Task StopAsync(CancellationToken cancellationToken)
    {
        await base.StopAsync(cancellationToken).ConfigureAwait(false);
        Flush();
    }

    private void Flush()
    {
        try
        {
            recorder.Flush(labs);
        }
        catch (Exception ex) when (ex is not OutOfMemoryException)
        {
            logger.LogWarning("lab activity counts not written yet ({Error}); kept for the next attempt", ex.GetType().Name + ": " + ex.Message);
        }
    }
}

/// <summary><c>GET /v1/labs/health</c> (operator role): every registered lab's state, flagged labs first.</summary>
public static class LabHealthApi
{
    /// <summary>Each row as it is, camel case, its state in words (silent, dropping, ok, learning).</summary>
    private static readonly System.Text.Json.JsonSerializerOptions s_json = new(System.Text.Json.JsonSerializerDefaults.Web)
    {
        Converters = { new System.Text.Json.Serialization.JsonStringEnumConverter(System.Text.Json.JsonNamingPolicy.CamelCase) },
    };

    public static IEndpointRouteBuilder MapLabHealthApi(this IEndpointRouteBuilder app)
    {
        RouteGroupBuilder operators = app.MapGroup("").RequireAuthorization(SidepPolicies.Operator);
        operators.MapGet("/v1/labs/health", (GatewayOptions options, LabHealthMonitor monitor) =>
        {
            List<LabHealthRow> rows = monitor.Judge(TimeSpan.Zero);
            LabHealthOptions o = options.LabHealth;
            return Results.Json(new
            {
                at = options.Clock.GetUtcNow(),
                method = new
                {
                    historyWeeks = o.HistoryWeeks,
                    minSilenceHours = o.MinSilence.TotalHours,
                    silentExpected = o.SilentExpected,
                    dropWindowHours = o.DropWindow.TotalHours,
                    dropRatio = o.DropRatio,
                    dropMinExpected = o.DropMinExpected,
                },
                counts = Enum.GetValues<LabState>().ToDictionary(s => s.ToString().ToLowerInvariant(), s => rows.Count(r => r.State == s)),
                labs = rows,
            }, s_json);
        });
        return app;
    }
}
