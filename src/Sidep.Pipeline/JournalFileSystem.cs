namespace Sidep.Pipeline;

/// <summary>
/// The journal's view of the file system: the one seam under which its faults are injected in tests (failed and short
/// writes, failed fsyncs, ENOSPC, EIO). Everything the journal writes, reads, truncates, renames or syncs goes through it.
/// </summary>
public interface IJournalFileSystem
{
    /// <summary>Opens a file for reading and writing, creating it (readable by its owner only) when <paramref name="create"/> is set.</summary>
    IJournalFile Open(string path, bool create);

    bool Exists(string path);

    /// <summary>The files of a directory whose names end with <paramref name="suffix"/>, by name.</summary>
    IReadOnlyList<string> List(string directory, string suffix);

    /// <summary>Creates the directory (and its parents), readable by its owner only.</summary>
    void CreateDirectory(string directory);

    /// <summary>Replaces <paramref name="to"/> by <paramref name="from"/> atomically.</summary>
    void Move(string from, string to);

    void Delete(string path);

    /// <summary>Makes the directory's entries durable (a file created or renamed in it survives a crash).</summary>
    void SyncDirectory(string directory);
}

/// <summary>One open file: positioned reads and writes (no shared cursor), fsync, truncation.</summary>
public interface IJournalFile : IDisposable
{
    string Path { get; }

    long Length { get; }

    /// <summary>Reads up to <paramref name="buffer"/>'s length at <paramref name="position"/>; returns the bytes read (fewer at the end).</summary>
    int Read(Span<byte> buffer, long position);

    /// <summary>Writes all of <paramref name="data"/> at <paramref name="position"/>, or throws (after a part may have been written).</summary>
    void Write(ReadOnlySpan<byte> data, long position);

    /// <summary>fsync: returns once everything written is on stable storage, or throws.</summary>
    void Flush();

    void SetLength(long length);
}
