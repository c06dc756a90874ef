using Sidep.Ingestion;
using Sidep.Domain;
using Sidep.Pipeline;

namespace Sidep.Gateway;

/// <summary>
/// How far behind the pipeline is (embedded: the stages' in-memory positions, no I/O; distributed: the stored
/// positions against the topics' ends, read once a second): the gateway slows senders when a
/// stage falls more than <see cref="GatewayOptions.MaxLag"/> results behind its input, instead of letting the backlog
/// grow — 503 with Retry-After on HTTP, a held acknowledgement on MLLP.
/// </summary>
public sealed class Backpressure(IPipelineView pipeline, GatewayOptions options)
{
    /// <summary>The largest lag of a stage behind its input, in results.</summary>
    public long Lag => pipeline.Lag;

    public bool Overloaded => Lag > options.MaxLag;

    /// <summary>A sender's wait before retrying: about the time the stages need to catch up, between 1 and 60 s.</summary>
    public int RetryAfterSeconds => (int)Math.Clamp((Lag - options.MaxLag) / 5_000 + 1, 1, 60);

    /// <summary>Waits (MLLP) until the pipeline is below the limit again, checking every 100 ms.</summary>
    public async Task WaitAsync(CancellationToken cancellationToken)
    {
        while (Overloaded && !cancellationToken.IsCancellationRequested)
        {
            await Task.Delay(100, cancellationToken).ConfigureAwait(false);
        }
    }
}
