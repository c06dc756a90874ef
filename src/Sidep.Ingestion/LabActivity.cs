using Sidep.Domain;
using Sidep.Indicators;
using Sidep.Pipeline;

namespace Sidep.Ingestion;

/// <summary>
/// The gateway's counts of what labs sent, by lab and hour, and of the new results' delays from sample to receipt,
/// kept in memory and added to the store every few seconds (<see cref="Flush"/>): one write for many submissions
/// rather than one each. Monitoring data: a crash loses the counts of the last seconds (never a result), and a write
/// that fails keeps them for the next flush.
/// </summary>
public sealed class LabActivityRecorder
{
    private readonly Lock _lock = new();
    private Dictionary<(string Lab, long Hour), LabHour> _hours = [];
    private Dictionary<(int Day, int Delay), long> _delays = [];
    private Dictionary<(string Lab, long Hour, string Reason), int> _rejections = [];

    /// <summary>Counts one submission's decisions.</summary>
    internal void Record(string lab, DateTimeOffset receivedAt, IReadOnlyList<IngestionService.Decision> decisions)
    {
        int stored = 0, rejected = 0, quarantined = 0, duplicates = 0;
        int today = DateOnly.FromDateTime(receivedAt.UtcDateTime).DayNumber;
        Span<(int Day, int Delay)> days = decisions.Count <= 256 ? stackalloc (int, int)[decisions.Count] : new (int, int)[decisions.Count];
        int newResults = 0;
        foreach (IngestionService.Decision d in decisions)
        {
            switch (d.Status)
            {
                case ItemStatus.Accepted or ItemStatus.Correction or ItemStatus.Retraction:
                    stored++;
                    if (d.Status == ItemStatus.Accepted && d.Version == 1)
                    {
                        int day = Facts.CountedOn(d.Result!, receivedAt).Day.DayNumber;
                        days[newResults++] = (day, Math.Clamp(today - day, 0, DelayCount.Buckets - 1));
                    }
                    break;
                case ItemStatus.Rejected:
                    rejected++;
                    break;
                case ItemStatus.Quarantined: quarantined++; break;
                case ItemStatus.Duplicate: duplicates++; break;
            }
        }
        var counts = new LabHour(lab, LabHour.HourOf(receivedAt), decisions.Count, stored, rejected, quarantined, duplicates, decisions.Count > 0 ? receivedAt : null);
        lock (_lock)
        {
            _hours[(lab, counts.Hour)] = _hours.TryGetValue((lab, counts.Hour), out LabHour known) ? known.Plus(counts) : counts;
            foreach ((int day, int delay) in days[..newResults])
            {
                _delays[(day, delay)] = _delays.GetValueOrDefault((day, delay)) + 1;
            }
            if (rejected > 0)
            {
                foreach (IngestionService.Decision d in decisions)
                {
                    if (d.Status == ItemStatus.Rejected)
                    {
                        var key = (lab, counts.Hour, IngestionService.RejectionReason(d));
                        _rejections[key] = _rejections.GetValueOrDefault(key) + 1;
                    }
                }
            }
        }
    }

    /// <summary>Adds what was counted since the last flush to the store; on failure keeps it for the next one.</summary>
    public void Flush(ILabActivityLog log)
    {
        Dictionary<(string Lab, long Hour), LabHour> hours;
        Dictionary<(int Day, int Delay), long> delays;
        Dictionary<(string Lab, long Hour, string Reason), int> rejections;
        lock (_lock)
        {
            if (_hours.Count == 0 && _delays.Count == 0)
            {
                return;
            }
            (hours, delays, rejections, _hours, _delays, _rejections) = (_hours, _delays, _rejections, [], [], []);
        }
        try
        {
            log.AddActivity([.. hours.Values], [.. delays.Select(d => new DelayCount(d.Key.Day, d.Key.Delay, d.Value))],
                [.. rejections.Select(r => new RejectionCount(r.Key.Lab, r.Key.Hour, r.Key.Reason, r.Value))]);
        }
        catch
        {
            lock (_lock)
            {
                foreach ((var key, LabHour h) in hours)
                {
                    _hours[key] = _hours.TryGetValue(key, out LabHour known) ? known.Plus(h) : h;
                }
                foreach ((var key, long n) in delays)
                {
                    _delays[key] = _delays.GetValueOrDefault(key) + n;
                }
                foreach ((var key, int n) in rejections)
                {
                    _rejections[key] = _rejections.GetValueOrDefault(key) + n;
                }
            }
            throw;
        }
    }
}

/// <summary>
/// The labs' activity as this gateway's readers see it: what the store holds, after what this gateway counted and has
/// not written yet (so that an answer includes the submission just acknowledged). Every read goes through here, so no
/// reader can forget to write the pending counts first.
/// </summary>
public sealed class CurrentLabActivity(ILabActivityLog store, LabActivityRecorder recorder) : ILabActivityLog
{
    public void AddActivity(IReadOnlyList<LabHour> hours, IReadOnlyList<DelayCount> delays, IReadOnlyList<RejectionCount>? rejections = null) =>
        store.AddActivity(hours, delays, rejections);

    public List<LabHour> LabHours(long fromHour, long toHour)
    {
        recorder.Flush(store);
        return store.LabHours(fromHour, toHour);
    }

    public List<LabDay> LabDays(int fromDay, int toDay)
    {
        recorder.Flush(store);
        return store.LabDays(fromDay, toDay);
    }

    public Dictionary<string, DateTimeOffset> LastReceived()
    {
        recorder.Flush(store);
        return store.LastReceived();
    }

    public List<RejectionCount> Rejections(long fromHour, long toHour)
    {
        recorder.Flush(store);
        return store.Rejections(fromHour, toHour);
    }

    public List<DelayCount> Delays(int fromDay, int toDay)
    {
        recorder.Flush(store);
        return store.Delays(fromDay, toDay);
    }
}

/// <summary>When a lab is flagged (README, "Labs that fall silent": the method).</summary>
public sealed record LabHealthOptions
{
    /// <summary>Weeks of a lab's own history its expected volume is the mean of (same weekday, same hours).</summary>
    public int HistoryWeeks { get; init; } = 4;

    /// <summary>Silent: nothing received from the lab (no item, whatever its fate) for at least this long…</summary>
    public TimeSpan MinSilence { get; init; } = TimeSpan.FromHours(2);

    /// <summary>…while its history expects at least this many items over the silence (a lab sending r results an hour is
    /// flagged after max(MinSilence, SilentExpected / r); the chance that a lab that kept sending at its usual rate sent
    /// nothing for that long is e^-SilentExpected, 6 in a million).</summary>
    public double SilentExpected { get; init; } = 12;

    /// <summary>Dropping: over this window, far fewer results than the same window of the same weekday usually holds…</summary>
    public TimeSpan DropWindow { get; init; } = TimeSpan.FromHours(6);

    /// <summary>…fewer than this share of the expected volume, and fewer than the expected volume minus four of its
    /// Poisson standard deviations (so that chance alone almost never flags a lab)…</summary>
    public double DropRatio { get; init; } = 0.5;

    /// <summary>…when at least this many were expected.</summary>
    public double DropMinExpected { get; init; } = 20;

    public IEnumerable<string> Problems()
    {
        if (HistoryWeeks is < 1 or > 12)
        {
            yield return "the lab-health history must be 1 to 12 weeks";
        }
        if (MinSilence <= TimeSpan.Zero || DropWindow <= TimeSpan.Zero || DropWindow > TimeSpan.FromHours(24))
        {
            yield return "the lab-health silence must be positive and the drop window between 0 and 24 hours";
        }
        if (SilentExpected <= 0 || DropMinExpected <= 0 || DropRatio is <= 0 or >= 1)
        {
            yield return "the lab-health thresholds must be positive, the drop ratio below 1";
        }
    }
}

/// <summary>A lab's state: flagged first (silent, dropping), then ok, then those without enough history to judge.</summary>
public enum LabState { Silent, Dropping, Ok, Learning }

/// <summary>One lab's health at a moment: its state and why, its usual volume and what it sent.</summary>
public sealed record LabHealthRow(
    string Lab,
    string Name,
    LabState State,
    string Reason,
    DateTimeOffset? LastReceivedAt,
    double? HoursSinceLastReceived,
    /// <summary>Results a day it usually stores, Monday to Sunday (the mean of the history's weeks).</summary>
    double[] ExpectedByWeekday,
    long StoredToday,
    double ExpectedSoFarToday,
    long StoredInWindow,
    double ExpectedInWindow,
    double? ExpectedDuringSilence,
    long ReceivedLast24h,
    double RejectedShare24h,
    double QuarantinedShare24h);

/// <summary>
/// Labs that fall silent or send far less than usual, judged against each lab's own history: its volume in the same
/// hours of the same weekday over the last weeks (labs close at night and on Sundays; a lab's rhythm is its own).
/// </summary>
public static class LabHealth
{
    private static readonly TimeSpan Week = TimeSpan.FromDays(7);

    /// <summary>How far back a silence is measured against history (a longer one is judged on its last two days).</summary>
    private static readonly TimeSpan Lookback = TimeSpan.FromHours(48);

    /// <param name="history">The labs' days before today over the history (what <see cref="History"/> reads), when the
    /// caller keeps them (they change once a day); null: read here.</param>
    public static List<LabHealthRow> Evaluate(ILabActivityLog log, IReadOnlyList<Lab> labs, DateTimeOffset now, LabHealthOptions options,
        List<LabDay>? history = null)
    {
        int weeks = options.HistoryWeeks;
        int today = DateOnly.FromDateTime(now.UtcDateTime).DayNumber;
        // Daily totals over the history (the weekday profile, and since when each lab sends), then the hours of the
        // last two days and of the same two days of each past week.
        Dictionary<string, List<LabDay>> days = (history ?? History(log, now, options)).Concat(log.LabDays(today, today))
            .GroupBy(d => d.Lab).ToDictionary(g => g.Key, g => g.ToList(), StringComparer.Ordinal);
        var hours = new Dictionary<string, Dictionary<long, LabHour>>(StringComparer.Ordinal);
        for (int k = 0; k <= weeks; k++)
        {
            DateTimeOffset end = now - k * Week;
            foreach (LabHour h in log.LabHours(LabHour.HourOf(end - Lookback), LabHour.HourOf(end) + 1))
            {
                if (!hours.TryGetValue(h.Lab, out Dictionary<long, LabHour>? byHour))
                {
                    hours[h.Lab] = byHour = [];
                }
                byHour[h.Hour] = h;
            }
        }
        Dictionary<string, DateTimeOffset> last = log.LastReceived();
        var names = labs.ToDictionary(l => l.Finess, l => l.Name, StringComparer.Ordinal);
        var rows = new List<LabHealthRow>();
        foreach (string lab in names.Keys.Union(days.Keys, StringComparer.Ordinal))
        {
            rows.Add(Judge(lab, names.GetValueOrDefault(lab) ?? "", days.GetValueOrDefault(lab) ?? [], hours.GetValueOrDefault(lab) ?? [],
                last.TryGetValue(lab, out DateTimeOffset at) ? at : null, now, today, options));
        }
        return [.. rows.OrderBy(r => r.State).ThenByDescending(r => r.ExpectedInWindow).ThenBy(r => r.Lab, StringComparer.Ordinal)];
    }

    /// <summary>The labs' days of the history before the day of <paramref name="now"/>.</summary>
    public static List<LabDay> History(ILabActivityLog log, DateTimeOffset now, LabHealthOptions options)
    {
        int today = DateOnly.FromDateTime(now.UtcDateTime).DayNumber;
        return log.LabDays(today - 7 * options.HistoryWeeks, today - 1);
    }

    private static LabHealthRow Judge(string lab, string name, List<LabDay> days, Dictionary<long, LabHour> hours, DateTimeOffset? last, DateTimeOffset now,
        int today, LabHealthOptions o)
    {
        // The past weeks that can be compared: those after the lab's first day of activity in the history.
        int first = days.Where(d => d.Stored + d.Received > 0).Select(d => d.Day).DefaultIfEmpty(today).Min();
        int weeks = Enumerable.Range(1, o.HistoryWeeks).Count(k => today - 7 * k >= first);
        // Silence is measured on what the lab sends at all (a lab whose items are all rejected is not silent, it is in
        // trouble: its volume stored drops and its rejected share says why); the volume on what is stored.
        double Stored(DateTimeOffset from, DateTimeOffset to) => Volume(hours, from, to, h => h.Stored);
        double Expected(DateTimeOffset from, DateTimeOffset to) =>
            weeks == 0 ? 0 : Enumerable.Range(1, weeks).Sum(k => Stored(from - k * Week, to - k * Week)) / weeks;
        double ExpectedReceived(DateTimeOffset from, DateTimeOffset to) =>
            weeks == 0 ? 0 : Enumerable.Range(1, weeks).Sum(k => Volume(hours, from - k * Week, to - k * Week, h => h.Received)) / weeks;

        double[] byWeekday = new double[7];
        for (int w = 0; w < 7; w++)
        {
            // Monday first: DayOfWeek numbers Sunday 0.
            var dow = (DayOfWeek)((w + 1) % 7);
            List<LabDay> same = [.. days.Where(d => d.Day < today && d.Day >= first && DateOnly.FromDayNumber(d.Day).DayOfWeek == dow)];
            int occurrences = Enumerable.Range(1, 7 * o.HistoryWeeks).Count(back => today - back >= first && DateOnly.FromDayNumber(today - back).DayOfWeek == dow);
            byWeekday[w] = occurrences == 0 ? 0 : Math.Round(same.Sum(d => (double)d.Stored) / occurrences, 1);
        }
        DateTimeOffset midnight = new(DateOnly.FromDayNumber(today).ToDateTime(TimeOnly.MinValue), TimeSpan.Zero);
        long storedToday = days.Where(d => d.Day == today).Sum(d => d.Stored);
        double expectedToday = Expected(midnight, now);
        DateTimeOffset windowStart = now - o.DropWindow;
        // What was stored: the current hour whole (nothing in it is later than now).
        long inWindow = (long)Math.Round(Stored(windowStart, LabHour.StartOf(LabHour.HourOf(now) + 1)));
        double expectedWindow = Expected(windowStart, now);
        List<LabHour> day = [.. hours.Values.Where(h => h.Hour >= LabHour.HourOf(now) - 23 && h.Hour <= LabHour.HourOf(now))];
        long received = day.Sum(h => (long)h.Received);
        double Share(Func<LabHour, int> part) => received == 0 ? 0 : Math.Round(day.Sum(part) / (double)received, 4);

        double? silence = last is DateTimeOffset at ? (now - at).TotalHours : null;
        double? expectedSilence = null;
        LabState state;
        string reason;
        if (weeks == 0)
        {
            state = LabState.Learning;
            reason = days.Count == 0 && last is null ? "nothing received yet" : "less than a week of history: nothing to compare with";
        }
        else
        {
            // A lab that sent nothing in the look-back is silent from its start.
            DateTimeOffset silentSince = last is DateTimeOffset l && l > now - Lookback ? l : now - Lookback;
            expectedSilence = Math.Round(ExpectedReceived(silentSince, now), 1);
            double dropBelow = Math.Min(o.DropRatio * expectedWindow, expectedWindow - 4 * Math.Sqrt(expectedWindow));
            if ((last is null || now - last >= o.MinSilence) && expectedSilence >= o.SilentExpected)
            {
                state = LabState.Silent;
                reason = $"nothing received for {(last is null ? "the last 48 hours" : Hours(now - last.Value))}, when {expectedSilence:0.#} items were expected (the same hours of the last {weeks} weeks)";
            }
            else if (expectedWindow >= o.DropMinExpected && inWindow < dropBelow)
            {
                state = LabState.Dropping;
                reason = $"{inWindow} results stored in the last {Hours(o.DropWindow)}, when {expectedWindow:0.#} were expected (the same hours of the last {weeks} weeks)" +
                    (Share(h => h.Rejected) + Share(h => h.Quarantined) is double troubled and > 0.1 ? $"; {troubled:P0} of what it sent in 24 hours rejected or quarantined" : "");
            }
            else
            {
                state = LabState.Ok;
                reason = expectedWindow < 1 && inWindow == 0 ? "usually quiet at this hour" : "as usual";
            }
        }
        return new LabHealthRow(lab, name, state, reason, last, silence is double s ? Math.Round(s, 2) : null, byWeekday, storedToday, Math.Round(expectedToday, 1),
            inWindow, Math.Round(expectedWindow, 1), expectedSilence, received, Share(h => h.Rejected), Share(h => h.Quarantined));
    }

    private static string Hours(TimeSpan span) => span.TotalHours >= 1 ? $"{span.TotalHours:0.#} hours" : $"{span.TotalMinutes:0} minutes";

    /// <summary>What a lab stored in [from, to), an hour counted in proportion of its overlap (results within an hour are
    /// taken as spread evenly).</summary>
    private static double Volume(Dictionary<long, LabHour> hours, DateTimeOffset from, DateTimeOffset to, Func<LabHour, int> count)
    {
        double sum = 0;
        for (long h = LabHour.HourOf(from); h <= LabHour.HourOf(to); h++)
        {
            if (!hours.TryGetValue(h, out LabHour found))
            {
                continue;
            }
            DateTimeOffset start = LabHour.StartOf(h), end = start.AddHours(1);
            double overlap = (Min(end, to) - Max(start, from)).TotalHours;
            if (overlap > 0)
            {
                sum += count(found) * overlap;
            }
        }
        return sum;
    }

    private static DateTimeOffset Min(DateTimeOffset a, DateTimeOffset b) => a < b ? a : b;

    private static DateTimeOffset Max(DateTimeOffset a, DateTimeOffset b) => a > b ? a : b;
}
