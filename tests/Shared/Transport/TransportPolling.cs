using Sidep.Transport;

namespace Sidep.Tests;

/// <summary>Polling a stage consumer the way the transport tests wait: on a condition (so many messages), never a fixed
/// sleep.</summary>
public static class TransportPolling
{
    private static readonly TimeSpan s_patience = TimeSpan.FromSeconds(30);

    /// <summary>Polls until <paramref name="count"/> messages have come, or 30 s have passed; returns what came.</summary>
    public static List<IncomingMessage> PollUntil(IStageConsumer consumer, int count)
    {
        var all = new List<IncomingMessage>();
        DateTime until = DateTime.UtcNow + s_patience;
        while (all.Count < count && DateTime.UtcNow < until)
        {
            all.AddRange(consumer.Poll(1000, TimeSpan.FromMilliseconds(200)));
        }
        return all;
    }
}
