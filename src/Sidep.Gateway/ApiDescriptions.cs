using Microsoft.AspNetCore.Builder;
using Microsoft.AspNetCore.Http;
using Microsoft.AspNetCore.Http.Metadata;
using Microsoft.AspNetCore.OpenApi;
using Microsoft.AspNetCore.Routing;
using Microsoft.OpenApi;
using Sidep.Ingestion;

namespace Sidep.Gateway;

/// <summary>
/// What the OpenAPI document says of every endpoint — who may call it, what it takes, what it answers and with which
/// status codes, with examples — in one table beside the handlers, applied to each endpoint as it is built
/// (<see cref="Describe"/>). An endpoint missing from the table fails the server's start, so the document never lags
/// behind the routes.
/// </summary>
public static class ApiDescriptions
{
    private const string Json = "application/json";
    private const string Csv = "text/csv";

    private sealed record Api(string Tag, string Summary, string Description, Type? Answer = null, string[]? AnswerTypes = null, int[]? Errors = null,
        string[]? Accepts = null, Type? Body = null, int Success = 200, int[]? AlsoAnswered = null);

    /// <summary>Every media type a submission may have: each format's (the registry's), and FHIR XML.</summary>
    private static readonly string[] SubmissionTypes = [.. Formats.All.SelectMany(f => f.MediaTypes), "application/fhir+xml"];

    private const string OperatorRole = "Operator role: send the operator token as `X-Operator-Token`.";
    private const string LabKey = "A lab's API key as `Authorization: Bearer sdp_…`.";
    private const string Agents = "An agent's token (JWT, HS256) as `Authorization: Bearer …`, with the role named below.";

    private static readonly Dictionary<(string Method, string Pattern), Api> s_apis = new()
    {
        [("POST", "/v1/submissions")] = new("Submissions", "Submit results (HL7 v2 ORU^R01, HPRIM Santé or Médecin, FHIR R4)",
            LabKey + " The body is the lab's message as it is, with its media type: `application/hl7-v2`, `application/x-hprim` or " +
            "`application/fhir+json` / `application/fhir+xml`. The answer is per item, in the sender's own protocol when it asks " +
            "for it (`Accept: application/hl7-v2` gives an HL7 ACK with ERR segments, FHIR gets an OperationOutcome) or as a " +
            "JSON report: 201 when every item is stored, 422 when some are rejected (each says where — segment, field, line, " +
            "byte offset — and why; the rest of the batch is stored), 503 with Retry-After under backpressure.\n\n" +
            "Example (HL7 v2):\n```\nMSH|^~\\&|APP|LAB^990000001|SIDEP|ANS|20260112093000+0100||ORU^R01^ORU_R01|M1|P|2.5\r\n" +
            "PID|1||42^^^LAB^PI||DURAND^PAUL||19700101|M\r\nOBR|1||ACC1|94500-6^SARS-CoV-2^LN|||20260112081500+0100\r\n" +
            "OBX|1|CWE|94500-6^SARS-CoV-2^LN||260415000^Not detected^SCT||||||F\r\n```",
            typeof(SubmissionReport), [Json], [400, 401, 403, 413, 415, 503],
            SubmissionTypes, typeof(string), 201, [422]),
        [("POST", "/v1/validate")] = new("Submissions", "Check a submission without storing it",
            LabKey + " The same parsing, mapping and checks as a submission, nothing stored; `?show=true` adds what Sidep understood of " +
            "each result (identity masked).", typeof(SubmissionReport), [Json], [400, 401, 413, 415],
            SubmissionTypes, typeof(string), 200, [422]),
        [("GET", "/v1/submissions/{id}")] = new("Submissions", "A submission's report, again",
            LabKey + " The report given when the submission was received (a lab reads its own only).", typeof(SubmissionReport), [Json], [401, 404]),
        [("PUT", "/v1/labs/{finess}/transcoding")] = new("Terminology", "Map the lab's local analysis codes to LOINC",
            LabKey + " CSV (`local_code;loinc;label`, one a line) or JSON (`{\"SCOV\":\"94500-6\"}`); results held in quarantine for a code " +
            "are replayed as soon as it is mapped.", null, [Json], [400, 401, 403, 415, 422], [Csv, Json], typeof(string)),
        [("GET", "/v1/labs/{finess}/transcoding")] = new("Terminology", "The lab's transcoding table", LabKey, null, [Json], [401, 403]),
        [("GET", "/v1/quarantine")] = new("Terminology", "The lab's results waiting for a LOINC mapping, by local code",
            LabKey, typeof(List<QuarantineSummary>), [Json], [401]),
        [("POST", "/v1/labs")] = new("Labs", "Register labs (one or many), or re-key them",
            OperatorRole + " Each lab's API key is answered once. Example: `{\"finess\":\"990000001\",\"name\":\"Lab\",\"facilityIds\":[\"SIDEP-DEMO\"],\"mllpSources\":[\"10.0.0.5\"]}`.",
            typeof(List<LabsApi.RegisteredLab>), [Json], [400, 401, 422], [Json], typeof(LabsApi.LabRequest), 201),
        [("GET", "/v1/labs")] = new("Labs", "The lab register", OperatorRole, typeof(List<LabsApi.LabEntry>), [Json], [401]),
        [("GET", "/v1/labs/health")] = new("Labs", "Labs that fell silent or send far less than usual, first",
            OperatorRole + " Each lab judged against its own history (the same hours of the same weekday over the last weeks): silent, " +
            "dropping, ok, or learning (less than a week of history); with today's and the usual volumes and the rejected and " +
            "quarantined shares of the last 24 hours.", null, [Json], [401]),
        [("GET", "/v1/indicators/{level}/{table}")] = new("Indicators", "The daily indicators as Santé publique France publishes them",
            OperatorRole + " Or an agent's token with the `epidemiologist` role. `level`: dep, reg or fra; `table`: daily.csv, daily.json, " +
            "rates.csv, rates.json (7-day incidence, positivity, screening) or changes.csv (`since`, `until`: what changed between two " +
            "moments). Query: from, to (YYYY-MM-DD), asof (the table as it was then), dep=01,2A or reg=84, suppress=k, layout=2020.\n\n" +
            "Example line of daily.csv:\n```\nfra;jour;P_f;P_h;P;T_f;T_h;T;cl_age90;pop\nFR;2026-12-01;12;9;21;140;120;260;0;67407241\n```",
            null, [Csv, Json], [400, 401, 403]),
        [("GET", "/v1/indicators/freshness")] = new("Indicators", "How complete the recent days are",
            OperatorRole + " Or an epidemiologist agent. For each sample day (default: the last 14), the new results that arrived the same " +
            "day, one, two, and three or more days later.", null, [Json], [400, 401, 403]),
        [("GET", "/v1/indicators/revisions")] = new("Indicators", "The revisions the indicators went through",
            OperatorRole + " Or an epidemiologist agent. Each revision with when it was processed and how many results it covered; " +
            "`since` limits to later ones.", null, [Json], [400, 401, 403]),
        [("GET", "/v1/persons/{id}/decisions")] = new("Identity", "Why a person's results were linked",
            OperatorRole + " Every identity decision of the person (rule, score, which fields agreed); nothing nominative.", null, [Json], [401, 404]),
        [("GET", "/v1/persons/review")] = new("Identity", "Possible matches and INS conflicts to review",
            OperatorRole + " Oldest first; `after` and `limit` page through.", null, [Json], [400, 401]),
        [("GET", "/v1/cases")] = new("Contact tracing", "New positive cases of the agent's territories",
            Agents + " Role investigator or supervisor; `territory`, `since`, `after`, `limit`. Every read is audited.",
            typeof(CasesApi.CasePage), [Json], [400, 401, 403]),
        [("GET", "/v1/cases/feed")] = new("Contact tracing", "The cases that changed since a cursor",
            Agents + " Role investigator or supervisor; poll with `after` = the last cursor read.", typeof(CasesApi.CasePage), [Json], [400, 401, 403]),
        [("GET", "/v1/cases/{caseId}")] = new("Contact tracing", "One case", Agents + " Role investigator or supervisor, of the case's territory.",
            typeof(CasesApi.CaseView), [Json], [401, 403]),
        [("POST", "/v1/cases/prior-positive")] = new("Contact tracing", "Was this person positive in the last days?",
            Agents + " Role investigator or supervisor (persons of their territories), or national-investigator. By INS or by names, birth " +
            "date and sex; audited with the pseudonymous person it resolved to; rate-limited per agent.",
            typeof(CasesApi.PriorPositiveAnswer), [Json], [400, 401, 403, 429], [Json], typeof(CasesApi.PriorPositiveQuery)),
        [("GET", "/v1/audit")] = new("Contact tracing", "The audit log of nominative reads", Agents + " Role auditor.", typeof(CasesApi.AuditPage), [Json], [400, 401, 403]),
        [("GET", "/v1/notifications/outbox")] = new("Notifications", "Patient advice notices waiting to be sent", Agents + " Role notifier; audited.", typeof(CasesApi.Outbox), [Json], [400, 401, 403]),
        [("POST", "/v1/notifications/{id}/ack")] = new("Notifications", "Mark a notice sent", Agents + " Role notifier; audited.", null, [Json], [401, 403, 409], Success: 204),
        [("POST", "/v1/oppositions")] = new("Research", "Record a person's opposition to research use",
            OperatorRole + " The person's later and earlier results leave the research sink.", null, [Json], [400, 401], [Json], typeof(CasesApi.PriorPositiveQuery), 201),
        [("GET", "/v1/research/pseudonym-links")] = new("Research", "Old and new pseudonyms across a key rotation",
            Agents + " Role research-operator; `from` and `to` name the keys.", null, [Json], [400, 401, 403]),
        [("GET", "/v1/pipeline")] = new("Operations", "Where each stage stands against its input",
            OperatorRole + " Positions, ends and lags per stage.", null, [Json], [401]),
        [("GET", "/v1/pipeline/operations")] = new("Operations", "Backpressure, dead letters and quarantine",
            OperatorRole + " What the console's operations page shows beside the positions.", null, [Json], [401]),
    };

    /// <summary>Applies the table's description to an endpoint as it is built (a group convention).</summary>
    public static void Describe(EndpointBuilder builder)
    {
        if (builder is not RouteEndpointBuilder route || route.RoutePattern.RawText is not string raw || !raw.StartsWith("/v1/", StringComparison.Ordinal))
        {
            return;
        }
        string pattern = DocumentPath(raw);
        foreach (string method in builder.Metadata.OfType<IHttpMethodMetadata>().SelectMany(m => m.HttpMethods).ToList())
        {
            if (!s_apis.TryGetValue((method, pattern), out Api? api))
            {
                throw new InvalidOperationException($"{method} {pattern} has no description in ApiDescriptions: add one");
            }
            builder.Metadata.Add(new TagsAttribute(api.Tag));
            builder.Metadata.Add(new EndpointSummaryAttribute(api.Summary));
            builder.Metadata.Add(new EndpointDescriptionAttribute(api.Description));
            builder.Metadata.Add(new ProducesResponseTypeMetadata(api.Success, api.Answer, api.AnswerTypes ?? [Json]));
            foreach (int also in api.AlsoAnswered ?? [])
            {
                builder.Metadata.Add(new ProducesResponseTypeMetadata(also, api.Answer, api.AnswerTypes ?? [Json]));
            }
            foreach (int error in api.Errors ?? [])
            {
                builder.Metadata.Add(new ProducesResponseTypeMetadata(error, typeof(Microsoft.AspNetCore.Mvc.ProblemDetails), ["application/problem+json"]));
            }
            if (api.Accepts is not null)
            {
                // Not AcceptsMetadata: routing would then answer other media types itself (an empty 415), before the
                // handler's own answer that says which types it takes.
                builder.Metadata.Add(new RequestBody(api.Accepts, api.Body ?? typeof(string)));
            }
        }
    }

    /// <summary>What an endpoint's body may be, for the document only.</summary>
    private sealed record RequestBody(string[] MediaTypes, Type Body);

    /// <summary>Writes an endpoint's request body into its operation (an operation transformer).</summary>
    public static async Task DescribeRequestBody(OpenApiOperation operation, OpenApiOperationTransformerContext context, CancellationToken cancellationToken)
    {
        if (context.Description.ActionDescriptor.EndpointMetadata.OfType<RequestBody>().FirstOrDefault() is not { } body)
        {
            return;
        }
        OpenApiSchema schema = body.Body == typeof(string)
            ? new OpenApiSchema { Type = JsonSchemaType.String, Description = "the message as the lab's software writes it" }
            : await context.GetOrCreateSchemaAsync(body.Body, null, cancellationToken).ConfigureAwait(false);
        operation.RequestBody = new OpenApiRequestBody
        {
            Required = true,
            Content = body.MediaTypes.ToDictionary(m => m, _ => new OpenApiMediaType { Schema = schema }),
        };
    }

    /// <summary>A route pattern as the OpenAPI document writes its path: without route constraints ({id:long} is {id}).</summary>
    public static string DocumentPath(string routePattern) => System.Text.RegularExpressions.Regex.Replace(routePattern, @"\{(\w+):[^}]+\}", "{$1}");
}
