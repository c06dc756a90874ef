using System.Buffers;
using System.Net;
using System.Net.Sockets;

namespace Sidep.LoadGen;

/// <summary>A lab's MLLP connection as lab software opens it: from its own source address, one framed message at a time,
/// each waiting for its acknowledgement (original mode: one ACK per message).</summary>
public sealed class MllpSender : IAsyncDisposable
{
    private readonly Socket _socket;
    private readonly NetworkStream _stream;
    private readonly byte[] _buffer = new byte[64 * 1024];
    private int _filled;

    private MllpSender(Socket socket)
    {
        _socket = socket;
        _stream = new NetworkStream(socket, ownsSocket: true);
    }

    public static async Task<MllpSender> ConnectAsync(IPEndPoint server, string source, CancellationToken ct)
    {
        var socket = new Socket(server.AddressFamily, SocketType.Stream, ProtocolType.Tcp) { NoDelay = true };
        try
        {
            socket.Bind(new IPEndPoint(IPAddress.Parse(source), 0));
            await socket.ConnectAsync(server, ct);
            return new MllpSender(socket);
        }
        catch
        {
            socket.Dispose();
            throw;
        }
    }

    /// <summary>Sends one message and returns its ACK's MSA-1 (AA, AE, AR…), or null when the connection closed first.</summary>
    public async Task<string?> SendAsync(byte[] message, CancellationToken ct)
    {
        byte[] frame = ArrayPool<byte>.Shared.Rent(message.Length + 3);
        try
        {
            frame[0] = 0x0B;
            message.CopyTo(frame, 1);
            frame[message.Length + 1] = 0x1C;
            frame[message.Length + 2] = 0x0D;
            await _stream.WriteAsync(frame.AsMemory(0, message.Length + 3), ct);
        }
        finally
        {
            ArrayPool<byte>.Shared.Return(frame);
        }
        while (true)
        {
            int start = Array.IndexOf(_buffer, (byte)0x0B, 0, _filled);
            int end = start < 0 ? -1 : Array.IndexOf(_buffer, (byte)0x1C, start, _filled - start);
            if (end > 0 && end + 1 < _filled)
            {
                string? code = AckCode(_buffer.AsSpan(start + 1, end - start - 1));
                int rest = _filled - (end + 2);
                Array.Copy(_buffer, end + 2, _buffer, 0, rest);
                _filled = rest;
                return code;
            }
            if (_filled == _buffer.Length)
            {
                throw new InvalidDataException("an MLLP acknowledgement larger than 64 KiB");
            }
            int read = await _stream.ReadAsync(_buffer.AsMemory(_filled), ct);
            if (read == 0)
            {
                return null;
            }
            _filled += read;
        }
    }

    /// <summary>MSA-1 of an ACK.</summary>
    private static string? AckCode(ReadOnlySpan<byte> ack)
    {
        int msa = ack.IndexOf("\rMSA|"u8);
        if (msa < 0 || ack.Length < msa + 7)
        {
            return null;
        }
        return System.Text.Encoding.ASCII.GetString(ack.Slice(msa + 5, 2));
    }

    public ValueTask DisposeAsync()
    {
        try
        {
            _socket.Shutdown(SocketShutdown.Both);
        }
        catch (SocketException)
        {
            // Already closed by the server.
        }
        return _stream.DisposeAsync();
    }
}
