using System.Net.Http.Headers;
using System.Net.Http.Json;
using System.Text.Json;
using Sidep.Ingestion;
using Sidep.Storage.Postgres;
using Sidep.Storage.Tests;
using Sidep.Transport.Kafka;

namespace Sidep.Gateway.Tests;

/// <summary>
/// The distributed mode scaled out on this machine: two gateways (gateway role) and two workers per stage sharing each
/// stage's consumer group, on one Kafka cluster and one PostgreSQL. The submissions go through both gateways at once,
/// some sent again through the other; mid-run one worker of every stage and one gateway are stopped (the senders go on
/// through the other gateway, as a load balancer would send them). In the end every result is accounted for and the
/// published tables, cases and research rows equal the embedded mode's.
/// </summary>
public sealed class ScaleTests(KafkaCluster kafka, PostgresCluster postgres) : IClassFixture<KafkaCluster>, IClassFixture<PostgresCluster>
{
    private sealed class Worker(string stage, IStageWorker worker, KafkaTransport transport)
    {
        private readonly CancellationTokenSource _stop = new();
        private Task? _running;

        public string Stage { get; } = stage;

        public void Start() => _running = Task.Run(() => worker.RunAsync(_stop.Token));

        public async Task StopAsync()
        {
            await _stop.CancelAsync();
            try
            {
                await _running!;
            }
            catch (OperationCanceledException)
            {
            }
            worker.Dispose();
            await transport.DisposeAsync();
        }
    }

    [Fact]
    public async Task Two_gateways_and_two_workers_per_stage_with_one_of_each_stopped_mid_run_publish_what_the_embedded_mode_does()
    {
        DistributedServeTests.Run embedded = await DistributedServeTests.RunAsync(null);

        string database = await postgres.NewDatabaseAsync();
        using PostgresStore store = PostgresStore.Open(database);
        DirectoryInfo researchDir = Directory.CreateTempSubdirectory("sidep-scale-research-");
        Pseudonyms keys = Pseudonyms.Parse("k1=" + new string('s', 32));
        var workers = new List<Worker>();
        foreach (string stage in Stages.Names)
        {
            for (int i = 0; i < 2; i++)
            {
                var transport = new KafkaTransport(kafka.Bootstrap);
                workers.Add(new Worker(stage, Stages.Create(stage, transport, store, Terminology.CreateNational(), sandbox: true, keys, researchDir.FullName), transport));
            }
        }
        await using GatewayRole gatewayA = await GatewayRole.StartAsync(kafka.Bootstrap, database, DistributedServeTests.Token);
        await using GatewayRole gatewayB = await GatewayRole.StartAsync(kafka.Bootstrap, database, DistributedServeTests.Token);
        SidepTestServer a = gatewayA.Server, b = gatewayB.Server;
        bool bStopped = false;
        try
        {
            workers.ForEach(w => w.Start());
            string apiKey = a.Labs.AddLab("990000001", "Demo", DistributedServeTests.Facilities(), []);
            using HttpClient viaA = a.Client(apiKey), viaB = b.Client(apiKey);

            // Sends through one gateway; when it does not answer (stopped), through the other, as a load balancer does.
            async Task<JsonElement?> SendAsync(HttpClient first, (string Format, byte[] Body) submission)
            {
                HttpClient[] order = first == viaA ? [viaA, viaB] : bStopped ? [viaA] : [viaB, viaA];
                foreach (HttpClient client in order)
                {
                    try
                    {
                        using var content = new ByteArrayContent(submission.Body);
                        content.Headers.ContentType = new MediaTypeHeaderValue(Formats.MediaTypeOf(submission.Format));
                        using HttpResponseMessage response = await client.PostAsync("/v1/submissions", content);
                        if ((int)response.StatusCode is 201 or 200 or 422)
                        {
                            return JsonDocument.Parse(await response.Content.ReadAsStringAsync()).RootElement.Clone();
                        }
                    }
                    catch (HttpRequestException)
                    {
                    }
                }
                return null;
            }

            // Two streams at once, each through both gateways in turn: the corpus, and the synthetic workload (their
            // persons apart). Within a stream the order is kept, as one lab's software keeps it: a person's results
            // reaching two gateways at the same moment have no order, and neither mode could promise the same matches.
            (string Format, byte[] Body)[] corpus = [.. Workload.Corpus()];
            (string Format, byte[] Body)[] synthetic = [.. DistributedServeTests.Submissions().Skip(corpus.Length)];
            int total = corpus.Length + synthetic.Length, sent = 0, resent = 0;
            var stopping = new SemaphoreSlim(1, 1);
            async Task StreamAsync((string Format, byte[] Body)[] stream, int shift, int seed)
            {
                var random = new Random(seed);
                for (int i = 0; i < stream.Length; i++)
                {
                    if (Interlocked.Increment(ref sent) >= total / 2 && !bStopped)
                    {
                        await stopping.WaitAsync();
                        try
                        {
                            if (!bStopped)
                            {
                                // Mid-run: one worker of every stage goes, and gateway B with it (its partitions and its
                                // senders move).
                                foreach (IGrouping<string, Worker> stage in workers.GroupBy(w => w.Stage))
                                {
                                    await stage.First().StopAsync();
                                }
                                workers = [.. workers.GroupBy(w => w.Stage).Select(g => g.Last())];
                                bStopped = true;
                                await gatewayB.StopAsync();
                            }
                        }
                        finally
                        {
                            stopping.Release();
                        }
                    }
                    Assert.NotNull(await SendAsync((i + shift) % 2 == 0 ? viaA : viaB, stream[i]));
                    // Some sent again through the other gateway, as a lab does after a lost acknowledgement: nothing new.
                    if (random.NextDouble() < 0.2)
                    {
                        JsonElement? again = await SendAsync((i + shift) % 2 == 0 ? viaB : viaA, stream[i]);
                        int stored = again!.Value.TryGetProperty("counts", out JsonElement counts) ? counts.GetProperty("accepted").GetInt32() + counts.GetProperty("correction").GetInt32() : 0;
                        Assert.Equal(0, stored);
                        Interlocked.Increment(ref resent);
                    }
                }
            }
            await Task.WhenAll(Task.Run(() => StreamAsync(corpus, 0, 17)), Task.Run(() => StreamAsync(synthetic, 1, 18)));
            Assert.True(resent > 0);

            using HttpClient op = a.Client(null);
            op.DefaultRequestHeaders.Add("X-Operator-Token", DistributedServeTests.Token);
            DateTime until = DateTime.UtcNow + TimeSpan.FromSeconds(180);
            long results;
            while (true)
            {
                using JsonDocument pipeline = JsonDocument.Parse(await op.GetStringAsync("/v1/pipeline"));
                results = pipeline.RootElement.GetProperty("results").GetInt64();
                if (pipeline.RootElement.GetProperty("caughtUp").GetBoolean() && store.DirtyResearchDates(1).Count == 0)
                {
                    break;
                }
                Assert.True(DateTime.UtcNow < until, $"the pipeline did not catch up within 180 s: {pipeline.RootElement}");
                await Task.Delay(300);
            }
            // The oppositions the embedded run recorded after its stream, here too.
            foreach (object opposition in DistributedServeTests.Oppositions())
            {
                Assert.Equal(System.Net.HttpStatusCode.Created, (await op.PostAsJsonAsync("/v1/oppositions", opposition)).StatusCode);
            }
            while (store.DirtyResearchDates(1).Count > 0)
            {
                Assert.True(DateTime.UtcNow < until, "the research partitions were not written again after the oppositions");
                await Task.Delay(100);
            }
            // Every result the embedded mode stored, stored once; the same tables, cases and research rows.
            Assert.Equal(embedded.Results, results);
            foreach ((string level, string table) in embedded.Tables)
            {
                Assert.Equal(table, await op.GetStringAsync($"/v1/indicators/{level}/daily.csv"));
            }
            embedded.Stored.AssertEqual(Workload.Outcome(store, researchDir.FullName));
        }
        finally
        {
            foreach (Worker worker in workers)
            {
                await worker.StopAsync();
            }
            researchDir.Delete(recursive: true);
        }
    }
}
