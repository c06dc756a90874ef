using Npgsql;

namespace Sidep.Storage.Postgres;

/// <summary>
/// Marks the result-key index's versions durable once the journal acknowledged them, for every submission of a gateway
/// together: whatever accumulated while the last mark ran goes in the next one (a group commit), so that a busy gateway
/// marks many submissions in one statement instead of one statement each. A submission is answered once its marks have
/// landed (<see cref="Confirm"/>'s task), so a resend right after its acknowledgement is a duplicate, through any
/// gateway. A mark that cannot land (PostgreSQL away longer than a decision may retry) is kept and retried; the lab is
/// answered meanwhile, and until it lands the version reads as in flight, then as not durable — which costs at most one
/// more journal record of the same version, as after a failed journal write.
/// </summary>
internal sealed class DurableMarks : IDisposable
{
    /// <summary>Marks held while PostgreSQL is away; beyond, the oldest are given up (each costs at most one journal
    /// record more later), so that an outage does not grow the gateway's memory without bound.</summary>
    private const int MaxPending = 1_000_000;

    private readonly NpgsqlDataSource _source;
    private readonly Lock _lock = new();
    private readonly SemaphoreSlim _signal = new(0);
    private readonly CancellationTokenSource _stop = new();
    private readonly Task _loop;
    private List<(Guid Key, int Version)> _pending = [];
    private List<TaskCompletionSource> _waiting = [];
    private bool _signalled;
    private volatile bool _closing;

    public DurableMarks(NpgsqlDataSource source)
    {
        _source = source;
        _loop = Task.Run(LoopAsync);
    }

    /// <summary>Versions whose journal write was acknowledged, to be marked durable; the task completes once their
    /// statement has run (or when the marks are given up or the gateway stops).</summary>
    public Task Confirm(IReadOnlyList<(Guid Key, int Version)> taken)
    {
        var landed = new TaskCompletionSource(TaskCreationOptions.RunContinuationsAsynchronously);
        lock (_lock)
        {
            _pending.AddRange(taken);
            _waiting.Add(landed);
            if (_pending.Count > MaxPending)
            {
                _pending.RemoveRange(0, _pending.Count - MaxPending);
            }
            Signal();
        }
        return landed.Task;
    }

    /// <summary>How many marks wait for their statement.</summary>
    private int Pending
    {
        get
        {
            lock (_lock)
            {
                return _pending.Count;
            }
        }
    }

    private void Signal()
    {
        if (!_signalled)
        {
            _signalled = true;
            _signal.Release();
        }
    }

    private async Task LoopAsync()
    {
        TimeSpan wait = TimeSpan.FromMilliseconds(50);
        while (true)
        {
            try
            {
                await _signal.WaitAsync(_stop.Token).ConfigureAwait(false);
            }
            catch (OperationCanceledException)
            {
                ReleaseAll([]);
                return;
            }
            List<(Guid Key, int Version)> marks;
            List<TaskCompletionSource> waiting;
            lock (_lock)
            {
                marks = _pending;
                _pending = [];
                waiting = _waiting;
                _waiting = [];
                _signalled = false;
            }
            if (marks.Count > 0)
            {
                try
                {
                    await MarkAsync(marks, _stop.Token).ConfigureAwait(false);
                    wait = TimeSpan.FromMilliseconds(50);
                    waiting.ForEach(w => w.TrySetResult());
                }
                catch (Exception ex) when (PostgresStore.IsTransient(ex) && !_closing)
                {
                    // Kept for the next attempt, after a pause that grows while PostgreSQL stays away.
                    lock (_lock)
                    {
                        marks.AddRange(_pending);
                        _pending = marks.Count > MaxPending ? marks[^MaxPending..] : marks;
                        waiting.AddRange(_waiting);
                        _waiting = waiting;
                    }
                    try
                    {
                        await Task.Delay(wait, _stop.Token).ConfigureAwait(false);
                    }
                    catch (OperationCanceledException)
                    {
                        ReleaseAll([]);
                        return;
                    }
                    wait = TimeSpan.FromMilliseconds(Math.Min(wait.TotalMilliseconds * 2, 1000));
                    lock (_lock)
                    {
                        Signal();
                    }
                }
                catch (Exception) when (_closing)
                {
                    ReleaseAll(waiting);
                    return; // what was not marked costs at most one journal record more
                }
                catch (Exception)
                {
                    // Not a passing failure (nothing Sidep can retry into success): these marks are given up, each
                    // costing at most one journal record more; later ones are tried as usual.
                    waiting.ForEach(w => w.TrySetResult());
                }
            }
            else
            {
                waiting.ForEach(w => w.TrySetResult());
            }
            if (_closing && Pending == 0)
            {
                ReleaseAll([]);
                return;
            }
        }
    }

    /// <summary>Lets every waiting submission go (the gateway stops).</summary>
    private void ReleaseAll(List<TaskCompletionSource> waiting)
    {
        waiting.ForEach(w => w.TrySetResult());
        lock (_lock)
        {
            _waiting.ForEach(w => w.TrySetResult());
            _waiting = [];
        }
    }

    private async Task MarkAsync(List<(Guid Key, int Version)> marks, CancellationToken ct)
    {
        // In key order: two gateways marking the same versions (journalled again by both) take their rows' locks alike.
        marks.Sort((a, b) => a.Key != b.Key ? a.Key.CompareTo(b.Key) : a.Version.CompareTo(b.Version));
        await using NpgsqlConnection c = await _source.OpenConnectionAsync(ct).ConfigureAwait(false);
        await using var mark = new NpgsqlCommand("""
            UPDATE result_versions v SET durable = true FROM unnest($1::uuid[], $2::int[]) AS t(key, version)
            WHERE v.key = t.key AND v.version = t.version AND NOT v.durable
            """, c)
        {
            Parameters = { new() { Value = marks.Select(t => t.Key).ToArray() }, new() { Value = marks.Select(t => t.Version).ToArray() } },
        };
        await mark.ExecuteNonQueryAsync(ct).ConfigureAwait(false);
    }

    /// <summary>Marks what is pending (for up to 2 s), then stops.</summary>
    public void Dispose()
    {
        _closing = true;
        lock (_lock)
        {
            Signal();
        }
        _loop.Wait(TimeSpan.FromSeconds(2));
        _stop.Cancel();
        _loop.Wait(TimeSpan.FromSeconds(1));
        _stop.Dispose();
        _signal.Dispose();
    }
}
