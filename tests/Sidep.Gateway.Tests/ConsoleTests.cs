using System.Globalization;
using System.Net.Http.Json;
using System.Text.Json;
using Microsoft.AspNetCore.Routing;
using Microsoft.Extensions.DependencyInjection;
using Microsoft.Playwright;
using Sidep.LoadGen;

namespace Sidep.Gateway.Tests;

/// <summary>A server fed by the load generator (a national day, HTTP and MLLP), and Debian's Chromium driven by
/// Playwright, shared by the console's tests.</summary>
public sealed class ConsoleFixture : IAsyncLifetime
{
    public const string Token = "console-operator-token-0123";

    public SidepTestServer Server { get; private set; } = null!;
    public IPlaywright Playwright { get; private set; } = null!;
    public IBrowser Browser { get; private set; } = null!;

    /// <summary>Where the screenshots go (test artefacts): $SIDEP_TEST_ARTIFACTS, else artifacts/console beside the tests' output.</summary>
    public string Artifacts { get; } = Directory.CreateDirectory(Environment.GetEnvironmentVariable("SIDEP_TEST_ARTIFACTS") is { Length: > 0 } dir
        ? Path.Combine(dir, "console") : Path.Combine(AppContext.BaseDirectory, "artifacts", "console")).FullName;

    public async Task InitializeAsync()
    {
        Server = await SidepTestServer.StartAsync(o => o with { OperatorToken = Token });
        var workload = new WorkloadOptions { Results = 4_000, Labs = 80, Seed = 21 };
        SeedHistory(Workload.Generate(workload));
        var drive = new DriveOptions(Server.Http, Token) { MllpPort = Server.MllpPort, Concurrency = 2, MllpConnections = 2, ProgressInterval = TimeSpan.FromMinutes(5) };
        int exit = await LoadGenerator.RunAsync(workload, drive, TextWriter.Null, CancellationToken.None);
        Assert.Equal(0, exit);
        Playwright = await Microsoft.Playwright.Playwright.CreateAsync();
        Browser = await Playwright.Chromium.LaunchAsync(new BrowserTypeLaunchOptions
        {
            ExecutablePath = "/usr/bin/chromium",
            Headless = true,
            // This machine's network is closed: Chromium's own background connections would be refused, many at a time.
            Args = ["--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run", "--disable-background-networking", "--disable-component-update", "--disable-sync"],
        });
    }

    /// <summary>A lab that sent 10 results an hour, day and night, for four weeks, and nothing for the last 3 hours.</summary>
    public const string SilentLab = "990000077";

    /// <summary>Four weeks of history before the load: each of the workload's labs sent its day's volume spread over
    /// every hour (so that it is judged whatever the hour the test runs), up to an hour ago; and a lab that fell silent.</summary>
    private void SeedHistory(Workload workload)
    {
        var daily = workload.Labs.ToDictionary(l => l.Finess, _ => 0.0);
        workload.Http.ForEach(h => daily[h.Lab.Finess] += h.Results);
        workload.Mllp.ForEach(m => daily[m.Lab.Finess] += m.Messages.Count);
        Server.Labs.AddLab(SilentLab, "LABORATOIRE SILENCIEUX", ["SILENT-LAB"], []);
        daily[SilentLab] = 240;
        long now = LabHour.HourOf(DateTimeOffset.UtcNow);
        var rows = new List<LabHour>();
        foreach ((string lab, double volume) in daily)
        {
            int perHour = Math.Max(1, (int)Math.Round(volume / 24));
            for (long h = now - 28 * 24; h < now - (lab == SilentLab ? 3 : 1); h++)
            {
                rows.Add(new LabHour(lab, h, perHour, perHour, 0, 0, 0, LabHour.StartOf(h).AddMinutes(59)));
            }
        }
        ((ILabActivityLog)Server.Labs).AddActivity(rows, []);
    }

    public HttpClient Operator()
    {
        HttpClient client = Server.Client(null);
        client.DefaultRequestHeaders.Add("X-Operator-Token", Token);
        return client;
    }

    /// <summary>A page of the console opened, signed in with the operator token, and drawn.</summary>
    public async Task<IPage> OpenAsync(string path)
    {
        IPage page = await Browser.NewPageAsync(new BrowserNewPageOptions { ViewportSize = new ViewportSize { Width = 1400, Height = 1500 } });
        var errors = new List<string>();
        page.PageError += (_, e) => errors.Add(e);
        await page.GotoAsync(new Uri(Server.Http, path).ToString());
        await page.FillAsync("#login input", Token);
        await page.ClickAsync("#login button");
        await page.WaitForFunctionAsync("() => window.sidep && window.sidep.ready === true", null, new PageWaitForFunctionOptions { Timeout = 30_000 });
        Assert.Empty(errors);
        return page;
    }

    public async Task DisposeAsync()
    {
        await Browser.DisposeAsync();
        Playwright.Dispose();
        await Server.DisposeAsync();
    }
}

public sealed class ConsoleTests(ConsoleFixture fixture) : IClassFixture<ConsoleFixture>
{
    [Fact]
    public async Task The_indicators_page_draws_the_curves_with_the_APIs_values_and_colours_the_map_by_incidence()
    {
        IPage page = await fixture.OpenAsync("/console/");
        Assert.True(await page.Locator("#rates-chart canvas").CountAsync() == 1 && await page.Locator("#daily-chart canvas").CountAsync() == 1);

        // The curves hold the API's numbers: France, all ages.
        using HttpClient op = fixture.Operator();
        JsonElement[] rates = [.. (await op.GetFromJsonAsync<JsonElement[]>("/v1/indicators/fra/rates.json"))!.Where(r => r.GetProperty("cl_age90").GetString() == "0")];
        Assert.NotEmpty(rates);
        string plotted = await page.EvaluateAsync<string>("() => JSON.stringify(window.sidep.plotted.rates.map(r => [r.jour, r.tx_incid, r.tx_pos, r.tx_dep]))");
        Assert.Equal(JsonSerializer.Serialize(rates.Select(r => new object?[] { r.GetProperty("jour").GetString(), Number(r, "tx_incid"), Number(r, "tx_pos"), Number(r, "tx_dep") })),
            plotted);

        // The map: each département coloured by its incidence on the day shown, as the API has it.
        string day = await page.EvaluateAsync<string>("() => window.sidep.mapDay");
        JsonElement[] deps = [.. (await op.GetFromJsonAsync<JsonElement[]>($"/v1/indicators/dep/rates.json?from={day}&to={day}"))!
            .Where(r => r.GetProperty("cl_age90").GetString() == "0" && r.GetProperty("tx_incid").ValueKind == JsonValueKind.Number)];
        JsonElement highest = deps.MaxBy(r => r.GetProperty("tx_incid").GetDouble());
        string dep = highest.GetProperty("dep").GetString()!;
        Assert.True(highest.GetProperty("tx_incid").GetDouble() > 0, "the workload's day has positives somewhere");
        ILocator path = page.Locator($"#map path[data-dep='{dep}']");
        Assert.Equal(highest.GetProperty("tx_incid").GetDouble(), double.Parse((await path.GetAttributeAsync("data-incidence"))!, CultureInfo.InvariantCulture));
        string fill = await path.EvaluateAsync<string>("p => getComputedStyle(p).fill");
        Assert.NotEqual("rgb(228, 231, 236)", fill); // the colour of a département without data
        Assert.Equal(101, await page.Locator("#map path.dep").CountAsync()); // 96 metropolitan and 5 overseas départements
        // Freshness: one row per recent day.
        Assert.Equal(14, await page.Locator("#freshness tbody tr").CountAsync());
        await page.ScreenshotAsync(new PageScreenshotOptions { Path = Path.Combine(fixture.Artifacts, "indicators.png"), FullPage = true });
    }

    private static double? Number(JsonElement row, string name) => row.GetProperty(name).ValueKind == JsonValueKind.Number ? row.GetProperty(name).GetDouble() : null;

    [Fact]
    public async Task The_labs_page_lists_every_lab_with_its_state()
    {
        IPage page = await fixture.OpenAsync("/console/labs.html");
        using HttpClient op = fixture.Operator();
        using JsonDocument health = JsonDocument.Parse(await op.GetStringAsync("/v1/labs/health"));
        string[] states = [.. health.RootElement.GetProperty("labs").EnumerateArray().Select(l => l.GetProperty("state").GetString()!)];
        Assert.Equal(states.Length, await page.Locator("#labs tbody tr").CountAsync());
        Assert.Equal(states, await page.Locator("#labs tbody .badge").AllTextContentsAsync());
        // The lab that fell silent comes first, flagged; the labs that sent today's load are not flagged.
        Assert.Equal(("silent", ConsoleFixture.SilentLab), (states[0], await page.Locator("#labs tbody .badge").First.GetAttributeAsync("data-lab")));
        Assert.Equal(1, states.Count(s => s is "silent" or "dropping"));
        await page.ScreenshotAsync(new PageScreenshotOptions { Path = Path.Combine(fixture.Artifacts, "labs.png") });
    }

    [Fact]
    public async Task The_operations_page_shows_each_stage_with_its_lag()
    {
        IPage page = await fixture.OpenAsync("/console/operations.html");
        using HttpClient op = fixture.Operator();
        using JsonDocument pipeline = JsonDocument.Parse(await op.GetStringAsync("/v1/pipeline"));
        string[] stages = [.. pipeline.RootElement.GetProperty("stages").EnumerateArray().Select(s => s.GetProperty("stage").GetString()!)];
        Assert.Equal(stages, await page.Locator("#stages tbody tr td:first-child").AllTextContentsAsync());
        // The load's invalid items, by reason, as the API counts them.
        using JsonDocument operations = JsonDocument.Parse(await op.GetStringAsync("/v1/pipeline/operations"));
        string[] reasons = [.. operations.RootElement.GetProperty("rejections").EnumerateArray().Select(r => r.GetProperty("reason").GetString()!)];
        Assert.NotEmpty(reasons);
        Assert.Equal(reasons, await page.Locator("#reasons tbody tr td:first-child").AllTextContentsAsync());
        await page.ScreenshotAsync(new PageScreenshotOptions { Path = Path.Combine(fixture.Artifacts, "operations.png"), FullPage = true });
    }

    [Fact]
    public async Task The_API_reference_page_renders_the_OpenAPI_document()
    {
        IPage page = await fixture.Browser.NewPageAsync();
        await page.GotoAsync(new Uri(fixture.Server.Http, "/docs/").ToString());
        await page.GetByText("/v1/submissions").First.WaitForAsync(new LocatorWaitForOptions { Timeout = 30_000 });
        await page.ScreenshotAsync(new PageScreenshotOptions { Path = Path.Combine(fixture.Artifacts, "docs.png") });
    }

    [Fact]
    public async Task Every_mapped_endpoint_is_in_the_OpenAPI_document()
    {
        using HttpClient client = fixture.Server.Client(null);
        using JsonDocument document = JsonDocument.Parse(await client.GetStringAsync("/openapi/v1.json"));
        JsonElement paths = document.RootElement.GetProperty("paths");
        var mapped = fixture.Server.Services.GetRequiredService<EndpointDataSource>().Endpoints.OfType<RouteEndpoint>()
            .Where(e => e.RoutePattern.RawText?.StartsWith("/v1/", StringComparison.Ordinal) == true).ToList();
        Assert.True(mapped.Count > 20);
        foreach (RouteEndpoint endpoint in mapped)
        {
            string path = ApiDescriptions.DocumentPath(endpoint.RoutePattern.RawText!);
            Assert.True(paths.TryGetProperty(path, out JsonElement operations), $"{path} is not in the OpenAPI document");
            foreach (string method in endpoint.Metadata.OfType<Microsoft.AspNetCore.Routing.HttpMethodMetadata>().SelectMany(m => m.HttpMethods))
            {
                Assert.True(operations.TryGetProperty(method.ToLowerInvariant(), out JsonElement operation), $"{method} {path} is not in the OpenAPI document");
                // Described: what it does, who may call it, and what it answers besides success.
                Assert.False(string.IsNullOrWhiteSpace(operation.GetProperty("summary").GetString()), $"{method} {path} has no summary");
                string description = operation.GetProperty("description").GetString()!;
                Assert.True(description.Contains("X-Operator-Token", StringComparison.Ordinal) || description.Contains("Bearer", StringComparison.Ordinal),
                    $"{method} {path} does not say who may call it");
                Assert.True(operation.GetProperty("responses").EnumerateObject().Any(r => r.Name.StartsWith('4')), $"{method} {path} lists no error answer");
            }
        }
    }
}
