using System.Text.Json;
using Sidep.Domain;
using Sidep.Identity;
using Sidep.Indicators;
using Sidep.Pipeline;
using Sidep.Transport;

namespace Sidep.Ingestion;

/// <summary>The identity index as the gateway asks it (the prior-positive question, the review queue, oppositions):
/// served by the identity stage when it runs in the gateway's process and holds every partition of its input.</summary>
public interface IPersonIndex
{
    /// <summary>The person a (possibly merged) id designates now.</summary>
    long Current(long personId);

    /// <summary>The person an identity designates (INS, same or similar traits), without recording it.</summary>
    long? Find(PatientIdentity identity);
}

/// <summary>
/// MATCH: one identity matcher per partition of <see cref="StageTopics.Results"/> (all the candidates of a person are on
/// its partition), person ids made unique across partitions (the partition in the high bits), decisions (person id,
/// rule, score, the fields compared — nothing nominative) and merges in the store, matched results and merges on
/// <see cref="StageTopics.Matched"/> keyed by the same partition key with the fact the indicators count. In the embedded
/// mode the results topic is the journal in its global order, one partition: one matcher sees every result, so a
/// result whose birth date or sex was mistyped is linked by its INS across blocks. In the distributed mode such links
/// across partitions are not made yet (see the README).
/// </summary>
public sealed class IdentityStage(IStageTransport transport, IIdentityStore store, Terminology terminology, bool sandbox = true,
    string group = "sidep-match")
    : StageRunner<IdentityStage.MatcherState, IIdentityStore>(transport, store, StageTopics.Results, group, ConsumerName), IPersonIndex
{
    public const string ConsumerName = "identity";

    /// <summary>The test kinds, as one delegate (a method group passed on would make one per result).</summary>
    private readonly Func<string?, TestKind> _kindOf = terminology.KindOf;

    public sealed class MatcherState(int partition) : State
    {
        public Matcher Matcher { get; } = new();

        /// <summary>Held while the matcher changes, and by readers of the index.</summary>
        public Lock Sync { get; } = new();

        /// <summary>A person id unique across partitions: the partition in the high bits (the matcher numbers from 1, so
        /// the embedded mode's one partition keeps the matcher's own numbers).</summary>
        public long Global(long local) => ((long)partition << 32) | local;
    }

    internal static int PartitionOfPerson(long personId) => (int)(personId >> 32);

    internal static long Local(long personId) => personId & 0xFFFF_FFFF;

    protected override MatcherState NewState(int partition) => new(partition);

    protected override void Replay(MatcherState state, IReadOnlyList<IncomingMessage> messages) => Replay(state, messages, sandbox);

    /// <summary>Matches results already processed, writing nothing: the partition's matcher as it was after them (a
    /// restore; the gateway's copy of the index in the distributed mode). An unreadable message is skipped, as the
    /// stage skips it (to the dead-letter topic).</summary>
    public static void Replay(MatcherState state, IEnumerable<IncomingMessage> messages, bool sandbox)
    {
        foreach (IncomingMessage m in messages)
        {
            if (ResultEnvelopes.Read(m.Payload.Span, out _) is ResultEnvelope envelope)
            {
                lock (state.Sync)
                {
                    state.Matcher.Match(envelope.Result.Patient, sandbox);
                }
            }
        }
    }

    /// <summary>How many persons the held partitions know.</summary>
    public int PersonCount => HeldStates().Sum(s => s.State.Matcher.PersonCount);

    public long Current(long personId)
    {
        int partition = PartitionOfPerson(personId);
        foreach ((int p, MatcherState state) in HeldStates())
        {
            if (p == partition)
            {
                lock (state.Sync)
                {
                    return state.Global(state.Matcher.Current(Local(personId)));
                }
            }
        }
        return personId;
    }

    public long? Find(PatientIdentity identity)
    {
        foreach ((int _, MatcherState state) in HeldStates())
        {
            lock (state.Sync)
            {
                if (state.Matcher.Find(identity, sandbox) is long local)
                {
                    return state.Global(local);
                }
            }
        }
        return null;
    }

    protected override async Task ProcessAsync(int partition, MatcherState state, IReadOnlyList<IncomingMessage> messages, long next,
        CancellationToken cancellationToken)
    {
        var poison = new List<(IncomingMessage, string)>();
        var rows = new List<MatchRow>(messages.Count);
        var merges = new List<(long From, long Into)>();
        var output = new List<OutgoingMessage>(messages.Count);
        Matcher matcher = state.Matcher;
        foreach (IncomingMessage m in messages)
        {
            if (ResultEnvelopes.Read(m.Payload.Span, out string? unreadable) is not ResultEnvelope envelope)
            {
                poison.Add((m, unreadable!));
                continue;
            }
            int mergesBefore;
            MatchDecision local;
            Traits traits;
            lock (state.Sync)
            {
                mergesBefore = matcher.Merges.Count;
                local = matcher.Match(envelope.Result.Patient, sandbox, out traits);
            }
            MatchDecision decision = local with
            {
                PersonId = state.Global(local.PersonId),
                CandidateId = local.CandidateId is long c ? state.Global(c) : null,
                MergedPersonIds = local.MergedPersonIds?.Select(state.Global).ToList(),
            };
            string from = StageTopics.FromOf(partition, m.Offset);
            ResultKey key = envelope.Result.Key;
            rows.Add(new MatchRow(key.LabId, key.AccessionId, key.TestCode, envelope.Version, decision.PersonId, decision.Rule.ToString(),
                decision.Score, JsonSerializer.Serialize(decision, SidepJson.Default.MatchDecision)));
            for (int i = mergesBefore; i < matcher.Merges.Count; i++)
            {
                MergeEvent merge = matcher.Merges[i];
                (long into, long gone) = (state.Global(merge.Into), state.Global(merge.From));
                merges.Add((gone, into));
                output.Add(new OutgoingMessage(m.Key, JsonSerializer.SerializeToUtf8Bytes(new PersonMerge(m.Offset, gone, into, merge.Reason), SidepJson.Default.PersonMerge),
                    new Dictionary<string, string> { [StageTopics.Kind] = "merged", [StageTopics.From] = from }));
            }
            UInt128 fingerprint = key.Fingerprint(); // once for both facts
            IndicatorFact? fact = Facts.From(envelope.Result, envelope.Version, decision.PersonId, envelope.ReceivedAt, _kindOf, fingerprint) is IndicatorFact counted
                // SPF's 2021 person key rides along, for indicators counted by it (--person-key spf2021).
                ? counted with { Spf2021 = PersonKeys.Spf2021(traits, envelope.Result.Patient.BirthDate, DateOnly.FromDayNumber(counted.Day)) }
                : null;
            ResearchFact research = ResearchSink.Fact(envelope.Result, envelope.Version, decision.PersonId, envelope.ReceivedAt, _kindOf, fingerprint);
            output.Add(new OutgoingMessage(m.Key, MatchedRecords.Encode(m.Offset, decision.PersonId, decision.Rule.ToString(), decision.Score,
                // Only a positive's envelope rides along: the fan-out makes cases of positives and reads nothing else.
                fact is not { Outcome: Outcome.Positive } ? [] : ResultRecords.IsBinary(m.Payload.Span) ? ResultRecords.EnvelopeBytes(m.Payload.Span) : ResultEnvelopeCodec.Encode(envelope),
                fact, research),
                new Dictionary<string, string> { [StageTopics.Kind] = "matched", [StageTopics.From] = from }));
        }
        if (output.Count > 0)
        {
            await Transport.PublishAsync(StageTopics.Matched, output, cancellationToken).ConfigureAwait(false);
        }
        // Before the store write, like the output: a crash in between dead-letters them again (at least once) rather than lose them.
        foreach ((IncomingMessage m, string reason) in poison)
        {
            await Transport.PublishAsync(TransportHeaders.DeadLetterTopic(StageTopics.Results), [TransportHeaders.DeadLetter(m, reason)], cancellationToken).ConfigureAwait(false);
        }
        Store.ApplyMatches(PositionName(partition), next, rows, merges);
    }
}
