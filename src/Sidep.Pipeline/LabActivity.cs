namespace Sidep.Pipeline;

/// <summary>
/// What one lab sent in one hour (UTC, numbered from the Unix epoch), as its gateways counted it: results received
/// (every item), stored (new, corrections, retractions), rejected, quarantined (held for a LOINC mapping), duplicates,
/// and the moment of the last item received. Monitoring data, never nominative.
/// </summary>
public readonly record struct LabHour(string Lab, long Hour, int Received, int Stored, int Rejected, int Quarantined, int Duplicates, DateTimeOffset? LastReceivedAt)
{
    public static long HourOf(DateTimeOffset at) => at.ToUnixTimeSeconds() / 3600;

    public static DateTimeOffset StartOf(long hour) => DateTimeOffset.FromUnixTimeSeconds(hour * 3600);

    /// <summary>Two counts of the same lab and hour added (what a store does with a gateway's increments).</summary>
    public LabHour Plus(LabHour other) => this with
    {
        Received = Received + other.Received,
        Stored = Stored + other.Stored,
        Rejected = Rejected + other.Rejected,
        Quarantined = Quarantined + other.Quarantined,
        Duplicates = Duplicates + other.Duplicates,
        LastReceivedAt = LastReceivedAt is null ? other.LastReceivedAt : other.LastReceivedAt is null ? LastReceivedAt
            : LastReceivedAt > other.LastReceivedAt ? LastReceivedAt : other.LastReceivedAt,
    };
}

/// <summary>How many items of one lab were rejected in one hour for one reason (the first error's code, as the lab's
/// answer says it: MissingField, InvalidValue…).</summary>
public readonly record struct RejectionCount(string Lab, long Hour, string Reason, int Count);

/// <summary>How many new results sampled on <see cref="Day"/> (a <see cref="DateOnly.DayNumber"/>) arrived
/// <see cref="Delay"/> days after it (0, 1, 2, or 3 for three and more): how complete a recent day is.</summary>
public readonly record struct DelayCount(int Day, int Delay, long Results)
{
    public const int Buckets = 4;
}

/// <summary>
/// The labs' activity by hour and the results' delays from sample to receipt, kept beside the lab register (the
/// embedded mode's database, or PostgreSQL for every gateway). Writes are increments, added to what is there, so that
/// every gateway writes its own counts.
/// </summary>
public interface ILabActivityLog
{
    /// <summary>Adds counts to the stored ones (a lab's hour, a day's delay, an hour's rejections by reason), in one
    /// transaction.</summary>
    void AddActivity(IReadOnlyList<LabHour> hours, IReadOnlyList<DelayCount> delays, IReadOnlyList<RejectionCount>? rejections = null);

    /// <summary>The rejections by lab and reason in the hours [<paramref name="fromHour"/>, <paramref name="toHour"/>).</summary>
    List<RejectionCount> Rejections(long fromHour, long toHour);

    /// <summary>The hours in [<paramref name="fromHour"/>, <paramref name="toHour"/>) that hold any count, every lab.</summary>
    List<LabHour> LabHours(long fromHour, long toHour);

    /// <summary>Each lab's totals by day, on days in [<paramref name="fromDay"/>, <paramref name="toDay"/>].</summary>
    List<LabDay> LabDays(int fromDay, int toDay);

    /// <summary>When each lab's latest item was received (whatever became of it), whenever it was.</summary>
    Dictionary<string, DateTimeOffset> LastReceived();

    /// <summary>The delays of results sampled on days in [<paramref name="fromDay"/>, <paramref name="toDay"/>].</summary>
    List<DelayCount> Delays(int fromDay, int toDay);
}

/// <summary>What one lab stored, received, had rejected and quarantined on one day (UTC; a <see cref="DateOnly.DayNumber"/>).</summary>
public readonly record struct LabDay(string Lab, int Day, long Received, long Stored, long Rejected, long Quarantined)
{
    /// <summary>The day number of 1970-01-01, where <see cref="LabHour"/>'s hours start: hour h is on day h / 24 + this.</summary>
    public const int UnixEpochDay = 719_162;
}
