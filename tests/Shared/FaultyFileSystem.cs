using Sidep.Domain;
using Sidep.Journal;
using Sidep.Pipeline;

namespace Sidep.Tests;

/// <summary>What a fault does when it strikes.</summary>
public enum FaultKind
{
    /// <summary>The call fails with ENOSPC, nothing written.</summary>
    NoSpace,
    /// <summary>The call fails with EIO, nothing written.</summary>
    IoError,
    /// <summary>Half of the bytes are written, then the call fails with ENOSPC.</summary>
    ShortWrite,
}

/// <summary>Which calls a fault strikes.</summary>
public enum FaultPoint
{
    Write,
    Flush,
    SetLength,
    Open,
}

/// <summary>
/// The real file system under a seam whose calls fail on demand: the Nth call of a kind from now on (and, when
/// <see cref="Sticky"/>, every later one until <see cref="Clear"/>), as a full disk or a failing device would.
/// Calls to files whose name does not contain <see cref="Only"/> (when set) pass through.
/// </summary>
public sealed class FaultyFileSystem : IJournalFileSystem
{
    private readonly IJournalFileSystem _inner = OsJournalFileSystem.Instance;
    private readonly Lock _lock = new();
    private FaultPoint _point;
    private FaultKind _kind;
    private int _countdown = -1;
    private bool _striking;

    public bool Sticky { get; set; }

    public string? Only { get; set; }

    public int Strikes { get; private set; }

    /// <summary>Arms a fault: the <paramref name="nth"/> matching call from now (1 = the next one) fails.</summary>
    public void Arm(FaultPoint point, FaultKind kind, int nth = 1, bool sticky = false)
    {
        lock (_lock)
        {
            (_point, _kind, _countdown, Sticky, _striking) = (point, kind, nth, sticky, false);
        }
    }

    public void Clear()
    {
        lock (_lock)
        {
            _countdown = -1;
            _striking = false;
        }
    }

    /// <summary>Whether this call fails, and how.</summary>
    private FaultKind? Strike(FaultPoint point, string path)
    {
        lock (_lock)
        {
            if (point != _point || (Only is not null && !path.Contains(Only, StringComparison.Ordinal)))
            {
                return null;
            }
            if (_striking)
            {
                Strikes++;
                return _kind;
            }
            if (_countdown <= 0 || --_countdown > 0)
            {
                return null;
            }
            _striking = Sticky;
            Strikes++;
            return _kind;
        }
    }

    private static IOException Failure(FaultKind kind) => kind == FaultKind.IoError
        ? new IOException("Input/output error (injected)", 5)
        : new IOException("No space left on device (injected)", 28);

    public IJournalFile Open(string path, bool create)
    {
        if (Strike(FaultPoint.Open, path) is FaultKind kind)
        {
            throw Failure(kind);
        }
        return new File(this, _inner.Open(path, create));
    }

    public bool Exists(string path) => _inner.Exists(path);

    public IReadOnlyList<string> List(string directory, string suffix) => _inner.List(directory, suffix);

    public void CreateDirectory(string directory) => _inner.CreateDirectory(directory);

    public void Move(string from, string to) => _inner.Move(from, to);

    public void Delete(string path) => _inner.Delete(path);

    public void SyncDirectory(string directory) => _inner.SyncDirectory(directory);

    private sealed class File(FaultyFileSystem fs, IJournalFile inner) : IJournalFile
    {
        public string Path => inner.Path;

        public long Length => inner.Length;

        public int Read(Span<byte> buffer, long position) => inner.Read(buffer, position);

        public void Write(ReadOnlySpan<byte> data, long position)
        {
            switch (fs.Strike(FaultPoint.Write, Path))
            {
                case FaultKind.ShortWrite:
                    inner.Write(data[..(data.Length / 2)], position);
                    throw Failure(FaultKind.NoSpace);
                case FaultKind kind:
                    throw Failure(kind);
            }
            inner.Write(data, position);
        }

        public void Flush()
        {
            if (fs.Strike(FaultPoint.Flush, Path) is FaultKind kind)
            {
                throw Failure(kind);
            }
            inner.Flush();
        }

        public void SetLength(long length)
        {
            if (fs.Strike(FaultPoint.SetLength, Path) is FaultKind kind)
            {
                throw Failure(kind);
            }
            inner.SetLength(length);
        }

        public void Dispose() => inner.Dispose();
    }
}
