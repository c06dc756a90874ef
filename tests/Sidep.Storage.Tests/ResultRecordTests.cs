using Sidep.Domain;
using Sidep.Ingestion;
using Sidep.Pipeline;
using Sidep.Tests;

namespace Sidep.Storage.Tests;

public class ResultRecordTests
{
    private static string Json(ResultEnvelope? e) => System.Text.Json.JsonSerializer.Serialize(e, SidepJson.Default.ResultEnvelope!);

    [Fact]
    public void A_result_record_carries_its_envelope_in_binary_and_records_of_earlier_layouts_are_still_read()
    {
        var parsed = new Sidep.Parsing.Hl7v2.Hl7v2Parser().Parse(System.Buffers.BuffersExtensions.ToArray(IdentityFixtures.Message("ACC1", IdentityFixtures.ThreeLabs[0])));
        LabResult result = parsed.Messages[0].Items[0].Result! with { Loinc = "94500-6" };
        var envelope = new ResultEnvelope("sub", 3, "correction", DateTimeOffset.UtcNow, "http", result);
        byte[] json = System.Text.Json.JsonSerializer.SerializeToUtf8Bytes(envelope, SidepJson.Default.ResultEnvelope);
        byte[] hash = new byte[32];
        hash[0] = 7;

        byte[] payload = ResultRecords.Encode(hash, envelope);
        Assert.True(ResultRecords.IsBinary(payload));
        Assert.Equal((3, 7), (ResultRecords.Version(payload), (int)ResultRecords.ContentHash(payload)[0]));
        Assert.Equal(Json(envelope), Json(ResultEnvelopes.Read(payload, out _)));
        Assert.True(payload.Length < json.Length / 2 + 36, $"binary {payload.Length} bytes, JSON {json.Length}");

        // Written by earlier releases: the JSON right after the version, or behind a marker and a summary.
        byte[] first = [.. hash, .. BitConverter.GetBytes(3), .. json];
        byte[] summarised = [.. hash, .. BitConverter.GetBytes(3), 0x01, 2, 0, 0xAA, 0xBB, .. json];
        Assert.Equal(Json(envelope), Json(ResultEnvelopes.Read(first, out _)));
        Assert.Equal(Json(envelope), Json(ResultEnvelopes.Read(summarised, out _)));

        // Damaged (cut short anywhere): no envelope, and a reason a stage dead-letters it with — never an exception.
        for (int cut = 0; cut < payload.Length; cut++)
        {
            Assert.Null(ResultEnvelopes.Read(payload.AsSpan(0, cut), out string? reason));
            Assert.False(string.IsNullOrEmpty(reason));
        }
    }
}
