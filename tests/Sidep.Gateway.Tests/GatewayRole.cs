using Sidep.Ingestion;
using Sidep.Storage.Postgres;
using Sidep.Transport.Kafka;

using Sidep.Host;

namespace Sidep.Gateway.Tests;

/// <summary>A gateway of the distributed mode (the gateway role, no stages) on a Kafka cluster and a PostgreSQL
/// database, with its own Kafka client, store connection and shared index, as `sidep gateway` builds them.</summary>
internal sealed class GatewayRole : IAsyncDisposable
{
    private readonly KafkaTransport _transport;
    private readonly PostgresStore _store;
    private readonly PostgresKeyIndex _index;
    private bool _stopped;

    private GatewayRole(SidepTestServer server, KafkaTransport transport, PostgresStore store, PostgresKeyIndex index)
    {
        Server = server;
        _transport = transport;
        _store = store;
        _index = index;
    }

    public SidepTestServer Server { get; }

    public static async Task<GatewayRole> StartAsync(string bootstrap, string database, string operatorToken)
    {
        var transport = new KafkaTransport(bootstrap);
        var store = PostgresStore.Open(database);
        PostgresKeyIndex index = await PostgresKeyIndex.OpenAsync(database, new TransportJournal(transport));
        SidepTestServer server = await SidepTestServer.StartAsync(o => o with { OperatorToken = operatorToken, MllpPort = -1, RunStages = false },
            distributed: new DistributedBackends(transport, store, index, store, index));
        return new GatewayRole(server, transport, store, index);
    }

    /// <summary>Stops the server (its senders must go elsewhere); its backends are closed with it.</summary>
    public async Task StopAsync()
    {
        if (!_stopped)
        {
            _stopped = true;
            await Server.DisposeAsync();
        }
    }

    public async ValueTask DisposeAsync()
    {
        await StopAsync();
        _index.Dispose();
        _store.Dispose();
        await _transport.DisposeAsync();
    }
}
