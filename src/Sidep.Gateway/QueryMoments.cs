using System.Globalization;
using Microsoft.AspNetCore.Http;

namespace Sidep.Gateway;

/// <summary>Optional ISO 8601 date-time query parameters (since, until, asof) and day parameters (from, to), read one
/// way everywhere.</summary>
internal static class QueryMoments
{
    /// <summary>False, with the reason, when the parameter is there but not a date-time; its value (or null) otherwise.</summary>
    public static bool TryRead(IQueryCollection query, string name, out DateTimeOffset? value, out string? error)
    {
        value = null;
        error = null;
        if (query[name].FirstOrDefault() is not string text)
        {
            return true;
        }
        if (!DateTimeOffset.TryParse(text, CultureInfo.InvariantCulture, DateTimeStyles.AssumeUniversal, out DateTimeOffset parsed))
        {
            error = $"{name} '{text}' is not an ISO 8601 date-time";
            return false;
        }
        value = parsed;
        return true;
    }

    /// <summary>False, with the reason, when the parameter is there but not a day YYYY-MM-DD; its value (or null) otherwise.</summary>
    public static bool TryReadDay(IQueryCollection query, string name, out DateOnly? value, out string? error)
    {
        value = null;
        error = null;
        if (query[name].FirstOrDefault() is not string text)
        {
            return true;
        }
        if (!DateOnly.TryParseExact(text, "yyyy-MM-dd", CultureInfo.InvariantCulture, DateTimeStyles.None, out DateOnly parsed))
        {
            error = $"{name} '{text}' is not a date YYYY-MM-DD";
            return false;
        }
        value = parsed;
        return true;
    }
}
