using System.Diagnostics;
using System.Net;
using System.Net.Http.Headers;
using System.Text.Json;
using Microsoft.AspNetCore.Builder;
using Microsoft.Extensions.DependencyInjection;
using Sidep.Gateway;
using Sidep.Ingestion;
using Sidep.Domain;
using Sidep.Journal;
using Sidep.Pipeline;
using Sidep.Storage.Sqlite;

using Sidep.Host;
using Sidep.Tests;

namespace Sidep.Gateway.Tests;

/// <summary>A test that needs a small real file system: a tmpfs mounted for it, which needs root. Skipped, saying so, elsewhere.</summary>
public sealed class SmallFileSystemFactAttribute : FactAttribute
{
    private static readonly string? s_unavailable = Probe();

    public SmallFileSystemFactAttribute()
    {
        if (s_unavailable is not null)
        {
            Skip = s_unavailable;
        }
    }

    /// <summary>Null when a tmpfs can be mounted here; else why not.</summary>
    private static string? Probe()
    {
        if (OperatingSystem.IsWindows() || Environment.UserName != "root" || !File.Exists("/bin/mount"))
        {
            return "needs root and mount(8) to mount a small tmpfs (CI runs it as root)";
        }
        string probe = Directory.CreateTempSubdirectory("sidep-tmpfs-probe-").FullName;
        try
        {
            using Process mount = Process.Start(new ProcessStartInfo("mount", ["-t", "tmpfs", "-o", "size=64k", "tmpfs", probe]) { RedirectStandardError = true })!;
            string error = mount.StandardError.ReadToEnd();
            mount.WaitForExit();
            if (mount.ExitCode != 0)
            {
                return $"mounting a tmpfs is not allowed here ({error.Trim()})";
            }
            using Process umount = Process.Start(new ProcessStartInfo("umount", [probe]))!;
            umount.WaitForExit();
            return null;
        }
        finally
        {
            Directory.Delete(probe);
        }
    }
}

/// <summary>The data directory's file system fills up during a load, then space comes back: ingestion answers 503 while
/// nothing can be stored, the stages wait, the server never stops, and after a restart exactly the acknowledged
/// submissions are there.</summary>
public class FullDiskTests
{
    [SmallFileSystemFact]
    public async Task A_file_system_that_fills_during_a_load_degrades_the_server_and_every_acknowledged_result_survives()
    {
        string mount = Directory.CreateTempSubdirectory("sidep-tmpfs-").FullName;
        Assert.Equal(0, await RunAsync("mount", "-t", "tmpfs", "-o", "size=6m", "tmpfs", mount));
        try
        {
            string dir = Path.Combine(mount, "data");
            string filler = Path.Combine(mount, "filler");
            var acknowledged = new Dictionary<string, string>(StringComparer.Ordinal); // accession → submission id
            var refused = new List<string>();
            string key;
            SidepTestServer app = await StartAsync(dir);
            try
            {
                key = app.Labs.AddLab("990000001", "Demo", ["SIDEP-DEMO"], []);
                using HttpClient http = app.Client(key);
                // Leave about 1 MB free: the load fills it.
                long free = new DriveInfo(mount).AvailableFreeSpace;
                await File.WriteAllBytesAsync(filler, new byte[Math.Max(0, free - 1_000_000)]);
                int full = 0;
                int i = 0;
                for (; i < 5_000 && full < 20; i++)
                {
                    full += await SendAsync(http, i, acknowledged, refused) ? 0 : 1;
                }
                Assert.True(full >= 20, $"the file system never filled ({acknowledged.Count} acknowledged)");
                HttpResponseMessage health = await http.GetAsync("/health");
                Assert.Contains("Degraded", await health.Content.ReadAsStringAsync());

                // Space comes back: appends and stages resume by themselves.
                File.Delete(filler);
                int resumedAt = acknowledged.Count;
                for (int j = 0; j < 40; j++, i++)
                {
                    await SendAsync(http, i, acknowledged, refused);
                }
                Assert.True(acknowledged.Count > resumedAt + 30, "appends did not resume once space came back");
                var pipeline = Stopwatch.StartNew();
                using HttpClient op = app.Client(null);
                op.DefaultRequestHeaders.Add("X-Operator-Token", "operator-token-for-tests");
                while (pipeline.Elapsed < TimeSpan.FromSeconds(60))
                {
                    JsonElement p = JsonDocument.Parse(await op.GetStringAsync("/v1/pipeline")).RootElement;
                    if (p.GetProperty("caughtUp").GetBoolean() && p.GetProperty("stages")[0].GetProperty("lag").GetInt64() == 0)
                    {
                        break;
                    }
                    await Task.Delay(100);
                }
                Assert.Null(app.Services.GetRequiredService<StageFailures>().First);
            }
            finally
            {
                await app.DisposeAsync();
            }

            SidepTestServer restarted = await StartAsync(dir);
            try
            {
                using HttpClient http = restarted.Client(key);
                foreach (string submission in acknowledged.Values)
                {
                    Assert.Equal(HttpStatusCode.OK, (await http.GetAsync($"/v1/submissions/{submission}")).StatusCode);
                }
                List<string> stored = [.. JournalResults.Of(restarted.Journal).Select(r => r.AccessionId).Order(StringComparer.Ordinal)];
                // And the stages catch up with all of it.
                await restarted.WaitCaughtUpAsync(TimeSpan.FromSeconds(30));
                // The acknowledged set is the stored set: nothing acknowledged lost, nothing refused kept.
                Assert.Equal(acknowledged.Keys.Order(StringComparer.Ordinal), stored);
                Assert.DoesNotContain(refused, stored.Contains);
            }
            finally
            {
                await restarted.DisposeAsync();
            }
        }
        finally
        {
            await RunAsync("umount", "-l", mount);
            Directory.Delete(mount, recursive: true);
        }
    }

    private static async Task<bool> SendAsync(HttpClient http, int i, Dictionary<string, string> acknowledged, List<string> refused)
    {
        string accession = "FULL" + i.ToString(System.Globalization.CultureInfo.InvariantCulture);
        // A bulky comment makes each submission a few KB, so that the file system fills within a few hundred.
        string message = ResultMessages.Message("F" + i, accession) + "NTE|1||" + new string('x', 3000) + "\r";
        HttpResponseMessage r = await http.PostAsync("/v1/submissions", ResultMessages.Hl7(message));
        if (r.StatusCode == HttpStatusCode.Created)
        {
            SubmissionReport report = JsonSerializer.Deserialize(await r.Content.ReadAsStringAsync(), SidepJson.Default.SubmissionReport)!;
            acknowledged[accession] = report.SubmissionId!;
            return true;
        }
        Assert.Equal(HttpStatusCode.ServiceUnavailable, r.StatusCode);
        Assert.NotNull(r.Headers.RetryAfter);
        Assert.Contains("send it again", await r.Content.ReadAsStringAsync());
        refused.Add(accession);
        return false;
    }

    private static Task<SidepTestServer> StartAsync(string dir) =>
        SidepTestServer.StartAsync(o => o with { MllpPort = -1, OperatorToken = "operator-token-for-tests", JournalSegmentBytes = 256 * 1024 }, dataDir: dir);

    private static async Task<int> RunAsync(string file, params string[] args)
    {
        using Process p = Process.Start(new ProcessStartInfo(file, args) { RedirectStandardError = true, RedirectStandardOutput = true })!;
        await p.WaitForExitAsync();
        return p.ExitCode;
    }
}

public class DataDirectoryPermissionTests
{
    [Fact]
    public async Task Everything_the_server_creates_in_its_data_directory_is_readable_by_its_owner_only()
    {
        if (OperatingSystem.IsWindows())
        {
            return;
        }
        await using SidepTestServer server = await SidepTestServer.StartAsync();
        string key = server.Labs.AddLab("990000001", "Demo", ["SIDEP-DEMO"], []);
        using HttpClient http = server.Client(key);
        Assert.Equal(HttpStatusCode.Created, (await http.PostAsync("/v1/submissions", ResultMessages.Hl7(ResultMessages.Message()))).StatusCode);
        const UnixFileMode others = UnixFileMode.GroupRead | UnixFileMode.GroupWrite | UnixFileMode.GroupExecute
            | UnixFileMode.OtherRead | UnixFileMode.OtherWrite | UnixFileMode.OtherExecute;
        string[] entries = [server.DataDir, .. Directory.EnumerateFileSystemEntries(server.DataDir, "*", SearchOption.AllDirectories)];
        Assert.Contains(entries, e => e.EndsWith("research-keys", StringComparison.Ordinal));
        Assert.Contains(entries, e => e.EndsWith(".seg", StringComparison.Ordinal));
        foreach (string e in entries)
        {
            UnixFileMode mode;
            try
            {
                mode = File.GetUnixFileMode(e);
            }
            catch (FileNotFoundException)
            {
                continue; // a temporary file renamed over its target while the stages run (a consumer's positions)
            }
            Assert.True((mode & others) == 0, $"{e}: {mode}");
        }
    }

    [Fact]
    public void Existing_files_that_others_can_read_are_warned_about_at_start()
    {
        if (OperatingSystem.IsWindows())
        {
            return;
        }
        string dir = Directory.CreateTempSubdirectory("sidep-perm-").FullName;
        try
        {
            string loose = Path.Combine(dir, "sidep.db");
            File.WriteAllText(loose, "");
            File.SetUnixFileMode(loose, UnixFileMode.UserRead | UnixFileMode.UserWrite | UnixFileMode.OtherRead);
            Assert.Contains(DataDirectory.Prepare(dir), w => w.StartsWith(loose, StringComparison.Ordinal) && w.Contains("other users", StringComparison.Ordinal));
        }
        finally
        {
            Directory.Delete(dir, recursive: true);
        }
    }
}
