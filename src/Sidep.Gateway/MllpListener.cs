using System.Buffers;
using System.IO.Pipelines;
using System.Net;
using System.Net.Security;
using System.Security.Authentication;
using System.Security.Cryptography;
using System.Security.Cryptography.X509Certificates;
using System.Net.Sockets;
using System.Text;
using Microsoft.Extensions.Hosting;
using Microsoft.Extensions.Logging;
using Sidep.Ingestion;
using Sidep.Parsing.Hl7v2;
using Sidep.Domain;
using Sidep.Pipeline;

namespace Sidep.Gateway;

/// <summary>
/// MLLP over TCP: 0x0B message 0x1C 0x0D. One ACK per message, written only after the message is durable.
/// With TLS (a server certificate configured) a lab is identified by its client certificate, pinned by SHA-256
/// thumbprint ('sidep labs add --mllp-cert'); without TLS, by its source address ('--mllp-source'). Bytes outside a frame, oversized frames and unknown sources are answered with an AR, and the
/// connection stays usable; a frame that does not complete within the frame timeout (slowloris) closes it.
/// </summary>
public sealed class MllpListener(IngestionService ingestion, ILabRegister store, GatewayOptions options, Backpressure backpressure, StorageHealth health, ILogger<MllpListener> logger) : BackgroundService
{
    private readonly TaskCompletionSource<int> _port = new(TaskCreationOptions.RunContinuationsAsynchronously);
    private readonly System.Collections.Concurrent.ConcurrentDictionary<IPAddress, int> _perSource = new();
    private int _connections;
    private int _maxConnections;

    /// <summary>Bytes an unidentified peer may send before its answer: it is never buffered a lab's 16 MiB.</summary>
    public const int UnidentifiedFrameBytes = 64 * 1024;

    /// <summary>How long an unidentified peer may stay connected without sending a whole frame.</summary>
    public static readonly TimeSpan UnidentifiedIdleTimeout = TimeSpan.FromSeconds(10);

    public static readonly System.Diagnostics.Metrics.Meter Meter = new("Sidep.Gateway");
    private static readonly System.Diagnostics.Metrics.Counter<long> s_refused = Meter.CreateCounter<long>("sidep.mllp.connections_refused",
        description: "MLLP connections closed at once: over the global or per-source cap, or accept() failing (file descriptors exhausted)");

    /// <summary>The port actually bound (useful with port 0).</summary>
    public Task<int> Port => _port.Task;

    protected override async Task ExecuteAsync(CancellationToken stoppingToken)
    {
        if (options.MllpPort < 0)
        {
            _port.TrySetResult(-1);
            return;
        }
        using var listener = new Socket(AddressFamily.InterNetwork, SocketType.Stream, ProtocolType.Tcp);
        listener.Bind(new IPEndPoint(IPAddress.Parse(options.MllpAddress), options.MllpPort));
        listener.Listen(512);
        int port = ((IPEndPoint)listener.LocalEndPoint!).Port;
        _maxConnections = Math.Min(options.MllpMaxConnections, FileDescriptors.Budget());
        _port.TrySetResult(port);
        logger.LogInformation("MLLP listening on {Address}:{Port}, at most {Max} connections ({PerSource} per source)", options.MllpAddress, port, _maxConnections,
            options.MllpMaxConnectionsPerSource);
        Func<Socket, CancellationToken, ValueTask<Socket>> accept = options.MllpAccept ?? ((l, ct) => l.AcceptAsync(ct));
        TimeSpan pause = TimeSpan.FromMilliseconds(50);
        while (!stoppingToken.IsCancellationRequested)
        {
            Socket client;
            try
            {
                client = await accept(listener, stoppingToken);
                pause = TimeSpan.FromMilliseconds(50);
            }
            catch (OperationCanceledException)
            {
                break;
            }
            catch (SocketException ex)
            {
                // EMFILE / ENFILE (file descriptors exhausted) and the like: the listener and the host go on; the
                // connection waits in the backlog until descriptors are free again.
                s_refused.Add(1, new KeyValuePair<string, object?>("reason", "accept_failed"));
                logger.LogWarning("MLLP accept failed ({Error}: {Message}); retrying in {Pause} ms", ex.SocketErrorCode, ex.Message, pause.TotalMilliseconds);
                try
                {
                    await Task.Delay(pause, stoppingToken);
                }
                catch (OperationCanceledException)
                {
                    break;
                }
                pause = TimeSpan.FromTicks(Math.Min(pause.Ticks * 2, TimeSpan.FromSeconds(2).Ticks));
                continue;
            }
            IPAddress source = ((IPEndPoint)client.RemoteEndPoint!).Address;
            if (!Admit(source))
            {
                s_refused.Add(1, new KeyValuePair<string, object?>("reason", "over_cap"));
                client.Dispose();
                continue;
            }
            _ = Task.Run(async () =>
            {
                try
                {
                    await ServeAsync(client, stoppingToken);
                }
                finally
                {
                    Release(source);
                }
            }, stoppingToken);
        }
    }

    /// <summary>Counts the connection in, or says it is one too many (globally, or from its source address).</summary>
    private bool Admit(IPAddress source)
    {
        if (Interlocked.Increment(ref _connections) > _maxConnections)
        {
            Interlocked.Decrement(ref _connections);
            return false;
        }
        if (_perSource.AddOrUpdate(source, 1, (_, n) => n + 1) > options.MllpMaxConnectionsPerSource)
        {
            Release(source);
            return false;
        }
        return true;
    }

    private void Release(IPAddress source)
    {
        Interlocked.Decrement(ref _connections);
        _perSource.AddOrUpdate(source, 0, (_, n) => n - 1);
        _perSource.TryRemove(new KeyValuePair<IPAddress, int>(source, 0));
    }

    private async Task ServeAsync(Socket socket, CancellationToken stoppingToken)
    {
        using (socket)
        await using (var network = new NetworkStream(socket, ownsSocket: false))
        {
            var remote = (IPEndPoint)socket.RemoteEndPoint!;
            try
            {
                if (options.MllpCertificate is null)
                {
                    await ServeConnectionAsync(network, LabOf(remote.Address), "this source address is not registered for any lab ('sidep labs add --mllp-source ADDRESS')", stoppingToken);
                    return;
                }
                await using var tls = new SslStream(network, leaveInnerStreamOpen: true);
                using var handshake = CancellationTokenSource.CreateLinkedTokenSource(stoppingToken);
                handshake.CancelAfter(options.FrameTimeout);
                await tls.AuthenticateAsServerAsync(new SslServerAuthenticationOptions
                {
                    ServerCertificate = options.MllpCertificate,
                    ClientCertificateRequired = true,
                    EnabledSslProtocols = SslProtocols.Tls12 | SslProtocols.Tls13,
                    // Trust is the registered thumbprint, not a chain: any well-formed, unexpired client certificate may present itself.
                    RemoteCertificateValidationCallback = static (_, certificate, _, _) => certificate is not null,
                }, handshake.Token);
                (Lab? lab, string why) = LabOf(tls.RemoteCertificate);
                await ServeConnectionAsync(tls, lab, why, stoppingToken);
            }
            catch (Exception ex) when (ex is IOException or SocketException or OperationCanceledException or AuthenticationException)
            {
                logger.LogDebug("MLLP connection from {Remote} ended: {Reason}", remote, ex.GetType().Name);
            }
        }
    }

    private (Lab? Lab, string Why) LabOf(X509Certificate? certificate)
    {
        if (certificate is null)
        {
            return (null, "no client certificate was presented");
        }
        using var cert = new X509Certificate2(certificate);
        if (DateTime.Now > cert.NotAfter || DateTime.Now < cert.NotBefore)
        {
            return (null, $"the client certificate is not valid now (valid {cert.NotBefore:yyyy-MM-dd} to {cert.NotAfter:yyyy-MM-dd})");
        }
        string thumbprint = cert.GetCertHashString(HashAlgorithmName.SHA256);
        Lab? lab = store.FindLabByCertificate(thumbprint);
        return (lab, $"client certificate SHA-256 {thumbprint} is not registered for any lab ('sidep labs add --mllp-cert THUMBPRINT')");
    }

    private Lab? LabOf(IPAddress address)
    {
        string text = address.IsIPv4MappedToIPv6 ? address.MapToIPv4().ToString() : address.ToString();
        return store.FindLabByMllpSource(text);
    }

    private async Task ServeConnectionAsync(Stream stream, Lab? lab, string unknownLab, CancellationToken stoppingToken)
    {
        PipeReader reader = PipeReader.Create(stream, new StreamPipeReaderOptions(bufferSize: 64 * 1024, leaveOpen: true));
        DateTime frameStarted = DateTime.UtcNow;
        // Only a whole frame resets the idle timer: bytes outside frames do not keep a connection alive.
        DateTime lastFrame = DateTime.UtcNow;
        // An unidentified peer is answered once (AR) and closed; until then it may not make Sidep hold more than a
        // small frame, nor keep its connection for long.
        int maxFrame = lab is null ? Math.Min(UnidentifiedFrameBytes, options.MllpMaxFrameBytes) : options.MllpMaxFrameBytes;
        TimeSpan idle = lab is null ? UnidentifiedIdleTimeout : options.IdleTimeout;
        var framer = new MllpFramer(maxFrame);
        while (!stoppingToken.IsCancellationRequested)
        {
            bool inFrame = framer.InFrame;
            TimeSpan wait = inFrame ? options.FrameTimeout - (DateTime.UtcNow - frameStarted) : idle - (DateTime.UtcNow - lastFrame);
            if (!inFrame && wait <= TimeSpan.Zero)
            {
                logger.LogDebug("MLLP connection of lab {Lab} sent no frame for {Timeout}; closed", lab?.Finess ?? "(unknown)", idle);
                return;
            }
            if (wait <= TimeSpan.Zero)
            {
                logger.LogInformation("MLLP frame from lab {Lab} did not complete within {Timeout}; connection closed", lab?.Finess ?? "(unknown)", options.FrameTimeout);
                return;
            }
            using var timeout = CancellationTokenSource.CreateLinkedTokenSource(stoppingToken);
            timeout.CancelAfter(wait);
            ReadResult read;
            try
            {
                read = await reader.ReadAsync(timeout.Token);
            }
            catch (OperationCanceledException) when (!stoppingToken.IsCancellationRequested)
            {
                continue; // the loop head closes a connection that is idle or a frame that is late
            }
            ReadOnlySequence<byte> buffer = read.Buffer;
            while (true)
            {
                bool wasInFrame = framer.InFrame;
                MllpEvent next = framer.Next(ref buffer, out ReadOnlySequence<byte> message, out long garbage);
                if (!wasInFrame && framer.InFrame)
                {
                    frameStarted = DateTime.UtcNow;
                }
                if (next == MllpEvent.NeedMore)
                {
                    break;
                }
                if (next is MllpEvent.Garbage or MllpEvent.Oversized && lab is null)
                {
                    await SendRejectAsync(stream, "UnknownLab", unknownLab, stoppingToken);
                    return;
                }
                if (next == MllpEvent.Garbage)
                {
                    await SendRejectAsync(stream, "NotHl7", $"{garbage} bytes outside MLLP framing (0x0B … 0x1C 0x0D) were discarded", stoppingToken);
                    continue;
                }
                if (next == MllpEvent.Oversized)
                {
                    await SendRejectAsync(stream, "SegmentTooLong", $"MLLP frame exceeds the {options.MllpMaxFrameBytes}-byte limit; it is discarded up to its end block", stoppingToken);
                    continue;
                }
                if (lab is null)
                {
                    await SendRejectAsync(stream, "UnknownLab", unknownLab, stoppingToken, HeaderOf(message));
                    return; // one answer, then closed
                }
                if (message.Length > options.MllpMaxFrameBytes)
                {
                    await SendRejectAsync(stream, "SegmentTooLong", $"MLLP frame of {message.Length} bytes exceeds the {options.MllpMaxFrameBytes}-byte limit", stoppingToken);
                }
                else
                {
                    await HandleMessageAsync(stream, lab, unknownLab, message, stoppingToken);
                }
                lastFrame = DateTime.UtcNow;
            }
            reader.AdvanceTo(buffer.Start, read.Buffer.End);
            if (read.IsCompleted)
            {
                return;
            }
        }
    }

    /// <summary>Position just after 0x1C 0x0D, or null.</summary>
    private async Task HandleMessageAsync(Stream stream, Lab? lab, string unknownLab, ReadOnlySequence<byte> message, CancellationToken ct)
    {
        Header header = HeaderOf(message);
        if (lab is null)
        {
            await SendRejectAsync(stream, "UnknownLab", unknownLab, ct, header);
            return;
        }
        // Backpressure: the acknowledgement waits while the pipeline is too far behind (the sender waits for it).
        await backpressure.WaitAsync(ct);
        SubmissionOutcome outcome;
        try
        {
            outcome = await ingestion.SubmitAsync(lab, message, "hl7v2", "mllp", dryRun: false, ct);
        }
        catch (NotDurableException ex)
        {
            health.Failed("journal", ex.InnerException ?? ex);
            await SendRejectAsync(stream, "NotDurable", ex.Message, ct, header); // AR: refused for a reason unrelated to its content; send it again
            return;
        }
        if (outcome.Forbidden is not null)
        {
            // As over HTTP: each message read is named, with its line and byte.
            foreach (string refusal in Acks.Refusals(outcome.Report, "LabMismatch", outcome.Forbidden))
            {
                await WriteFrameAsync(stream, refusal, ct);
            }
            return;
        }
        foreach (Acks.Ack ack in Acks.Each(outcome.Report))
        {
            string? accept = ack.Message?.Header.AcceptAckType;
            string? application = ack.Message?.Header.ApplicationAckType;
            // By default every message is answered once (AA/AE/AR), whatever MSH-15/16 ask, as the integration engines
            // labs use do: clients wait for an answer to each message, and a lab must learn of a rejection. Honouring
            // MSH-15/16 (NE: no answer; enhanced mode: a commit ACK then the application ACK) is an option.
            if (!options.MllpHonourAckTypes || (string.IsNullOrEmpty(accept) && string.IsNullOrEmpty(application)))
            {
                await WriteFrameAsync(stream, ack.Original, ct); // original mode
                continue;
            }
            // Enhanced mode: a commit ACK (CA/CE/CR) and an application ACK (AA/AE/AR), each as MSH-15/16 ask.
            string commit = ack.Code == "AR" ? "CR" : "CA";
            bool accepted = ack.Code == "AA";
            if (Wants(accept, accepted))
            {
                await WriteFrameAsync(stream, Acks.WithCode(ack, commit), ct);
            }
            if (Wants(application, accepted))
            {
                await WriteFrameAsync(stream, ack.Original, ct);
            }
        }
    }

    /// <summary>HL7 table 0155: AL always, NE never, ER on error, SU on success.</summary>
    private static bool Wants(string? condition, bool success) => condition switch
    {
        "AL" => true,
        "ER" => !success,
        "SU" => success,
        _ => false,
    };

    /// <summary>An AR for a message refused before it was read (unknown lab, not stored): MSA-2 names the message when
    /// its MSH could be read.</summary>
    private static Task SendRejectAsync(Stream stream, string code, string text, CancellationToken ct, Header header = default) =>
        WriteFrameAsync(stream, Hl7AckWriter.Write("AR", header.ControlId, header.Version, header.SendingApplication, header.SendingFacility,
            header.ReceivingApplication, header.ReceivingFacility, [new AckError("MSH", 1, 0, 0, 0, 'E', code, text)], DateTimeOffset.Now, Acks.NextControlId()), ct);

    /// <summary>What an answer needs of a message's MSH: its control id (MSH-10), version (MSH-12) and the applications
    /// and facilities (MSH-3 to MSH-6, first component), read from its first segment only.</summary>
    internal readonly record struct Header(string? ControlId, string? Version, string? SendingApplication, string? SendingFacility,
        string? ReceivingApplication, string? ReceivingFacility);

    internal static Header HeaderOf(in ReadOnlySequence<byte> message)
    {
        Span<byte> first = stackalloc byte[1024];
        ReadOnlySequence<byte> head = message.Slice(0, Math.Min(message.Length, first.Length));
        head.CopyTo(first);
        first = first[..(int)head.Length];
        int end = first.IndexOfAny((byte)'\r', (byte)'\n');
        ReadOnlySpan<byte> segment = end < 0 ? first : first[..end];
        if (segment.Length < 8 || !segment.StartsWith("MSH"u8))
        {
            return default;
        }
        char separator = (char)segment[3];
        char component = (char)segment[4];
        string[] fields = Encoding.Latin1.GetString(segment).Split(separator);
        string? Field(int msh) => msh - 1 < fields.Length && fields[msh - 1].Length > 0 ? fields[msh - 1].Split(component)[0] : null;
        return new Header(Field(10), Field(12), Field(3), Field(4), Field(5), Field(6));
    }

    private static async Task WriteFrameAsync(Stream stream, string ack, CancellationToken ct)
    {
        byte[] bytes = new byte[Encoding.UTF8.GetByteCount(ack) + 3];
        bytes[0] = Hl7Constants.MllpStart;
        Encoding.UTF8.GetBytes(ack, bytes.AsSpan(1));
        bytes[^2] = Hl7Constants.MllpEnd;
        bytes[^1] = Hl7Constants.CarriageReturn;
        await stream.WriteAsync(bytes, ct);
    }
}
