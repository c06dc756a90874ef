using Microsoft.Extensions.Diagnostics.HealthChecks;
using Microsoft.AspNetCore.Http;
using Microsoft.AspNetCore.Builder;
using Microsoft.AspNetCore.Diagnostics.HealthChecks;
using Microsoft.Extensions.DependencyInjection;
using Microsoft.Extensions.Hosting;
using OpenTelemetry;
using OpenTelemetry.Metrics;
using OpenTelemetry.Resources;
using OpenTelemetry.Trace;

namespace Sidep.ServiceDefaults;

/// <summary>Cross-cutting hosting for every Sidep role: OpenTelemetry traces and metrics, Prometheus /metrics, /health.
/// Only Sidep's own sources and meters are added: their tags never carry identities or patient data.</summary>
public static class Extensions
{
    public static IHostApplicationBuilder AddServiceDefaults(this IHostApplicationBuilder builder, string serviceName,
        IEnumerable<string> activitySources, IEnumerable<string> meters)
    {
        string[] sources = activitySources.ToArray();
        string[] meterNames = meters.ToArray();
        OpenTelemetryBuilder otel = builder.Services.AddOpenTelemetry()
            .ConfigureResource(r => r.AddService(serviceName))
            .WithTracing(t =>
            {
                t.AddSource(sources);
                t.AddAspNetCoreInstrumentation(o =>
                {
                    // Paths and status only: no query strings, no bodies.
                    o.EnrichWithHttpRequest = static (activity, _) => activity.SetTag("url.query", null);
                });
            })
            .WithMetrics(m =>
            {
                m.AddMeter(meterNames);
                // The runtime's own: heap size by generation after the last collection, GC pauses, the thread pool's queue,
                // the working set — what an operator sizes memory by (nothing of any result).
                m.AddMeter("System.Runtime");
                m.AddAspNetCoreInstrumentation();
                m.AddPrometheusExporter();
            });
        if (!string.IsNullOrWhiteSpace(builder.Configuration["OTEL_EXPORTER_OTLP_ENDPOINT"]))
        {
            otel.UseOtlpExporter();
        }
        builder.Services.AddHealthChecks();
        return builder;
    }

    /// <param name="metricsPolicy">The authorisation policy /metrics requires (null: anyone may read it).</param>
    public static WebApplication MapDefaultEndpoints(this WebApplication app, string? metricsPolicy = null)
    {
        // "Healthy", or the status and why (each check's description: what is degraded and since when).
        app.MapHealthChecks("/health", new HealthCheckOptions
        {
            ResponseWriter = (context, report) =>
            {
                context.Response.ContentType = "text/plain; charset=utf-8";
                string text = report.Status == HealthStatus.Healthy ? "Healthy"
                    : report.Status + ": " + string.Join("; ", report.Entries.Where(e => e.Value.Status != HealthStatus.Healthy).Select(e => $"{e.Key}: {e.Value.Description}"));
                return context.Response.WriteAsync(text);
            },
        });
        IEndpointConventionBuilder metrics = app.MapPrometheusScrapingEndpoint("/metrics");
        if (metricsPolicy is not null)
        {
            metrics.RequireAuthorization(metricsPolicy);
        }
        return app;
    }
}
