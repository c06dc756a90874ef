using System.Buffers;

namespace Sidep.Parsing.Hl7v2;

public sealed partial class Hl7v2Parser
{
    /// <summary>Parses a submission straight from a pipe's buffers. A message that lies in one buffer segment
    /// is parsed in place; one that straddles segments is copied once into pooled memory.</summary>
    public ParsedSubmission Parse(in ReadOnlySequence<byte> input)
    {
        if (input.IsSingleSegment)
        {
            return Parse(input.FirstSpan);
        }
        var submission = new ParsedSubmission();
        var batch = new Internals.BatchEnvelope();
        var reader = new SequenceReader<byte>(input);
        Span<byte> head = stackalloc byte[4];
        reader.IsNext(Contiguous.Utf8Bom, advancePast: true);
        bool anyContent = false;
        int line = 1;
        long messageStart = -1;
        int messageLine = 0;
        while (!reader.End)
        {
            long at = reader.Consumed;
            bool terminated = reader.TryReadToAny(out ReadOnlySequence<byte> segment, "\r\n"u8, advancePastDelimiter: false);
            if (!terminated)
            {
                segment = input.Slice(reader.Position);
                reader.AdvanceToEnd();
            }
            else
            {
                reader.TryRead(out byte terminator);
                if (terminator == Hl7Constants.CarriageReturn)
                {
                    reader.IsNext(Hl7Constants.LineFeed, advancePast: true);
                }
            }
            int headLength = (int)Math.Min(segment.Length, head.Length);
            segment.Slice(0, headLength).CopyTo(head);
            LineKind kind = Classify(head[..headLength]);
            if (kind == LineKind.Blank && segment.Length > head.Length)
            {
                kind = LineKind.Other; // "    x…": leading blanks, but not blank
            }
            if (kind != LineKind.Blank)
            {
                anyContent = true;
            }
            switch (kind)
            {
                case LineKind.Message:
                    if (messageStart >= 0)
                    {
                        submission.Messages.Add(ParseMessage(input.Slice(messageStart, at - messageStart), messageStart, messageLine));
                    }
                    messageStart = at;
                    messageLine = line;
                    break;
                case LineKind.Envelope:
                    if (messageStart >= 0)
                    {
                        submission.Messages.Add(ParseMessage(input.Slice(messageStart, at - messageStart), messageStart, messageLine));
                        messageStart = -1;
                    }
                    // Envelope lines are short and rare: a copy keeps this path simple.
                    batch.Read(segment.IsSingleSegment ? segment.FirstSpan : segment.ToArray(), at, line, submission);
                    break;
                case LineKind.Other when messageStart < 0:
                    OutsideMessage(segment.IsSingleSegment ? segment.FirstSpan : segment.Slice(0, Math.Min(segment.Length, 8)).ToArray(), segment.Length, at, line, submission);
                    break;
            }
            line++;
        }
        if (!anyContent)
        {
            submission.Diagnostics.Add(new Diagnostic(Severity.Error, DiagnosticCode.EmptyInput, "the submission is empty", new SourcePosition("", 1, 0, 0, 0)));
            return submission;
        }
        if (messageStart >= 0)
        {
            submission.Messages.Add(ParseMessage(input.Slice(messageStart), messageStart, messageLine));
        }
        batch.Finish(submission, input.Length, line);
        return submission;
    }

    private ParsedMessage ParseMessage(in ReadOnlySequence<byte> message, long offset, int line) => message.IsSingleSegment
        ? _messageParser.Parse(message.FirstSpan, offset, line)
        : Contiguous.Parse(message, span => _messageParser.Parse(span, offset, line));
}
