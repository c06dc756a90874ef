using System.Buffers;
using System.Collections.Concurrent;
using System.Diagnostics;
using System.Globalization;
using System.Net.Http.Headers;
using System.Text;
using Microsoft.Extensions.Logging;
using Sidep.Domain;
using Sidep.Ingestion;
using Sidep.Parsing;
using Sidep.Parsing.Hl7v2;
using Sidep.Tests;

namespace Sidep.Gateway.Tests;

public class LeakTests
{
    /// <summary>Every log message, with its exception, as written.</summary>
    private sealed class CapturingLogs : ILoggerProvider
    {
        public ConcurrentQueue<string> Lines { get; } = new();

        public ILogger CreateLogger(string categoryName) => new Logger(this, categoryName);

        public void Dispose()
        {
        }

        private sealed class Logger(CapturingLogs owner, string category) : ILogger
        {
            public IDisposable? BeginScope<TState>(TState state) where TState : notnull
            {
                owner.Lines.Enqueue($"{category} scope: {state}");
                return null;
            }

            public bool IsEnabled(LogLevel logLevel) => true;

            public void Log<TState>(LogLevel logLevel, EventId eventId, TState state, Exception? exception, Func<TState, Exception?, string> formatter) =>
                owner.Lines.Enqueue($"{category} {logLevel}: {formatter(state, exception)} {exception}");
        }
    }

    /// <summary>The identities of the corpus: names, NIR/INS, phones and birth dates in the forms they are written.</summary>
    private static HashSet<string> Identities(IEnumerable<(string Format, byte[] Bytes)> files)
    {
        var found = new HashSet<string>(StringComparer.OrdinalIgnoreCase);
        foreach ((string format, byte[] bytes) in files)
        {
            foreach (ParsedMessage message in Formats.Parse(format, new ReadOnlySequence<byte>(bytes), Hl7ParserOptions.Default).Messages)
            {
                foreach (LabResult result in message.Items.Select(i => i.Result).OfType<LabResult>())
                {
                    PatientIdentity p = result.Patient;
                    foreach (string? name in p.GivenNames.Append(p.BirthName).Append(p.UsedName))
                    {
                        if (name is { Length: >= 4 })
                        {
                            found.Add(name);
                        }
                    }
                    if (p.Ins is { } ins)
                    {
                        found.Add(ins.Matricule);
                    }
                    if (p.Phone is { Length: >= 6 } phone)
                    {
                        found.Add(phone);
                    }
                    if (p.BirthDate is { IsComplete: true } b)
                    {
                        var d = new DateOnly(b.Year, b.Month!.Value, b.Day!.Value);
                        found.Add(d.ToString("yyyyMMdd", CultureInfo.InvariantCulture));
                        found.Add(d.ToString("yyyy-MM-dd", CultureInfo.InvariantCulture));
                        found.Add(d.ToString("dd/MM/yyyy", CultureInfo.InvariantCulture));
                    }
                }
            }
        }
        return found;
    }

    [Fact]
    public async Task No_name_NIR_phone_or_birth_date_of_the_corpus_reaches_logs_traces_metrics_or_error_answers()
    {
        List<(string Format, byte[] Bytes)> corpus =
        [
            .. Fixtures.Hl7Files.Select(f => (Formats.Hl7v2, File.ReadAllBytes(f))),
            .. Fixtures.HprimFiles.Select(f => (Formats.Hprim, File.ReadAllBytes(f))),
            .. Directory.GetFiles(Fixtures.FhirDir, "*.json").OrderBy(f => f, StringComparer.Ordinal).Select(f => (Formats.Fhir, File.ReadAllBytes(f))),
        ];
        HashSet<string> identities = Identities(corpus);
        // Placeholder names of test patients that are also ordinary words of messages ("test OID", "Patient …").
        identities.ExceptWith(["Test", "Patient", "Unknown", "Demo"]);
        Assert.True(identities.Count > 50, $"only {identities.Count} identity values found in the corpus");
        string[] senders = [.. corpus.SelectMany(c => Formats.Parse(c.Format, new ReadOnlySequence<byte>(c.Bytes), Hl7ParserOptions.Default).Messages.SelectMany(m => m.SenderIds)).Distinct()];

        var logs = new CapturingLogs();
        var traces = new ConcurrentQueue<string>();
        using var listener = new ActivityListener
        {
            ShouldListenTo = _ => true,
            Sample = (ref ActivityCreationOptions<ActivityContext> _) => ActivitySamplingResult.AllDataAndRecorded,
            ActivityStopped = a => traces.Enqueue($"{a.Source.Name} {a.DisplayName} {string.Join(' ', a.TagObjects.Select(t => $"{t.Key}={t.Value}"))} " +
                string.Join(' ', a.Events.Select(e => e.Name + string.Join(' ', e.Tags.Select(t => $"{t.Key}={t.Value}")))) + $" {a.StatusDescription}"),
        };
        ActivitySource.AddActivityListener(listener);
        await using SidepTestServer server = await SidepTestServer.StartAsync(o => o with { OperatorToken = "operator-token-for-tests" }, builder =>
        {
            builder.Logging.SetMinimumLevel(LogLevel.Trace);
            builder.Logging.AddProvider(logs);
        });
        using HttpClient lab = server.Client(server.Labs.AddLab("990000001", "Corpus", senders, []));
        var answers = new StringBuilder();
        foreach ((string format, byte[] bytes) in corpus)
        {
            foreach (string accept in new[] { "application/json", Formats.MediaTypeOf(format) })
            {
                var body = new ByteArrayContent(bytes) { Headers = { ContentType = new MediaTypeHeaderValue(Formats.MediaTypeOf(format)) } };
                using var request = new HttpRequestMessage(HttpMethod.Post, "/v1/validate") { Content = body };
                request.Headers.Accept.ParseAdd(accept);
                HttpResponseMessage response = await lab.SendAsync(request);
                string text = await response.Content.ReadAsStringAsync();
                // Errors and warnings are what a lab reads back; accepted items echo nothing of the patient either.
                answers.AppendLine(text);
            }
            await lab.PostAsync("/v1/submissions", new ByteArrayContent(bytes) { Headers = { ContentType = new MediaTypeHeaderValue(Formats.MediaTypeOf(format)) } });
        }
        // Truncated and malformed input, so that errors are produced too.
        foreach ((string format, byte[] bytes) in corpus)
        {
            var cut = new ByteArrayContent(bytes[..(bytes.Length * 2 / 3)]) { Headers = { ContentType = new MediaTypeHeaderValue(Formats.MediaTypeOf(format)) } };
            answers.AppendLine(await (await lab.PostAsync("/v1/validate", cut)).Content.ReadAsStringAsync());
        }
        // The stages log as they consume: wait until they have consumed everything.
        using (HttpClient op = server.Client(null))
        {
            op.DefaultRequestHeaders.Add("X-Operator-Token", "operator-token-for-tests");
            DateTime until = DateTime.UtcNow + TimeSpan.FromSeconds(60);
            while (!System.Text.Json.JsonDocument.Parse(await op.GetStringAsync("/v1/pipeline")).RootElement.GetProperty("caughtUp").GetBoolean())
            {
                Assert.True(DateTime.UtcNow < until, "the pipeline did not catch up within 60 s");
                await Task.Delay(50);
            }
        }
        string metrics = await server.Client("operator-token-for-tests").GetStringAsync("/metrics");

        foreach ((string where, string text) in new[] { ("logs", string.Join('\n', logs.Lines)), ("traces", string.Join('\n', traces)), ("metrics", metrics), ("answers", answers.ToString()) })
        {
            List<string> leaked = [.. identities.Where(id => ContainsWord(text, id))];
            Assert.True(leaked.Count == 0, $"{where} contain identity values: {string.Join(", ", leaked.Take(10))}");
        }
        Assert.NotEmpty(logs.Lines);
        Assert.NotEmpty(traces);
    }

    /// <summary>The value as a whole word (a name inside a longer word, a date inside a longer number, is not it).</summary>
    private static bool ContainsWord(string text, string value)
    {
        for (int at = text.IndexOf(value, StringComparison.OrdinalIgnoreCase); at >= 0; at = text.IndexOf(value, at + 1, StringComparison.OrdinalIgnoreCase))
        {
            bool before = at == 0 || !char.IsLetterOrDigit(text[at - 1]);
            bool after = at + value.Length >= text.Length || !char.IsLetterOrDigit(text[at + value.Length]);
            if (before && after)
            {
                return true;
            }
        }
        return false;
    }
}
