using Microsoft.Extensions.Hosting;
using Microsoft.Extensions.Logging;
using Sidep.Ingestion;
using Sidep.Pipeline;

namespace Sidep.Gateway;

/// <summary>
/// The distributed mode's gateways share the transcoding tables: each follows the changes made through the others
/// (every <see cref="Every"/>), takes the new mappings and replays the quarantined results it holds for them, as the
/// gateway that received the change does at once. At start it first replays what it holds whose code is mapped already
/// (a mapping added while it was down).
/// </summary>
public sealed class TranscodingFollower(ILabRegister labs, IngestionService ingestion, long mark, ILogger<TranscodingFollower> logger) : BackgroundService
{
    public static readonly TimeSpan Every = TimeSpan.FromSeconds(2);

    protected override async Task ExecuteAsync(CancellationToken stoppingToken)
    {
        bool started = false;
        using var timer = new PeriodicTimer(Every);
        do
        {
            try
            {
                if (!started)
                {
                    await ingestion.ReplayMappedAsync(stoppingToken).ConfigureAwait(false);
                    started = true;
                }
                List<TranscodingChange> changes = await Task.Run(() => labs.TranscodingChangedAfter(mark), stoppingToken).ConfigureAwait(false);
                foreach (IGrouping<string, TranscodingChange> lab in changes
                    .Where(c => ingestion.Terminology.Map(c.Lab, c.Row.LocalCode) != c.Row.Loinc).GroupBy(c => c.Lab))
                {
                    int replayed = await ingestion.MapAndReplayAsync(lab.Key, [.. lab.Select(c => c.Row)], stoppingToken).ConfigureAwait(false);
                    logger.LogInformation("transcoding of lab {Lab}: {Mappings} mappings taken from another gateway, {Replayed} quarantined results replayed",
                        lab.Key, lab.Count(), replayed);
                }
                if (changes.Count > 0)
                {
                    mark = changes[^1].Mark;
                }
            }
            catch (Exception ex) when (ex is not OperationCanceledException)
            {
                // Tried again at the next tick: a mapping is taken late, never lost.
                logger.LogWarning("the transcoding tables could not be followed now ({Error}); trying again in {Every} s", ex.GetType().Name, Every.TotalSeconds);
            }
        }
        while (await timer.WaitForNextTickAsync(stoppingToken).ConfigureAwait(false));
    }
}
