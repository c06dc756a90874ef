using System.Runtime.InteropServices;

namespace Sidep.Host;

/// <summary>The process's file creation mask: files 0600, directories 0700 (nominative data, secrets).</summary>
internal static class FilePermissions
{
    public static void RestrictNewFiles()
    {
        if (!OperatingSystem.IsWindows())
        {
            _ = umask(0x3F); // 077
        }
    }

    [DllImport("libc", EntryPoint = "umask")]
#pragma warning disable SYSLIB1054 // DllImport needs no unsafe code (LibraryImport does)
    private static extern uint umask(uint mask);
#pragma warning restore SYSLIB1054
}
