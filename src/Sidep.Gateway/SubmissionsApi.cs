using Microsoft.Extensions.DependencyInjection;
using System.Buffers;
using System.IO.Pipelines;
using System.Text;
using System.Security.Claims;
using System.Text.Json;
using Microsoft.AspNetCore.Builder;
using Microsoft.AspNetCore.Http;
using Microsoft.AspNetCore.Http.HttpResults;
using Microsoft.AspNetCore.Http.Features;
using Microsoft.AspNetCore.Routing;
using Sidep.Ingestion;
using Sidep.Domain;
using Sidep.Pipeline;

namespace Sidep.Gateway;

/// <summary>POST /v1/submissions, POST /v1/validate, GET /v1/submissions/{id}.</summary>
public static class SubmissionsApi
{
    private const string FhirXmlMediaType = "application/fhir+xml";
    private const string FhirJson = Formats.FhirMediaType + "; charset=utf-8";
    private const string JsonReport = "application/json; charset=utf-8";

    public static IEndpointRouteBuilder MapSubmissionsApi(this IEndpointRouteBuilder app)
    {
        RouteGroupBuilder v1 = app.MapGroup("/v1").RequireAuthorization(SidepPolicies.Lab);
        v1.MapPost("/submissions", (HttpContext http, ClaimsPrincipal user, IngestionService ingestion, GatewayOptions options, Backpressure backpressure) =>
        {
            if (backpressure.Overloaded)
            {
                // Slow the sender down rather than let the backlog grow; nothing of this request was read or stored.
                int retry = backpressure.RetryAfterSeconds;
                http.Response.Headers.RetryAfter = retry.ToString(System.Globalization.CultureInfo.InvariantCulture);
                return Task.FromResult<IResult>(TypedResults.Problem(statusCode: 503, title: "Sidep is catching up",
                    detail: $"the pipeline is {backpressure.Lag:N0} results behind (limit {options.MaxLag:N0}); nothing was stored: send this submission again in {retry} s"));
            }
            return SubmitAsync(http, user.Lab(), ingestion, options, dryRun: false);
        });
        v1.MapPost("/validate", (HttpContext http, ClaimsPrincipal user, IngestionService ingestion, GatewayOptions options) =>
            SubmitAsync(http, user.Lab(), ingestion, options, dryRun: true));
        v1.MapGet("/submissions/{id}", GetSubmission);
        return app;
    }

    private static Results<JsonHttpResult<SubmissionReport>, ProblemHttpResult> GetSubmission(string id, ClaimsPrincipal user, IngestionService ingestion)
    {
        Lab lab = user.Lab();
        var found = ingestion.GetSubmission(id);
        if (found is null || found.Value.Meta.Lab != lab.Finess)
        {
            return TypedResults.Problem(statusCode: 404, title: "No such submission", detail: $"lab {lab.Finess} has no submission '{id}'");
        }
        return TypedResults.Json(found.Value.Meta.Report, SidepJson.Default.SubmissionReport);
    }

    private static async Task<IResult> SubmitAsync(HttpContext http, Lab lab, IngestionService ingestion, GatewayOptions options, bool dryRun)
    {
        // FHIR XML is read by Firely into FHIR JSON, then parsed as FHIR; every other format is the registry's.
        bool xml = http.Request.ContentType?.Split(';')[0].Trim().Equals(FhirXmlMediaType, StringComparison.OrdinalIgnoreCase) == true;
        if ((xml ? Formats.Fhir : Formats.FromMediaType(http.Request.ContentType)) is not string format)
        {
            return TypedResults.Problem(statusCode: 415, title: "Unsupported media type",
                detail: $"Content-Type '{http.Request.ContentType ?? "(none)"}' is not accepted; send " +
                string.Join(", ", Formats.All.Select(f => $"{f.Name} as {string.Join(" or ", f.MediaTypes.Select(m => $"'{m}'"))}")) + $" (FHIR XML as '{FhirXmlMediaType}')");
        }
        long limit = options.MaxBodyBytes;
        if (http.Features.Get<IHttpMaxRequestBodySizeFeature>() is { IsReadOnly: false } sizeFeature)
        {
            // The limit below is ours, and stated in the answer; Kestrel's own would abort the connection
            // while it drains a body we refused, and the sender would never read our 413.
            sizeFeature.MaxRequestBodySize = null;
        }
        if (http.Request.ContentLength is long declared && declared > limit)
        {
            http.Response.Headers.Connection = "close";
            return TooLarge(declared, limit);
        }

        PipeReader reader = http.Request.BodyReader;
        ReadResult read;
        while (true)
        {
            read = await reader.ReadAsync(http.RequestAborted);
            if (read.Buffer.Length > limit)
            {
                reader.AdvanceTo(read.Buffer.End);
                http.Response.Headers.Connection = "close";
                return TooLarge(null, limit);
            }
            if (read.IsCompleted)
            {
                break;
            }
            reader.AdvanceTo(read.Buffer.Start, read.Buffer.End);
        }
        SubmissionOutcome outcome;
        try
        {
            ReadOnlySequence<byte> body = read.Buffer;
            if (xml)
            {
                (byte[]? json, string? problem) = FhirFirely.XmlToJson(Encoding.UTF8.GetString(body));
                if (json is null)
                {
                    return new Answered(422, new FormatAnswer(FhirJson, FhirFirely.StrictOutcome([problem!])));
                }
                body = new ReadOnlySequence<byte>(json);
            }
            if (format == Formats.Fhir && http.Request.Query["mode"] == "strict")
            {
                List<string> problems = FhirFirely.StrictProblems(Encoding.UTF8.GetString(body));
                if (problems.Count > 0)
                {
                    return new Answered(422, new FormatAnswer(FhirJson, FhirFirely.StrictOutcome(problems)));
                }
            }
            // Parsed straight from Kestrel's buffers (XML: from its JSON form).
            outcome = await ingestion.SubmitAsync(lab, body, format, "http", dryRun, http.RequestAborted);
        }
        catch (NotDurableException ex)
        {
            http.RequestServices.GetRequiredService<StorageHealth>().Failed("journal", ex.InnerException ?? ex);
            http.Response.Headers.RetryAfter = "5";
            return TypedResults.Problem(statusCode: 503, title: "Not stored", detail: ex.Message);
        }
        finally
        {
            reader.AdvanceTo(read.Buffer.End);
        }
        return Answer(http, format, outcome, dryRun);
    }

    /// <summary>The answer in the sender's own protocol when it asks for it (or FHIR's, which answers in kind), else the
    /// JSON report.</summary>
    private static IResult Answer(HttpContext http, string format, SubmissionOutcome outcome, bool dryRun)
    {
        IFormat? protocol = Formats.AnswerFormat(format, http.Request.Headers.Accept);
        if (outcome.Forbidden is string forbidden)
        {
            return protocol is null
                ? TypedResults.Problem(statusCode: 403, title: "Lab may only submit as itself", detail: forbidden)
                : new Answered(403, protocol.Refusal(outcome.Report, "LabMismatch", forbidden));
        }
        SubmissionReport report = outcome.Report;
        int status = dryRun ? 200 : report.Counts.Stored + report.Counts.Duplicate + report.Counts.Quarantined > 0 ? 201 : 422;
        if (!dryRun && report.SubmissionId is not null)
        {
            http.Response.Headers.Location = $"/v1/submissions/{report.SubmissionId}";
        }
        if (dryRun && outcome.Understood is { } understood && http.Request.Query["show"] == "understood")
        {
            // What Sidep understood of each result, identity traits masked (they travel back over the network).
            return TypedResults.Json(new UnderstoodSubmission(report, [.. understood.Select(u => u.Masked())]), SidepJson.Default.UnderstoodSubmission, statusCode: status);
        }
        if (protocol is null)
        {
            // The report's JSON as the journal holds it, written once; else written now.
            return outcome.ReportJson.Length == 0 ? TypedResults.Json(report, SidepJson.Default.SubmissionReport, statusCode: status)
                : new Answered(status, new FormatAnswer(JsonReport, outcome.ReportJson));
        }
        return new Answered(status, protocol.Answer(report));
    }

    private static IResult TooLarge(long? declared, long limit) => TypedResults.Problem(statusCode: 413, title: "Submission too large",
        detail: declared is long d ? $"body of {d} bytes exceeds the limit of {limit} bytes; split the batch" : $"body exceeds the limit of {limit} bytes; split the batch");

    /// <summary>An answer in a format's protocol, with its status code (TypedResults.Bytes always answers 200).</summary>
    private sealed class Answered(int status, FormatAnswer answer) : IResult
    {
        public Task ExecuteAsync(HttpContext http)
        {
            http.Response.StatusCode = status;
            http.Response.ContentType = answer.ContentType;
            http.Response.ContentLength = answer.Body.Length;
            return http.Response.Body.WriteAsync(answer.Body).AsTask();
        }
    }
}
