using System.Net;
using System.Net.Security;
using System.Net.Sockets;
using System.Security.Cryptography.X509Certificates;
using System.Text;

namespace Sidep.Gateway.Tests;

/// <summary>A plain MLLP test client on loopback, optionally from another 127.x source address.</summary>
public sealed class MllpClient : IAsyncDisposable
{
    private readonly Stream _stream;
    private readonly List<byte> _pending = [];

    private MllpClient(Stream stream) => _stream = stream;

    public static async Task<MllpClient> ConnectAsync(int port, string source = "127.0.0.1")
    {
        var socket = new Socket(AddressFamily.InterNetwork, SocketType.Stream, ProtocolType.Tcp);
        socket.Bind(new IPEndPoint(IPAddress.Parse(source), 0));
        await socket.ConnectAsync(new IPEndPoint(IPAddress.Loopback, port));
        return new MllpClient(new NetworkStream(socket, ownsSocket: true));
    }

    /// <summary>MLLP over TLS, presenting <paramref name="clientCertificate"/> (or none).</summary>
    public static async Task<MllpClient> ConnectTlsAsync(int port, X509Certificate2? clientCertificate)
    {
        var socket = new Socket(AddressFamily.InterNetwork, SocketType.Stream, ProtocolType.Tcp);
        await socket.ConnectAsync(new IPEndPoint(IPAddress.Loopback, port));
        var tls = new SslStream(new NetworkStream(socket, ownsSocket: true), leaveInnerStreamOpen: false);
        await tls.AuthenticateAsClientAsync(new SslClientAuthenticationOptions
        {
            TargetHost = "localhost",
            ClientCertificates = clientCertificate is null ? null : new X509CertificateCollection { clientCertificate },
            RemoteCertificateValidationCallback = static (_, _, _, _) => true, // the test's own self-signed server
        });
        return new MllpClient(tls);
    }

    public Task SendRawAsync(byte[] bytes) => _stream.WriteAsync(bytes).AsTask();

    public Task SendAsync(string message) => SendRawAsync([0x0B, .. Encoding.UTF8.GetBytes(message), 0x1C, 0x0D]);

    /// <summary>The next framed answer, or null if the server closed the connection or nothing came in time.</summary>
    public async Task<string?> ReceiveAsync(TimeSpan? timeout = null)
    {
        using var cts = new CancellationTokenSource(timeout ?? TimeSpan.FromSeconds(10));
        byte[] buffer = new byte[8192];
        while (true)
        {
            int start = _pending.IndexOf(0x0B);
            int end = _pending.IndexOf(0x1C);
            if (start >= 0 && end > start && end + 1 < _pending.Count && _pending[end + 1] == 0x0D)
            {
                string frame = Encoding.UTF8.GetString(_pending.GetRange(start + 1, end - start - 1).ToArray());
                _pending.RemoveRange(0, end + 2);
                return frame;
            }
            int read;
            try
            {
                read = await _stream.ReadAsync(buffer, cts.Token);
            }
            catch (OperationCanceledException)
            {
                return null;
            }
            catch (IOException)
            {
                return null;
            }
            if (read == 0)
            {
                return null;
            }
            _pending.AddRange(buffer.AsSpan(0, read));
        }
    }

    /// <summary>True once the server has closed its side.</summary>
    public async Task<bool> IsClosedAsync(TimeSpan within)
    {
        using var cts = new CancellationTokenSource(within);
        byte[] one = new byte[1];
        try
        {
            return await _stream.ReadAsync(one, cts.Token) == 0;
        }
        catch (OperationCanceledException)
        {
            return false;
        }
        catch (IOException)
        {
            return true;
        }
    }

    public async ValueTask DisposeAsync() => await _stream.DisposeAsync();
}
