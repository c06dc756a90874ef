using Sidep.Domain;
using Sidep.Transport;

namespace Sidep.Ingestion;

/// <summary>
/// The identity index as the gateway of the distributed mode asks it (the prior-positive question, the review queue,
/// oppositions): a copy of every partition's matcher, made by replaying the results topic partition by partition in
/// its order — the match workers' own input, through the same matcher — so that it numbers persons exactly as they do.
/// It writes nothing and joins no consumer group. Before each answer it reads what the topic gained since the last one,
/// so an answer reflects every result acknowledged before the question. It holds the whole index in the gateway's
/// memory (as the embedded mode's identity stage does), and needs the results topic kept from its start, as the
/// workers' restores do.
/// </summary>
public sealed class PersonIndexFollower(IStageTransport transport, bool sandbox) : IPersonIndex
{
    private readonly Lock _catchUp = new();
    private readonly List<IdentityStage.MatcherState> _states = [];
    private readonly List<long> _next = [];

    /// <summary>Results read from the topic so far.</summary>
    public long Read { get; private set; }

    /// <summary>Reads and matches what the results topic holds beyond what was read.</summary>
    public void CatchUp()
    {
        lock (_catchUp)
        {
            long[] ends = transport.EndOffsets(StageTopics.Results);
            for (int p = 0; p < ends.Length; p++)
            {
                if (p == _states.Count)
                {
                    _states.Add(new IdentityStage.MatcherState(p));
                    _next.Add(0);
                }
                if (ends[p] <= _next[p])
                {
                    continue;
                }
                List<IncomingMessage> fresh = [.. transport.ReadRange(StageTopics.Results, p, _next[p], ends[p])];
                IdentityStage.Replay(_states[p], fresh, sandbox);
                Read += fresh.Count;
                _next[p] = ends[p];
            }
        }
    }

    public long Current(long personId)
    {
        CatchUp();
        int partition = IdentityStage.PartitionOfPerson(personId);
        lock (_catchUp)
        {
            if (partition >= _states.Count)
            {
                return personId;
            }
            IdentityStage.MatcherState state = _states[partition];
            lock (state.Sync)
            {
                return state.Global(state.Matcher.Current(IdentityStage.Local(personId)));
            }
        }
    }

    public long? Find(PatientIdentity identity)
    {
        CatchUp();
        lock (_catchUp)
        {
            foreach (IdentityStage.MatcherState state in _states)
            {
                lock (state.Sync)
                {
                    if (state.Matcher.Find(identity, sandbox) is long local)
                    {
                        return state.Global(local);
                    }
                }
            }
        }
        return null;
    }
}
