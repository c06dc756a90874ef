using System.Buffers;

namespace Sidep.Parsing.Hl7v2;

/// <summary>What the MLLP framer found next in the bytes received.</summary>
public enum MllpEvent
{
    /// <summary>No complete frame: read more bytes (what is kept is at most one frame's limit, plus its start byte).</summary>
    NeedMore,
    /// <summary>A complete frame: its message, between 0x0B and 0x1C 0x0D.</summary>
    Frame,
    /// <summary>Bytes outside any frame that are not whitespace (their count): discarded.</summary>
    Garbage,
    /// <summary>A frame longer than the limit: discarded up to its end block, which the framer skips to.</summary>
    Oversized,
}

/// <summary>
/// The MLLP framing of a connection (HL7 v2 Transport Specification: 0x0B, message, 0x1C 0x0D), apart from any I/O, so
/// that it can be tested and fuzzed on its own: fed the bytes received so far, it says what they hold and how far it
/// consumed them. Memory stays bounded whatever the peer sends: an unfinished frame is kept only up to the limit, an
/// oversized one is skipped to its end, bytes outside frames are dropped.
/// </summary>
public sealed class MllpFramer(int maxFrameBytes)
{
    private bool _discarding;

    /// <summary>Inside a frame whose end has not arrived yet.</summary>
    public bool InFrame { get; private set; }

    /// <summary>The next event in <paramref name="buffer"/>, which is moved past what was consumed (on
    /// <see cref="MllpEvent.NeedMore"/>, it is what must be kept for the next call, more bytes appended).</summary>
    /// <param name="message">The message of a <see cref="MllpEvent.Frame"/> (a slice of the buffer).</param>
    /// <param name="garbage">The number of bytes of a <see cref="MllpEvent.Garbage"/>.</param>
    public MllpEvent Next(ref ReadOnlySequence<byte> buffer, out ReadOnlySequence<byte> message, out long garbage)
    {
        message = default;
        garbage = 0;
        if (_discarding)
        {
            SequencePosition? end = FindEnd(buffer);
            if (end is null)
            {
                // Keep the last byte: it may be the 0x1C of an end block split across reads.
                buffer = buffer.Slice(buffer.Length > 1 ? buffer.GetPosition(buffer.Length - 1) : buffer.Start);
                return MllpEvent.NeedMore;
            }
            buffer = buffer.Slice(end.Value);
            _discarding = false;
            InFrame = false;
        }
        SequencePosition? start = buffer.PositionOf(Hl7Constants.MllpStart);
        ReadOnlySequence<byte> before = start is null ? buffer : buffer.Slice(0, start.Value);
        if (!IsWhitespace(before))
        {
            garbage = before.Length;
            buffer = buffer.Slice(before.End);
            return MllpEvent.Garbage;
        }
        if (start is null)
        {
            buffer = buffer.Slice(buffer.End);
            return MllpEvent.NeedMore;
        }
        InFrame = true;
        ReadOnlySequence<byte> afterStart = buffer.Slice(buffer.GetPosition(1, start.Value));
        SequencePosition? frameEnd = FindEnd(afterStart);
        if (frameEnd is null)
        {
            if (afterStart.Length > maxFrameBytes)
            {
                _discarding = true;
                buffer = afterStart;
                return MllpEvent.Oversized;
            }
            buffer = buffer.Slice(start.Value);
            return MllpEvent.NeedMore;
        }
        long frameLength = afterStart.Slice(0, frameEnd.Value).Length; // message + 0x1C 0x0D
        message = afterStart.Slice(0, frameLength - 2);
        buffer = afterStart.Slice(frameEnd.Value);
        InFrame = false;
        return MllpEvent.Frame;
    }

    /// <summary>The position after the first 0x1C 0x0D; null when there is none yet.</summary>
    private static SequencePosition? FindEnd(in ReadOnlySequence<byte> buffer)
    {
        var reader = new SequenceReader<byte>(buffer);
        while (reader.TryAdvanceTo(Hl7Constants.MllpEnd, advancePastDelimiter: true))
        {
            if (!reader.TryPeek(out byte next))
            {
                return null;
            }
            if (next == Hl7Constants.CarriageReturn)
            {
                reader.Advance(1);
                return reader.Position;
            }
        }
        return null;
    }

    private static bool IsWhitespace(in ReadOnlySequence<byte> bytes)
    {
        foreach (ReadOnlyMemory<byte> m in bytes)
        {
            if (m.Span.IndexOfAnyExcept(" \r\n\t"u8) >= 0)
            {
                return false;
            }
        }
        return true;
    }
}
