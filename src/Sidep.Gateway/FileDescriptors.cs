using System.Runtime.InteropServices;

namespace Sidep.Gateway;

/// <summary>
/// How many connections the process can hold open without running out of file descriptors: the soft RLIMIT_NOFILE
/// less a reserve for the journal, the database, HTTP and the runtime itself (.NET's W^X code allocator takes one to
/// JIT: a process out of descriptors can die with "Out of memory"). The MLLP cap never goes above it, so anonymous
/// connections cannot exhaust the descriptors Sidep needs.
/// </summary>
internal static class FileDescriptors
{
    private const int Reserve = 512; // a server holds about 250 descriptors at start (every assembly is open), more as it loads others

    public static int Budget()
    {
        if (!OperatingSystem.IsLinux() || getrlimit(RlimitNofile, out Limit limit) != 0 || limit.Current > int.MaxValue)
        {
            return int.MaxValue;
        }
        return (int)Math.Max(16, (long)limit.Current - Reserve);
    }

    private const int RlimitNofile = 7; // Linux

    [StructLayout(LayoutKind.Sequential)]
    private struct Limit
    {
        public ulong Current;
        public ulong Maximum;
    }

    [DllImport("libc", SetLastError = true)]
#pragma warning disable SYSLIB1054 // DllImport needs no unsafe code (LibraryImport does)
    private static extern int getrlimit(int resource, out Limit limit);
#pragma warning restore SYSLIB1054
}
