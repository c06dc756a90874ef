using System.Runtime.InteropServices;
using Microsoft.Win32.SafeHandles;

using Sidep.Pipeline;

namespace Sidep.Journal;

/// <summary>The operating system's files (what the journal uses outside tests).</summary>
public sealed class OsJournalFileSystem : IJournalFileSystem
{
    public static readonly OsJournalFileSystem Instance = new();

    private const UnixFileMode OwnerFile = UnixFileMode.UserRead | UnixFileMode.UserWrite;
    private const UnixFileMode OwnerDirectory = UnixFileMode.UserRead | UnixFileMode.UserWrite | UnixFileMode.UserExecute;

    public IJournalFile Open(string path, bool create)
    {
        var options = new FileStreamOptions
        {
            Mode = create ? FileMode.OpenOrCreate : FileMode.Open,
            Access = FileAccess.ReadWrite,
            Share = FileShare.ReadWrite,
            BufferSize = 0,
        };
        if (create && !OperatingSystem.IsWindows())
        {
            options.UnixCreateMode = OwnerFile;
        }
        return new OsFile(path, new FileStream(path, options));
    }

    public bool Exists(string path) => File.Exists(path);

    public IReadOnlyList<string> List(string directory, string suffix) =>
        Directory.Exists(directory)
            ? [.. Directory.EnumerateFiles(directory, "*" + suffix).Where(f => f.EndsWith(suffix, StringComparison.Ordinal)).Order(StringComparer.Ordinal)]
            : [];

    public void CreateDirectory(string directory)
    {
        if (OperatingSystem.IsWindows())
        {
            Directory.CreateDirectory(directory);
        }
        else
        {
            Directory.CreateDirectory(directory, OwnerDirectory);
        }
    }

    public void Move(string from, string to) => File.Move(from, to, overwrite: true);

    public void Delete(string path) => File.Delete(path);

    public void SyncDirectory(string directory)
    {
        if (OperatingSystem.IsWindows())
        {
            return; // NTFS makes metadata durable with the file; there is no directory fsync.
        }
        int fd = Libc.open(directory, Libc.O_RDONLY | Libc.O_DIRECTORY);
        if (fd < 0)
        {
            throw new IOException($"cannot open directory {directory} to sync it (errno {Marshal.GetLastPInvokeError()})");
        }
        try
        {
            if (Libc.fsync(fd) != 0)
            {
                int errno = Marshal.GetLastPInvokeError();
                throw new IOException($"fsync of directory {directory} failed (errno {errno})", errno);
            }
        }
        finally
        {
            _ = Libc.close(fd);
        }
    }

    private sealed class OsFile(string path, FileStream stream) : IJournalFile
    {
        private readonly SafeFileHandle _handle = stream.SafeFileHandle;

        public string Path => path;

        public long Length => RandomAccess.GetLength(_handle);

        public int Read(Span<byte> buffer, long position)
        {
            int total = 0;
            while (total < buffer.Length)
            {
                int read = RandomAccess.Read(_handle, buffer[total..], position + total);
                if (read == 0)
                {
                    break;
                }
                total += read;
            }
            return total;
        }

        public void Write(ReadOnlySpan<byte> data, long position) => RandomAccess.Write(_handle, data, position);

        public void Flush() => RandomAccess.FlushToDisk(_handle);

        public void SetLength(long length) => RandomAccess.SetLength(_handle, length);

        public void Dispose() => stream.Dispose();
    }

    private static class Libc
    {
        public const int O_RDONLY = 0;
        public const int O_DIRECTORY = 0x10000; // Linux

        [DllImport("libc", SetLastError = true)]
#pragma warning disable CA2101, SYSLIB1054 // plain ASCII paths; DllImport needs no unsafe code (LibraryImport does)
        public static extern int open([MarshalAs(UnmanagedType.LPUTF8Str)] string path, int flags);
#pragma warning restore CA2101, SYSLIB1054

        [DllImport("libc", SetLastError = true)]
#pragma warning disable SYSLIB1054
        public static extern int fsync(int fd);

        [DllImport("libc", SetLastError = true)]
        public static extern int close(int fd);
#pragma warning restore SYSLIB1054
    }
}
