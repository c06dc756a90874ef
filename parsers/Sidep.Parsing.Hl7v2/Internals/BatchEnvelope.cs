using System.Buffers.Text;

namespace Sidep.Parsing.Hl7v2.Internals;

using Sidep.Parsing.Internals;

/// <summary>FHS/BHS … BTS/FTS: checks a batch is whole (a header without its trailer means it was cut)
/// and that BTS-1 counts the messages sent.</summary>
internal struct BatchEnvelope
{
    private bool _fileHeader, _fileTrailer, _batchHeader, _batchTrailer;
    private int _messagesAtBatchHeader;

    public void Read(ReadOnlySpan<byte> segment, long offset, int line, ParsedSubmission submission)
    {
        if (segment.StartsWith(Hl7Constants.Fhs))
        {
            _fileHeader = true;
        }
        else if (segment.StartsWith(Hl7Constants.Bhs))
        {
            _batchHeader = true;
            _messagesAtBatchHeader = submission.Messages.Count;
        }
        else if (segment.StartsWith(Hl7Constants.Fts))
        {
            _fileTrailer = true;
        }
        else if (segment.StartsWith(Hl7Constants.Bts))
        {
            _batchTrailer = true;
            if (segment.Length > 4)
            {
                ReadOnlySpan<byte> count = segment[4..];
                int end = count.IndexOf(segment[3]);
                count = end < 0 ? count : count[..end];
                if (!count.IsEmpty && Utf8Parser.TryParse(count, out int n, out int used) && used == count.Length)
                {
                    int sent = submission.Messages.Count - _messagesAtBatchHeader;
                    if (n != sent)
                    {
                        submission.Diagnostics.Add(new Diagnostic(Severity.Warning, DiagnosticCode.TruncatedMessage,
                            $"BTS-1 declares {n} messages but the batch holds {sent}", new SourcePosition("BTS", line, 1, 0, offset + 4)));
                    }
                }
            }
        }
    }

    public readonly void Finish(ParsedSubmission submission, long length, int lines)
    {
        bool cut = (_fileHeader && !_fileTrailer) || (_batchHeader && !_batchTrailer);
        if (!cut)
        {
            return;
        }
        string missing = _batchHeader && !_batchTrailer ? "BTS" : "FTS";
        var position = new SourcePosition(missing, lines, 0, 0, length);
        if (submission.Messages.Count > 0)
        {
            // The last message may have been cut anywhere: reject it rather than keep half a result.
            ParsedMessage last = submission.Messages[^1];
            last.Diagnostics.Add(new Diagnostic(Severity.Error, DiagnosticCode.TruncatedMessage,
                $"the batch ends without its {missing} trailer: this last message may be cut, send it again", position));
        }
        else
        {
            submission.Diagnostics.Add(new Diagnostic(Severity.Error, DiagnosticCode.TruncatedMessage,
                $"the batch ends without its {missing} trailer and holds no message", position));
        }
    }
}
