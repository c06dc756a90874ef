namespace Sidep.Pipeline;

/// <summary>What kind of storage failure an exception is: the ones that pass (space, a device error, a read-only
/// remount) are waited out with back-off; the rest are bugs or damage and stop loudly. This one knows the files' and the
/// journal's failures; a store adds its own (<c>SqliteStorageFaults</c>), and the host registers the one of its mode.</summary>
public class StorageFaults
{
    /// <summary>Files and the journal only (a mode whose stores have no failure of their own to tell apart).</summary>
    public static readonly StorageFaults Files = new();

    private const int Enospc = 28, Eio = 5, Erofs = 30, Edquot = 122, Emfile = 24, Enfile = 23;

    /// <summary>A full disk, an I/O error, a read-only file system, or the journal refusing appends until it is healed —
    /// the exception or any of its inner ones.</summary>
    public bool IsStorageUnavailable(Exception? ex)
    {
        for (Exception? e = ex; e is not null; e = e.InnerException)
        {
            if (IsUnavailable(e))
            {
                return true;
            }
        }
        return false;
    }

    /// <summary>Whether this exception itself (not its inner ones) is storage that cannot be written now.</summary>
    protected virtual bool IsUnavailable(Exception e) => e switch
    {
        JournalUnavailableException => true,
        IOException io when IsErrno(io, Enospc) || IsErrno(io, Eio) || IsErrno(io, Erofs) || IsErrno(io, Edquot) || IsErrno(io, Emfile) || IsErrno(io, Enfile)
            || io.Message.Contains("Too many open files", StringComparison.Ordinal)
            || io.Message.Contains("No space left", StringComparison.Ordinal) || io.Message.Contains("Read-only file system", StringComparison.Ordinal) => true,
        UnauthorizedAccessException ua when ua.InnerException is IOException inner && IsErrno(inner, Erofs) => true,
        _ => false,
    };

    /// <summary>A short reason for health checks and logs (no paths with identities: the journal's paths hold none).</summary>
    public virtual string Describe(Exception ex) => ex.Message;

    private static bool IsErrno(IOException io, int errno) => io.HResult == errno || (io.HResult & 0xFFFF) == errno;
}
