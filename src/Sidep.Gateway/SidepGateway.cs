using Microsoft.AspNetCore.Builder;
using Microsoft.AspNetCore.Routing;
using Microsoft.Extensions.DependencyInjection;
using Sidep.Ingestion;
using Sidep.Pipeline;
using Sidep.ServiceDefaults;

namespace Sidep.Gateway;

/// <summary>
/// The gateway's part of a server: the HTTP API, the MLLP listener, the console, lab health, backpressure and storage
/// health. It knows the pipeline only by its contracts: the host (the composition root) registers the backends first —
/// <see cref="ILabRegister"/>, <see cref="IngestionService"/>, <see cref="Transport.IStageTransport"/>,
/// <see cref="Pipeline.IStageStore"/>, <see cref="Pipeline.IIndicatorReader"/>, <see cref="Pipeline.IPipelineView"/>,
/// <see cref="Pipeline.IPersonIndex"/>, <see cref="Pipeline.Pseudonyms"/> and the <see cref="Pipeline.StorageFaults"/> of its mode.
/// </summary>
public static class SidepGateway
{
    /// <summary>The meters the gateway's parts write (the host exports them with its own).</summary>
    public static readonly string[] MeterNames = [IngestionService.Meter.Name, MllpListener.Meter.Name, LabHealthMonitor.MeterName];

    public static WebApplicationBuilder AddSidepGateway(this WebApplicationBuilder builder, GatewayOptions options)
    {
        IServiceCollection services = builder.Services;
        services.AddSingleton(options);
        services.AddSingleton(TimeProvider.System);
        // What labs send, counted at the gateway and added to the store every few seconds: lab health, data freshness.
        // Read through CurrentLabActivity: with this gateway's pending counts. (The host gives the recorder to ingestion.)
        services.AddSingleton<LabActivityRecorder>();
        services.AddSingleton<ILabActivityLog>(sp => new CurrentLabActivity(sp.GetRequiredService<ILabRegister>(), sp.GetRequiredService<LabActivityRecorder>()));
        services.AddSingleton<LabHealthMonitor>();
        services.AddHostedService<LabActivityFlusher>();
        services.AddSingleton<Backpressure>();
        services.AddSingleton<StorageHealth>();
        services.AddHealthChecks().AddCheck<StorageHealth>("storage");
        services.AddSidepAccess(options);
        services.AddPriorPositiveLimit(options);
        services.AddOpenApi(o => o.AddOperationTransformer(ApiDescriptions.DescribeRequestBody).AddDocumentTransformer((document, _, _) =>
        {
            document.Info.Title = "Sidep";
            document.Info.Description = "The national pipeline of laboratory test results: labs submit (HL7 v2, HPRIM, FHIR R4; MLLP too), contact " +
                "tracers read new positives, epidemiologists read the indicators, operators watch the labs and the pipeline. The console is at /console/.";
            return Task.CompletedTask;
        }));
        services.AddSingleton<MllpListener>();
        services.AddHostedService(sp => sp.GetRequiredService<MllpListener>());
        return builder;
    }

    /// <summary>The middleware and endpoints: storage failures answered 503, each endpoint's policy, the rate limits,
    /// /health and /metrics, the console, and the API (every endpoint described in the OpenAPI document from one table).</summary>
    public static WebApplication MapSidepGateway(this WebApplication app)
    {
        app.Services.GetRequiredService<LabHealthMonitor>(); // its metric, from the start
        StorageHealth.UseStorageUnavailableAnswers(app);
        app.UseAuthorization(); // each endpoint's policy names its schemes (Access)
        app.UseRateLimiter();
        app.MapDefaultEndpoints(metricsPolicy: SidepPolicies.Operator);
        app.MapConsole();
        RouteGroupBuilder api = app.MapGroup("");
        ((IEndpointConventionBuilder)api).Add(ApiDescriptions.Describe);
        api.MapSubmissionsApi();
        api.MapTerminologyApi();
        api.MapLabsApi();
        api.MapLabHealthApi();
        api.MapPersonsApi();
        api.MapIndicatorsApi();
        api.MapCasesApi();
        api.MapResearchApi();
        api.MapPipelineApi();
        return app;
    }
}
