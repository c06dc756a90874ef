using Sidep.Domain;
using Sidep.Pipeline;

namespace Sidep.Ingestion;

/// <summary>
/// The result-key index of one gateway process (the embedded mode, and an offline validator): a dictionary of value
/// types (about 60 bytes a result with the dictionary's slack, no object per entry; fingerprints as <see cref="Hash128"/>), rebuilt from the journal at start and after a failed write.
/// Decisions and the journal's enqueue are made under one lock, so the journal's order is the order of decisions and a
/// duplicate is never acknowledged before the original it duplicates is durable.
/// </summary>
public sealed class JournalKeyIndex : IResultKeyIndex
{
    private readonly IResultJournal? _journal;
    /// <summary>Every result key's versions (millions: in shards, <see cref="ShardedDictionary{TKey, TValue}"/>).</summary>
    private readonly ShardedDictionary<Hash128, Known> _known = new();
    private readonly Lock _lock = new();

    /// <param name="journal">The journal to rebuild from; null for an index that starts empty and keeps nothing.</param>
    public JournalKeyIndex(IResultJournal? journal)
    {
        _journal = journal;
        if (journal is not null)
        {
            Rebuild(journal);
        }
    }

    /// <summary>Result keys known.</summary>
    public int Count
    {
        get
        {
            lock (_lock)
            {
                return _known.Count;
            }
        }
    }

    /// <summary>What the index knows of a result key: its latest version and content, and the contents of its earlier
    /// versions (by version; null while there is one).</summary>
    private readonly record struct Known(Hash128 Content, int Version, Hash128[]? Earlier = null)
    {
        /// <summary>The version whose content this is; 0 when none is.</summary>
        public int VersionOf(UInt128 content)
        {
            if (Version > 0 && Content.Value == content)
            {
                return Version;
            }
            for (int i = 0; Earlier is not null && i < Earlier.Length; i++)
            {
                if (Earlier[i].Value == content && content != UInt128.Zero)
                {
                    return i + 1;
                }
            }
            return 0;
        }

        /// <summary>With version <paramref name="version"/> of this content, in any order (a rebuild reads a key's
        /// versions partition by partition, and a correction may have moved it to another partition).</summary>
        public Known With(int version, UInt128 content)
        {
            if (version > Version)
            {
                Hash128[]? earlier = null;
                if (version > 1)
                {
                    earlier = new Hash128[version - 1];
                    Earlier?.CopyTo(earlier, 0);
                    if (Version > 0)
                    {
                        earlier[Version - 1] = Content;
                    }
                }
                return new Known(content, version, earlier);
            }
            if (version < Version && Earlier is not null)
            {
                var earlier = (Hash128[])Earlier.Clone();
                earlier[version - 1] = content;
                return this with { Earlier = earlier };
            }
            return this;
        }
    }

    private void Rebuild(IResultJournal journal)
    {
        foreach (LogEntry entry in journal.ReadAllResults())
        {
            if (KeyedContent.OfRecord(entry) is ((UInt128 key, UInt128 content), int version))
            {
                _known[key] = (_known.TryGetValue(key, out Known known) ? known : default).With(version, content);
            }
        }
    }

    public Task<KeyAnswer[]> PeekAsync(IReadOnlyList<KeyedContent> items, CancellationToken cancellationToken = default)
    {
        lock (_lock)
        {
            return Task.FromResult(Answer(items, []));
        }
    }

    public async Task<KeyAnswer[]> DecideAsync(IReadOnlyList<KeyedContent> items, Func<KeyAnswer[], Task> journal, CancellationToken cancellationToken = default)
    {
        KeyAnswer[] answers;
        Task durable;
        lock (_lock)
        {
            var pending = new Dictionary<Hash128, Known>();
            answers = Answer(items, pending);
            // Enqueued under the lock: the journal's order is the order of decisions.
            durable = journal(answers);
            foreach ((Hash128 key, Known known) in pending)
            {
                _known[key] = known;
            }
        }
        try
        {
            await durable.WaitAsync(cancellationToken).ConfigureAwait(false);
        }
        catch (Exception ex) when (ex is not OperationCanceledException)
        {
            Forget(ex);
            throw;
        }
        return answers;
    }

    private KeyAnswer[] Answer(IReadOnlyList<KeyedContent> items, Dictionary<Hash128, Known> pending)
    {
        var answers = new KeyAnswer[items.Count];
        for (int i = 0; i < items.Count; i++)
        {
            (UInt128 key, UInt128 content) = items[i];
            Known known = pending.TryGetValue(key, out Known p) ? p : _known.TryGetValue(key, out Known k) ? k : default;
            if (known.VersionOf(content) is int same and > 0)
            {
                answers[i] = new KeyAnswer(same, known.Version, Duplicate: true);
                continue;
            }
            int version = known.Version + 1;
            pending[key] = known.With(version, content);
            answers[i] = new KeyAnswer(version, version, Duplicate: false);
        }
        return answers;
    }

    /// <summary>After a write that failed, the index may hold results that never became durable (decided before their
    /// write): it is rebuilt from the journal, so that a resend is accepted, not taken for a duplicate.</summary>
    private void Forget(Exception failure)
    {
        if (_journal is null)
        {
            return;
        }
        lock (_lock)
        {
            _known.Clear();
            try
            {
                Rebuild(_journal);
            }
            catch (Exception ex)
            {
                // The journal cannot be read either: nothing can be decided safely any more.
                throw new AggregateException("the result-key index could not be rebuilt after a failed write", failure, ex);
            }
        }
    }
}
