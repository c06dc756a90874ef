using Sidep.Ingestion;
using Sidep.Journal;
using Sidep.Pipeline;
using Sidep.Transport;

namespace Sidep.Ingestion.Tests;

/// <summary>The stages as `sidep serve` runs them in the embedded mode: over the in-process transport whose results
/// topic is the journal itself, and a store; drained by hand.</summary>
internal sealed class EmbeddedStages : IAsyncDisposable
{
    /// <summary>The research sink's keys in every test that runs it.</summary>
    public static readonly Pseudonyms ResearchKeys = Pseudonyms.Parse("k1=" + new string('s', 32));

    private readonly List<IStageWorker> _stages = [];

    public EmbeddedStages(EmbeddedLog journal, string directory, IStageStore store, Terminology? terminology = null, string? researchDirectory = null)
    {
        Transport = new InProcessTransport(Path.Combine(directory, "pipeline"), partitions: 1, new Dictionary<string, EmbeddedLog> { [StageTopics.Results] = journal });
        Store = store;
        Terminology = terminology ?? Terminology.CreateNational();
        ResearchDirectory = researchDirectory ?? Path.Combine(directory, "research");
    }

    public InProcessTransport Transport { get; }

    public IStageStore Store { get; }

    public Terminology Terminology { get; }

    public string ResearchDirectory { get; }

    public T Add<T>(T stage) where T : IStageWorker
    {
        _stages.Add(stage);
        return stage;
    }

    public IdentityStage Identity() => Add(new IdentityStage(Transport, Store, Terminology) { KeepsEveryPartition = true });

    public IndicatorStage Indicators() => Add(new IndicatorStage(Transport, Store, Terminology));

    public FanOutStage FanOut() => Add(new FanOutStage(Transport, Store, Terminology));

    public ResearchStage Research() => Add(new ResearchStage(Transport, Store, Terminology, ResearchKeys, ResearchDirectory));

    /// <summary>Every stage of the pipeline.</summary>
    public EmbeddedStages All()
    {
        Identity();
        Indicators();
        FanOut();
        Research();
        return this;
    }

    /// <summary>Drains every stage added, in order, until a round moves nothing; returns how many messages moved.</summary>
    public async Task<int> DrainAsync()
    {
        int total = 0;
        while (true)
        {
            int moved = 0;
            foreach (IStageWorker stage in _stages)
            {
                moved += await stage.DrainOnceAsync(TimeSpan.FromMilliseconds(1), 10_000);
            }
            if (moved == 0)
            {
                return total;
            }
            total += moved;
        }
    }

    public async ValueTask DisposeAsync()
    {
        _stages.ForEach(s => s.Dispose());
        await Transport.DisposeAsync();
    }
}
