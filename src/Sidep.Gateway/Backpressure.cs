using Sidep.Ingestion;
using Sidep.Storage.Embedded;

namespace Sidep.Gateway;

/// <summary>
/// How far behind the pipeline is, from the stages' in-memory positions (no I/O): the gateway slows senders when a
/// stage falls more than <see cref="GatewayOptions.MaxLag"/> results behind its input, instead of letting the backlog
/// grow — 503 with Retry-After on HTTP, a held acknowledgement on MLLP.
/// </summary>
public sealed class Backpressure(EmbeddedLog log, MatchedLog matched, IdentityStage identity, IndicatorStage indicators, FanOutStage fanOut,
    ResearchStage research, GatewayOptions options)
{
    /// <summary>The largest lag of a stage behind its input, in results.</summary>
    public long Lag
    {
        get
        {
            long results = log.OrderedCount, matchedCount = matched.Log.OrderedCount;
            return Math.Max(results - identity.Position,
                Math.Max(matchedCount - indicators.Position, Math.Max(matchedCount - fanOut.Position, matchedCount - research.Position)));
        }
    }

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
