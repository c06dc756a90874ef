using Microsoft.AspNetCore.Builder;
using Microsoft.AspNetCore.Http;
using Microsoft.Extensions.FileProviders;
using Scalar.AspNetCore;

namespace Sidep.Gateway;

/// <summary>
/// The console under <c>/console</c> (indicators, labs, operations: static pages built into the binary, reading the same
/// APIs as everyone, with the caller's token) and the API's description: the OpenAPI document at
/// <c>/openapi/v1.json</c> and its reference page at <c>/docs</c> (Scalar, served from its package).
/// </summary>
public static class ConsoleApi
{
    /// <summary>Scripts and styles from Sidep only (no CDN, no inline script); styles set by the charting code allowed.</summary>
    private const string ContentSecurityPolicy = "default-src 'self'; script-src 'self'; style-src 'self' 'unsafe-inline'; img-src 'self' data:; connect-src 'self'; frame-ancestors 'none'";

    public static WebApplication MapConsole(this WebApplication app)
    {
        var files = new ManifestEmbeddedFileProvider(typeof(ConsoleApi).Assembly, "Console");
        app.UseDefaultFiles(new DefaultFilesOptions { FileProvider = files, RequestPath = "/console" });
        app.UseStaticFiles(new StaticFileOptions
        {
            FileProvider = files,
            RequestPath = "/console",
            OnPrepareResponse = context =>
            {
                IHeaderDictionary headers = context.Context.Response.Headers;
                headers.ContentSecurityPolicy = ContentSecurityPolicy;
                headers.XContentTypeOptions = "nosniff";
                // Revalidated at every load (ETag): a new binary's pages are seen at once.
                headers.CacheControl = "no-cache";
            },
        });
        app.MapOpenApi();
        // Served from the package; no web fonts fetched from elsewhere (the machine may have no internet).
        app.MapScalarApiReference("/docs", options =>
        {
            options.WithTitle("Sidep API");
            options.DefaultFonts = false;
        });
        return app;
    }
}
