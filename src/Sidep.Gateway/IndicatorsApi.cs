using System.Buffers;
using System.Globalization;
using System.Text;
using Microsoft.AspNetCore.Builder;
using Microsoft.AspNetCore.Http;
using Microsoft.AspNetCore.Routing;
using Sidep.Indicators;
using Sidep.Ingestion;
using Sidep.Domain;
using Sidep.Pipeline;

namespace Sidep.Gateway;

/// <summary>
/// The daily indicators as Santé publique France publishes them (<c>dep</c>, <c>reg</c>, <c>fra</c>; CSV and JSON),
/// their 7-day rates, the revisions they went through and what changed between two moments. Aggregates only, but
/// unsuppressed small cells can single a person out: the operator role (X-Operator-Token) or an agent token with the
/// epidemiologist role is required.
/// </summary>
public static class IndicatorsApi
{
    private const string CsvType = "text/csv; charset=utf-8";

    public static IEndpointRouteBuilder MapIndicatorsApi(this IEndpointRouteBuilder app)
    {
        RouteGroupBuilder readers = app.MapGroup("").RequireAuthorization(SidepPolicies.IndicatorReader);
        readers.MapGet("/v1/indicators/{level}/{table}", (string level, string table, HttpContext http, IIndicatorReader stage, GatewayOptions options) =>
        {
            if (ParseLevel(level) is not Level lvl)
            {
                return Bad($"unknown level '{level}': dep, reg or fra");
            }
            if (Request(http.Request.Query, lvl, out DateTimeOffset? asOf, out string? error) is not { } request)
            {
                return Bad(error!);
            }
            (int from, int to) = (request.From?.DayNumber ?? int.MinValue, request.To?.DayNumber ?? int.MaxValue);
            CountTable counts = stage.Snapshot(table.StartsWith("rates", StringComparison.Ordinal) && from != int.MinValue ? from - 6 : from, to, asOf);
            if (request.From is null && request.To is null && !counts.IsEmpty)
            {
                // Without bounds: every day that has counts.
                request = request with { From = DateOnly.FromDayNumber(counts.MinDay), To = DateOnly.FromDayNumber(counts.MaxDay) };
            }
            var body = new ArrayBufferWriter<byte>(1 << 16);
            int suppressed;
            string type;
            switch (table)
            {
                case "daily.csv": suppressed = Tables.WriteDailyCsv(counts, request, body); type = CsvType; break;
                case "daily.json": suppressed = Tables.WriteDailyJson(counts, request, body); type = "application/json"; break;
                case "rates.csv": suppressed = Tables.WriteRatesCsv(counts, request, body); type = CsvType; break;
                case "rates.json": suppressed = Tables.WriteRatesJson(counts, request, body); type = "application/json"; break;
                case "changes.csv": return Changes(http, stage, request);
                default: return Bad($"unknown table '{table}': daily.csv, daily.json, rates.csv, rates.json or changes.csv");
            }
            if (request.SuppressBelow > 0)
            {
                http.Response.Headers["X-Sidep-Suppressed-Values"] = suppressed.ToString(CultureInfo.InvariantCulture);
            }
            return Results.Bytes(body.WrittenMemory, type);
        });

        readers.MapGet("/v1/indicators/freshness", (HttpContext http, ILabActivityLog activity, GatewayOptions options) =>
            Freshness(http, activity, options));

        readers.MapGet("/v1/indicators/revisions", (HttpContext http, IStageStore store, GatewayOptions options) =>
        {
            if (!QueryMoments.TryRead(http.Request.Query, "since", out DateTimeOffset? since, out string? error))
            {
                return Bad(error!);
            }
            return Results.Json(store.ListIndicatorRevisions(since).Select(r => new { rev = r.Rev, processedAt = r.ProcessedAt, results = r.Results, cells = r.Cells }));
        });
        return app;
    }

    /// <summary>
    /// How complete the recent days are: for each sample day, the new results that arrived the same day, one, two, and
    /// three or more days later (the last days' counts grow as late results arrive).
    /// </summary>
    private static IResult Freshness(HttpContext http, ILabActivityLog activity, GatewayOptions options)
    {
        int today = DateOnly.FromDateTime(options.Clock.GetUtcNow().UtcDateTime).DayNumber;
        if (!QueryMoments.TryReadDay(http.Request.Query, "from", out DateOnly? first, out string? error)
            || !QueryMoments.TryReadDay(http.Request.Query, "to", out DateOnly? last, out error))
        {
            return Bad(error!);
        }
        int from = first?.DayNumber ?? today - 13, to = last?.DayNumber ?? today;
        if (to < from || to - from > 366)
        {
            return Bad("from and to must be a range of at most a year");
        }
        var byDay = activity.Delays(from, to).GroupBy(d => d.Day).ToDictionary(g => g.Key, g => g.ToDictionary(d => d.Delay, d => d.Results));
        return Results.Json(new
        {
            asOf = options.Clock.GetUtcNow(),
            days = Enumerable.Range(from, to - from + 1).Select(day =>
            {
                Dictionary<int, long> d = byDay.GetValueOrDefault(day) ?? [];
                return new
                {
                    day = DateOnly.FromDayNumber(day).ToString("yyyy-MM-dd", CultureInfo.InvariantCulture),
                    sameDay = d.GetValueOrDefault(0),
                    oneDay = d.GetValueOrDefault(1),
                    twoDays = d.GetValueOrDefault(2),
                    threeOrMore = d.GetValueOrDefault(3),
                    total = d.Values.Sum(),
                };
            }),
        });
    }

    private static IResult Bad(string detail) => TypedResults.Problem(statusCode: 400, title: "Bad indicators request", detail: detail);

    private static Level? ParseLevel(string level) => level switch { "dep" => Level.Dep, "reg" => Level.Reg, "fra" => Level.Fra, _ => null };

    /// <summary>Reads from, to (YYYY-MM-DD), asof (ISO 8601), the units (<c>dep=01,2A</c> or <c>reg=84</c>), suppress (k)
    /// and layout (2020); null with the reason in <paramref name="error"/> when one is malformed.</summary>
    private static TableRequest? Request(IQueryCollection query, Level level, out DateTimeOffset? asOf, out string? error)
    {
        asOf = null;
        error = null;
        if (!QueryMoments.TryReadDay(query, "from", out DateOnly? from, out error) || !QueryMoments.TryReadDay(query, "to", out DateOnly? to, out error))
        {
            return null;
        }
        if (from is DateOnly f && to is DateOnly t && (t < f || t.DayNumber - f.DayNumber > 3660))
        {
            error = $"from {f:yyyy-MM-dd} to {t:yyyy-MM-dd} is not a range of at most ten years";
            return null;
        }
        if (!QueryMoments.TryRead(query, "asof", out asOf, out error))
        {
            return null;
        }
        int suppress = 0;
        if (query["suppress"].FirstOrDefault() is string k && (!int.TryParse(k, CultureInfo.InvariantCulture, out suppress) || suppress < 0 || suppress > 1000))
        {
            error = $"suppress '{k}' is not a count between 0 and 1000";
            return null;
        }
        Layout layout = Layout.Current;
        if (query["layout"].FirstOrDefault() is string l)
        {
            if (l != "2020")
            {
                error = $"layout '{l}' is unknown: 2020 (dep;jour;P;T;cl_age90;pop) or none";
                return null;
            }
            layout = Layout.Spf2020;
        }
        string column = Tables.UnitColumn(level);
        string[]? units = query[column].FirstOrDefault()?.Split(',', StringSplitOptions.RemoveEmptyEntries | StringSplitOptions.TrimEntries);
        if (units is not null)
        {
            var known = Tables.Units(level).Select(u => u.Code).ToHashSet(StringComparer.Ordinal);
            if (units.FirstOrDefault(u => !known.Contains(u)) is string unknown)
            {
                error = $"{column} '{unknown}' is not a {column} code";
                return null;
            }
        }
        return new TableRequest(level, from, to, units, suppress, layout);
    }

    /// <summary>
    /// What changed between two moments (<c>since</c>, <c>until</c>, default now): one line per published value that
    /// differs — unit, day, class, column, value before, value after.
    /// </summary>
    private static IResult Changes(HttpContext http, IIndicatorReader stage, TableRequest request)
    {
        if (!QueryMoments.TryRead(http.Request.Query, "since", out DateTimeOffset? since, out string? error) || since is null)
        {
            return Bad(error ?? "changes need since, an ISO 8601 date-time");
        }
        if (!QueryMoments.TryRead(http.Request.Query, "until", out DateTimeOffset? until, out error))
        {
            return Bad(error!);
        }
        (int from, int to) = (request.From?.DayNumber ?? int.MinValue, request.To?.DayNumber ?? int.MaxValue);
        CountTable after = stage.Snapshot(from, to, until);
        CountTable before = stage.Snapshot(from, to, since.Value);
        if (request.From is null && request.To is null && !after.IsEmpty)
        {
            request = request with { From = DateOnly.FromDayNumber(after.MinDay), To = DateOnly.FromDayNumber(after.MaxDay) };
        }
        request = request with { Layout = Layout.Current, SuppressBelow = 0 };
        string[] old = Render(before, request), now = Render(after, request);
        string[] columns = now[0].Split(';');
        var csv = new StringBuilder($"{columns[0]};jour;cl_age90;colonne;avant;apres\n");
        for (int i = 1; i < now.Length && i < old.Length; i++)
        {
            if (old[i] == now[i])
            {
                continue;
            }
            string[] a = old[i].Split(';'), b = now[i].Split(';');
            for (int c = 2; c <= 7; c++)
            {
                if (a[c] != b[c])
                {
                    csv.Append(b[0]).Append(';').Append(b[1]).Append(';').Append(b[8]).Append(';').Append(columns[c]).Append(';').Append(a[c]).Append(';').Append(b[c]).Append('\n');
                }
            }
        }
        return Results.Text(csv.ToString(), CsvType);
    }

    private static string[] Render(CountTable table, TableRequest request)
    {
        var buffer = new ArrayBufferWriter<byte>();
        Tables.WriteDailyCsv(table, request, buffer);
        return Encoding.ASCII.GetString(buffer.WrittenSpan).Split('\n', StringSplitOptions.RemoveEmptyEntries);
    }
}
