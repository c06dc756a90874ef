using System.Text;
using Sidep.Parsing.Hl7v2;

namespace Sidep.Ingestion;

/// <summary>Turns a submission report into HL7 ACK messages, one per message of the submission.</summary>
public static class Acks
{
    private static long s_sequence;

    public static string NextControlId() => $"SIDEP{DateTimeOffset.UtcNow:yyyyMMddHHmmss}{Interlocked.Increment(ref s_sequence):D6}";

    /// <summary>The ACKs of a report: original mode (MSA AA/AE/AR) for each message.</summary>
    public static string ForReport(SubmissionReport report)
    {
        var sb = new StringBuilder();
        foreach (Ack ack in Each(report))
        {
            sb.Append(ack.Original);
        }
        return sb.ToString();
    }

    public sealed record Ack(MessageReport? Message, string Code, string Original, IReadOnlyList<AckError> Errors);

    public static IEnumerable<Ack> Each(SubmissionReport report)
    {
        DateTimeOffset now = DateTimeOffset.Now;
        if (report.Messages.Count == 0)
        {
            List<AckError> errors = report.Problems.Select(ToAck).ToList();
            if (errors.Count == 0)
            {
                errors.Add(new AckError("", 0, 0, 0, 0, 'E', "NotHl7", "no HL7 message found"));
            }
            yield return new Ack(null, "AR", Hl7AckWriter.Write("AR", null, null, null, null, null, null, errors, now, NextControlId()), errors);
            yield break;
        }
        foreach (MessageReport message in report.Messages)
        {
            var errors = new List<AckError>();
            errors.AddRange(message.Problems.Select(ToAck));
            foreach (ItemReport item in report.Items.Where(i => i.MessageControlId == message.ControlId && i.Line >= message.Line && i.ByteOffset < message.ByteOffset + message.ByteLength))
            {
                errors.AddRange(item.Problems.Where(p => p.Code != "MessageRejected").Select(ToAck));
            }
            if (message == report.Messages[^1])
            {
                errors.AddRange(report.Problems.Select(ToAck));
            }
            MessageHeader h = message.Header;
            string text = Hl7AckWriter.Write(message.AckCode, message.ControlId, h.Version, h.SendingApplication, h.SendingFacility,
                h.ReceivingApplication, h.ReceivingFacility, errors, now, NextControlId());
            yield return new Ack(message, message.AckCode, text, errors);
        }
    }

    /// <summary>AR ACKs for every message of a refused submission (wrong lab), with the reason in ERR.</summary>
    public static string Refusal(SubmissionReport report, string code, string reason) => string.Concat(Refusals(report, code, reason));

    /// <summary>The AR ACK of each message of a refused submission, apart (MLLP frames each on its own).</summary>
    public static IEnumerable<string> Refusals(SubmissionReport report, string code, string reason)
    {
        var error = new AckError("MSH", 0, 4, 0, 0, 'E', code, reason);
        var messages = new List<MessageReport?>(report.Messages);
        if (messages.Count == 0)
        {
            messages.Add(null);
        }
        foreach (MessageReport? m in messages)
        {
            MessageHeader? h = m?.Header;
            yield return Hl7AckWriter.Write("AR", m?.ControlId, h?.Version, h?.SendingApplication, h?.SendingFacility, h?.ReceivingApplication,
                h?.ReceivingFacility, [error with { Line = m?.Line ?? 0, ByteOffset = m?.ByteOffset ?? 0 }], DateTimeOffset.Now, NextControlId());
        }
    }

    /// <summary>An ACK with another MSA code (enhanced-mode commit ACK: CA/CE/CR).</summary>
    public static string WithCode(Ack ack, string code)
    {
        MessageHeader? h = ack.Message?.Header;
        return Hl7AckWriter.Write(code, ack.Message?.ControlId, h?.Version, h?.SendingApplication, h?.SendingFacility, h?.ReceivingApplication,
            h?.ReceivingFacility, ack.Errors, DateTimeOffset.Now, NextControlId());
    }

    private static AckError ToAck(ProblemReport p) => new(p.Segment, p.Line, p.Field, p.Component, p.ByteOffset, Severity(p), p.Code, p.Message);

    /// <summary>E, W or I: the severity letter HL7 (ERR-4) and Sidep's HPRIM acknowledgement both use.</summary>
    internal static char Severity(ProblemReport p) => p.Severity switch { "error" => 'E', "information" => 'I', _ => 'W' };
}

/// <summary>Answers HPRIM senders in HPRIM: Sidep's acknowledgement file (see <see cref="Parsing.Hprim.HprimAckWriter"/>).</summary>
public static class HprimAnswers
{
    /// <summary>The HPRIM acknowledgement file of a report: counts, then one ERR record per problem.</summary>
    public static byte[] For(SubmissionReport report)
    {
        var errors = new List<Parsing.Hprim.HprimAckError>();
        IEnumerable<ProblemReport> all = report.Problems
            .Concat(report.Messages.SelectMany(m => m.Problems))
            .Concat(report.Items.SelectMany(i => i.Problems.Where(p => p.Code != "MessageRejected")));
        foreach (ProblemReport p in all)
        {
            errors.Add(new Parsing.Hprim.HprimAckError(p.Segment, p.Line, p.Field, p.ByteOffset, Acks.Severity(p), p.Code, p.Message, p.Found, p.Expected));
        }
        return Write(report, report.SubmissionId, report.Counts.Stored, report.Counts.Rejected, report.Counts.Quarantined, report.Counts.Duplicate, errors);
    }

    /// <summary>A submission refused as a whole (its lab may not submit as the lab it names): every item refused, and why.</summary>
    public static byte[] Refusal(SubmissionReport report, string code, string reason)
    {
        MessageReport? first = report.Messages.Count > 0 ? report.Messages[0] : null;
        return Write(report, null, 0, Math.Max(1, report.Items.Count), 0, 0, [new Parsing.Hprim.HprimAckError("H", first?.Line ?? 0, 0, first?.ByteOffset ?? 0, 'E', code, reason, null, null)]);
    }

    /// <summary>The file, addressed to the sender of the submission's first message (its H record: file name, sender).</summary>
    private static byte[] Write(SubmissionReport report, string? submissionId, int accepted, int rejected, int pending, int duplicates,
        IEnumerable<Parsing.Hprim.HprimAckError> errors)
    {
        MessageReport? first = report.Messages.Count > 0 ? report.Messages[0] : null;
        string[] sender = (first?.Header.SendingFacility ?? "").Split('^');
        return Parsing.Hprim.HprimAckWriter.Write(first?.ControlId, sender[0], sender.Length > 1 ? sender[1] : null, submissionId, accepted, rejected, pending, duplicates,
            errors, DateTimeOffset.Now);
    }
}
