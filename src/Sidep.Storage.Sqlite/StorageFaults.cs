using Sidep.Pipeline;

namespace Sidep.Storage.Sqlite;

/// <summary>What kind of storage failure an exception is: the ones that pass (space, a device error, a read-only
/// remount) are waited out with back-off; the rest are bugs or damage and stop loudly.</summary>
public static class StorageFaults
{
    private const int Enospc = 28, Eio = 5, Erofs = 30, Edquot = 122, Emfile = 24, Enfile = 23;

    /// <summary>A full disk, an I/O error, a read-only file system, or the journal refusing appends until it is healed.</summary>
    public static bool IsStorageUnavailable(Exception? ex)
    {
        for (Exception? e = ex; e is not null; e = e.InnerException)
        {
            switch (e)
            {
                case JournalUnavailableException:
                    return true;
                case Microsoft.Data.Sqlite.SqliteException s when (s.SqliteErrorCode & 0xFF) is 13 /* FULL */ or 10 /* IOERR */ or 8 /* READONLY */ or 14 /* CANTOPEN */:
                    return true;
                case IOException io when IsErrno(io, Enospc) || IsErrno(io, Eio) || IsErrno(io, Erofs) || IsErrno(io, Edquot) || IsErrno(io, Emfile) || IsErrno(io, Enfile)
                    || io.Message.Contains("Too many open files", StringComparison.Ordinal)
                    || io.Message.Contains("No space left", StringComparison.Ordinal) || io.Message.Contains("Read-only file system", StringComparison.Ordinal):
                    return true;
                case UnauthorizedAccessException ua when ua.InnerException is IOException inner && IsErrno(inner, Erofs):
                    return true;
            }
        }
        return false;
    }

    /// <summary>A short reason for health checks and logs (no paths with identities: the journal's paths hold none).</summary>
    public static string Describe(Exception ex) => ex switch
    {
        JournalUnavailableException j => j.Message,
        Microsoft.Data.Sqlite.SqliteException s => $"database: {s.Message}",
        _ => ex.Message,
    };

    private static bool IsErrno(IOException io, int errno) => io.HResult == errno || (io.HResult & 0xFFFF) == errno;
}
