using System.Diagnostics;
using System.Net;
using System.Net.Sockets;

namespace Sidep.Gateway.Tests;

/// <summary>The real `sidep` program as a child process, so a test can SIGKILL it.</summary>
public sealed class SidepProcess : IDisposable
{
    private readonly Process _process;

    private SidepProcess(Process process, Uri http)
    {
        _process = process;
        Http = http;
    }

    public Uri Http { get; }

    private System.Text.StringBuilder _output = new();

    /// <summary>What the server printed so far (standard output and error).</summary>
    public string Output
    {
        get
        {
            lock (_output)
            {
                return _output.ToString();
            }
        }
    }

    public bool IsRunning => !_process.HasExited;

    private static string SidepDll => Path.Combine(AppContext.BaseDirectory, "sidep.dll");

    public static Task<(int Exit, string Output)> RunAsync(params string[] args) => RunDllAsync(SidepDll, args);

    /// <summary>The load generator (`sidep-loadgen`, a tool of the benchmarks, not part of `sidep`).</summary>
    public static Task<(int Exit, string Output)> LoadGenAsync(params string[] args) => RunDllAsync(Path.Combine(AppContext.BaseDirectory, "sidep-loadgen.dll"), args);

    private static async Task<(int Exit, string Output)> RunDllAsync(string dll, string[] args)
    {
        var psi = new ProcessStartInfo("dotnet") { RedirectStandardOutput = true, RedirectStandardError = true };
        psi.ArgumentList.Add(dll);
        foreach (string a in args)
        {
            psi.ArgumentList.Add(a);
        }
        using Process p = Process.Start(psi)!;
        Task<string> stdout = p.StandardOutput.ReadToEndAsync();
        Task<string> stderr = p.StandardError.ReadToEndAsync();
        await p.WaitForExitAsync().WaitAsync(TimeSpan.FromMinutes(2));
        return (p.ExitCode, await stdout + await stderr);
    }

    public static Task<SidepProcess> ServeAsync(string dataDir, params string[] extra) => ServeAsync(dataDir, extra, maxOpenFiles: 0);

    /// <param name="maxOpenFiles">When positive, the server runs under `ulimit -n` of that many file descriptors.</param>
    public static async Task<SidepProcess> ServeAsync(string dataDir, string[] extra, int maxOpenFiles)
    {
        int port = FreePort();
        string[] mllp = extra.Contains("--mllp-port") ? [] : ["--mllp-port", "-1"];
        string[] command = [SidepDll, "serve", "--data-dir", dataDir, "--urls", $"http://127.0.0.1:{port}", .. mllp, .. extra];
        ProcessStartInfo psi;
        if (maxOpenFiles > 0)
        {
            psi = new ProcessStartInfo("bash") { RedirectStandardOutput = true, RedirectStandardError = true };
            foreach (string a in (string[])["-c", $"ulimit -n {maxOpenFiles} && exec dotnet \"$@\"", "sidep", .. command])
            {
                psi.ArgumentList.Add(a);
            }
        }
        else
        {
            psi = new ProcessStartInfo("dotnet") { RedirectStandardOutput = true, RedirectStandardError = true };
            foreach (string a in command)
            {
                psi.ArgumentList.Add(a);
            }
        }
        Process process = Process.Start(psi)!;
        var output = new System.Text.StringBuilder();
        process.OutputDataReceived += (_, e) => { lock (output) { output.AppendLine(e.Data); } };
        process.ErrorDataReceived += (_, e) => { lock (output) { output.AppendLine(e.Data); } };
        process.BeginOutputReadLine();
        process.BeginErrorReadLine();
        var server = new SidepProcess(process, new Uri($"http://127.0.0.1:{port}")) { _output = output };
        using var http = new HttpClient { BaseAddress = server.Http, Timeout = TimeSpan.FromSeconds(2) };
        for (int i = 0; i < 300; i++)
        {
            try
            {
                if ((await http.GetAsync("/health")).StatusCode == HttpStatusCode.OK)
                {
                    return server;
                }
            }
            catch (HttpRequestException)
            {
            }
            catch (TaskCanceledException)
            {
            }
            catch (System.Net.Sockets.SocketException)
            {
                // Not listening yet: HttpClient lets this one through when the connection is reset as it is made.
            }
            if (process.HasExited)
            {
                throw new InvalidOperationException($"sidep serve exited with {process.ExitCode}");
            }
            await Task.Delay(100);
        }
        server.Kill();
        throw new TimeoutException("sidep serve did not answer /health within 30 s");
    }

    /// <summary>SIGKILL: no shutdown hook runs, nothing is flushed on the way out.</summary>
    public void Kill()
    {
        if (!_process.HasExited)
        {
            _process.Kill(entireProcessTree: true);
            _process.WaitForExit();
        }
    }

    public static int FreePort()
    {
        using var l = new TcpListener(IPAddress.Loopback, 0);
        l.Start();
        return ((IPEndPoint)l.LocalEndpoint).Port;
    }

    public void Dispose()
    {
        Kill();
        _process.Dispose();
    }
}
