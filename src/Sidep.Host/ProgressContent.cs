using System.Net;

namespace Sidep.Host;

/// <summary>Streams a file as a request body, drawing a progress bar on stderr for large files.</summary>
internal sealed class ProgressContent(Stream source, long length, string name, bool showProgress) : HttpContent
{
    protected override async Task SerializeToStreamAsync(Stream stream, TransportContext? context)
    {
        byte[] buffer = new byte[81920];
        long sent = 0;
        int lastPercent = -1;
        int read;
        while ((read = await source.ReadAsync(buffer)) > 0)
        {
            await stream.WriteAsync(buffer.AsMemory(0, read));
            sent += read;
            int percent = length == 0 ? 100 : (int)(sent * 100 / length);
            if (showProgress && percent != lastPercent)
            {
                lastPercent = percent;
                int filled = percent / 5;
                Console.Error.Write($"\r{name} [{new string('#', filled)}{new string('.', 20 - filled)}] {percent,3}% {sent / 1024:N0} KiB");
            }
        }
        if (showProgress)
        {
            Console.Error.WriteLine(" sent, waiting for the report…");
        }
    }

    protected override bool TryComputeLength(out long computed)
    {
        computed = length;
        return true;
    }
}
