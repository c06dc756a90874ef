using System.Runtime.InteropServices;

namespace Sidep.Gateway;

/// <summary>The data directory holds nominative data (journal, database, cases topic) and secrets: it and every file in
/// it are readable by Sidep's user only.</summary>
public static class DataDirectory
{
    private const UnixFileMode OwnerOnly = UnixFileMode.UserRead | UnixFileMode.UserWrite | UnixFileMode.UserExecute;
    private const UnixFileMode Others = UnixFileMode.GroupRead | UnixFileMode.GroupWrite | UnixFileMode.GroupExecute
        | UnixFileMode.OtherRead | UnixFileMode.OtherWrite | UnixFileMode.OtherExecute;

    /// <summary>Sets the process's file creation mask to 077: whatever it creates from now on (SQLite's files included)
    /// is its owner's only, from the first byte.</summary>
    public static void RestrictNewFiles()
    {
        if (!OperatingSystem.IsWindows())
        {
            _ = umask(0x3F);
        }
    }

    [DllImport("libc", EntryPoint = "umask")]
#pragma warning disable SYSLIB1054 // DllImport needs no unsafe code (LibraryImport does)
    private static extern uint umask(uint mask);
#pragma warning restore SYSLIB1054

    public static void CreateOwnerOnly(string directory)
    {
        if (OperatingSystem.IsWindows())
        {
            Directory.CreateDirectory(directory);
        }
        else
        {
            Directory.CreateDirectory(directory, OwnerOnly);
        }
    }

    /// <summary>Creates the directory (0700) when missing; returns a warning for each existing directory or file that
    /// others can read or write (changed by hand, or made by an earlier Sidep).</summary>
    public static List<string> Prepare(string directory)
    {
        RestrictNewFiles();
        CreateOwnerOnly(directory);
        var warnings = new List<string>();
        if (OperatingSystem.IsWindows())
        {
            return warnings;
        }
        IEnumerable<string> entries = Directory.EnumerateFileSystemEntries(directory, "*", new EnumerationOptions { RecurseSubdirectories = true, IgnoreInaccessible = true });
        foreach (string path in entries.Prepend(directory))
        {
            UnixFileMode mode = File.GetUnixFileMode(path);
            if ((mode & Others) != 0)
            {
                warnings.Add($"{path} is readable or writable by other users (mode {Convert.ToString((int)mode, 8)}): it may hold identities or secrets; chmod go-rwx it");
            }
        }
        return warnings.Count <= 10 ? warnings : [.. warnings.Take(10), $"... and {warnings.Count - 10} more under {directory}"];
    }
}
