using Sidep.Domain;
using Sidep.Parsing;

namespace Sidep.Parsing.Tests;

public class DomainTests
{
    [Theory]
    [InlineData("185057800608491", true)]
    [InlineData("185057800608436", false)]
    [InlineData("276037510669380", false)] // the ANS sample's key is 26, not 80
    [InlineData("276037510669326", true)]
    [InlineData("18505780060843", false)]
    [InlineData("1850578006084AB", false)]
    public void INS_key_is_97_minus_the_number_modulo_97(string matricule, bool valid) => Assert.Equal(valid, InsNumber.IsValid(matricule));

    [Fact]
    public void Corsican_INS_reads_2A_as_19_and_2B_as_18()
    {
        // 1 85 05 2A 006 084 → number 1850519006084
        long a = 1850519006084;
        string keyA = (97 - a % 97).ToString("D2");
        Assert.True(InsNumber.IsValid("185052A006084" + keyA));
        long b = 1850518006084;
        string keyB = (97 - b % 97).ToString("D2");
        Assert.True(InsNumber.IsValid("185052B006084" + keyB));
        Assert.False(InsNumber.IsValid("185052A006084" + keyB) && keyA != keyB);
    }

    [Theory]
    [InlineData("94500-6", true)]
    [InlineData("94558-4", true)]
    [InlineData("94558-5", false)]
    [InlineData("11502-2", true)]
    [InlineData("MASQUE_PS", false)]
    [InlineData("260415000", false)]
    public void LOINC_codes_are_recognised_by_their_mod_10_check_digit(string code, bool ok) => Assert.Equal(ok, LoincCode.IsWellFormed(code));

    [Theory]
    [InlineData("POSITIF", Interpretation.Positive)]
    [InlineData("Détecté", Interpretation.Positive)]
    [InlineData("NEGATIF", Interpretation.Negative)]
    [InlineData("Non détecté", Interpretation.Negative)]
    [InlineData("non-detecte", Interpretation.Negative)]
    [InlineData("Ininterprétable", Interpretation.Indeterminate)]
    [InlineData("Not detected", Interpretation.Negative)]
    [InlineData("échantillon insatisfaisant", Interpretation.Unsatisfactory)]
    [InlineData("5.8", Interpretation.NotInterpreted)]
    public void Free_text_results_in_French_and_English_are_normalised(string text, Interpretation expected) =>
        Assert.Equal(expected, ResultValues.FromText(text));

    [Fact]
    public void The_assumed_offset_remembered_by_day_is_the_zones_own_at_every_hour_and_on_the_days_the_clocks_change()
    {
        for (var local = new DateTime(2019, 12, 25, 0, 30, 0); local < new DateTime(2027, 1, 5); local = local.AddHours(1))
        {
            Assert.Equal(DateTimeText.AssumedZone.GetUtcOffset(local), DateTimeText.AssumedOffset(local));
        }
        // Around the changes (last Sunday of March and of October), minute by minute, asked twice (the second from memory).
        foreach (DateTime day in new[] { new DateTime(2022, 3, 27), new DateTime(2022, 10, 30), new DateTime(2026, 3, 29), new DateTime(2026, 10, 25) })
        {
            for (DateTime local = day; local < day.AddDays(1); local = local.AddMinutes(7))
            {
                Assert.Equal(DateTimeText.AssumedZone.GetUtcOffset(local), DateTimeText.AssumedOffset(local));
                Assert.Equal(DateTimeText.AssumedZone.GetUtcOffset(local), DateTimeText.AssumedOffset(local));
            }
        }
        Assert.Equal(DateTimeText.AssumedZone.GetUtcOffset(DateTime.MaxValue), DateTimeText.AssumedOffset(DateTime.MaxValue));
        Assert.Equal(DateTimeText.AssumedZone.GetUtcOffset(DateTime.MinValue), DateTimeText.AssumedOffset(DateTime.MinValue));
    }

    [Fact]
    public void Folding_Latin1_text_by_table_gives_what_Unicode_decomposition_gives()
    {
        // Every Latin-1 character alone, between letters, and the words results are written with, in both cases.
        var texts = new List<string>();
        for (char c = '\0'; c <= '\u00FF'; c++)
        {
            texts.AddRange([c.ToString(), $"a{c}b", $"DE{c}TECTE{c}"]);
        }
        texts.AddRange(["Détecté", "NON DÉTECTÉ", "Ininterprétable", "échantillon  insatisfaisant", "Œuf", "Ærø", "  ÿ ß µ ª º ² ",
            "De\u0301tecte\u0301", "non-détecté (PCR)"]);
        foreach (string text in texts)
        {
            Assert.Equal(FoldByDecomposition(text), ResultValues.Fold(text));
        }
    }

    /// <summary>The folding as it is defined: FormD, marks dropped, letters and digits upper-cased, the rest one space.</summary>
    private static string FoldByDecomposition(string text)
    {
        var sb = new System.Text.StringBuilder();
        bool space = false;
        foreach (char c in text.Trim().Normalize(System.Text.NormalizationForm.FormD))
        {
            if (System.Globalization.CharUnicodeInfo.GetUnicodeCategory(c) == System.Globalization.UnicodeCategory.NonSpacingMark)
            {
                continue;
            }
            if (char.IsLetterOrDigit(c))
            {
                sb.Append(space && sb.Length > 0 ? " " : "").Append(char.ToUpperInvariant(c));
                space = false;
            }
            else
            {
                space = true;
            }
        }
        return sb.ToString();
    }

    [Theory]
    [InlineData("260373001", Interpretation.Positive)]
    [InlineData("10828004", Interpretation.Positive)]
    [InlineData("260415000", Interpretation.Negative)]
    [InlineData("260385009", Interpretation.Negative)]
    [InlineData("373068000", Interpretation.Indeterminate)]
    [InlineData("125154007", Interpretation.Unsatisfactory)]
    public void SNOMED_result_codes_are_normalised(string code, Interpretation expected) => Assert.Equal(expected, ResultValues.FromSnomed(code));

    [Theory]
    [InlineData("2021", TimestampPrecision.Year, false)]
    [InlineData("202104", TimestampPrecision.Month, false)]
    [InlineData("20210408", TimestampPrecision.Day, false)]
    [InlineData("202104081409", TimestampPrecision.Minute, false)]
    [InlineData("20210408140923-0400", TimestampPrecision.Second, true)]
    [InlineData("20210408140923.1234+0200", TimestampPrecision.Fraction, true)]
    public void HL7_timestamps_keep_their_precision_and_say_whether_the_zone_was_given(string text, TimestampPrecision precision, bool zone)
    {
        Assert.True(DateTimeText.TryParseTimestamp(System.Text.Encoding.ASCII.GetBytes(text), out Timestamp ts));
        Assert.Equal(precision, ts.Precision);
        Assert.Equal(zone, ts.TimeZoneGiven);
    }

    [Theory]
    [InlineData("2021-04-08")]
    [InlineData("20211340")]
    [InlineData("20210230")]
    [InlineData("2021040")]
    [InlineData("20210408+01")]
    [InlineData("abcd")]
    public void Malformed_timestamps_are_refused(string text) =>
        Assert.False(DateTimeText.TryParseTimestamp(System.Text.Encoding.ASCII.GetBytes(text), out _));

    [Fact]
    public void Partial_birth_dates_have_no_age_until_complete()
    {
        Assert.Null(new PartialDate(1980, null, null).AgeOn(new DateOnly(2021, 1, 1)));
        Assert.Equal(40, new PartialDate(1980, 6, 15).AgeOn(new DateOnly(2021, 6, 14)));
        Assert.Equal(41, new PartialDate(1980, 6, 15).AgeOn(new DateOnly(2021, 6, 15)));
        Assert.Equal("1980-06", new PartialDate(1980, 6, null).ToString());
    }

    [Fact]
    public void Content_hash_is_stable_for_the_same_content_and_changes_with_any_field()
    {
        byte[] bytes = File.ReadAllBytes(Sidep.Tests.Fixtures.Hl7("reportstream__CE-20200415-0001_CR.hl7"));
        LabResult a = new Sidep.Parsing.Hl7v2.Hl7v2Parser().Parse(bytes).Messages[0].Items[0].Result!;
        LabResult b = new Sidep.Parsing.Hl7v2.Hl7v2Parser().Parse(bytes).Messages[0].Items[0].Result!;
        Assert.Equal(ContentHash.Of(a), ContentHash.Of(b));
        Assert.NotEqual(ContentHash.Of(a), ContentHash.Of(a with { Comment = "x" }));
        Assert.NotEqual(ContentHash.Of(a), ContentHash.Of(a with { Value = a.Value with { Interpretation = Interpretation.Negative } }));
        Assert.NotEqual(ContentHash.Of(a), ContentHash.Of(a with { Patient = a.Patient with { GivenNames = ["Jeremy", "Paul"] } }));
        Assert.NotEqual(ContentHash.Of(a), ContentHash.Of(a with { Context = a.Context with { Symptomatic = null } }));
        // Moving text between fields changes the hash too: fields are length-prefixed, not concatenated.
        Assert.NotEqual(ContentHash.Of(a with { Units = "ab", Method = "c" }), ContentHash.Of(a with { Units = "a", Method = "bc" }));
        // Content longer than the writer's first buffer.
        Assert.Equal(ContentHash.Of(a with { Comment = new string('é', 3000) }), ContentHash.Of(b with { Comment = new string('é', 3000) }));
        Assert.NotEqual(ContentHash.Of(a with { Comment = new string('é', 3000) }), ContentHash.Of(a with { Comment = new string('é', 2999) }));
    }

    [Fact]
    public void Content_hash_keeps_its_value_across_releases_so_a_resent_result_stays_a_duplicate()
    {
        // Hashes are stored in the journal: a lab resending after an upgrade must still be told "duplicate".
        byte[] bytes = File.ReadAllBytes(Sidep.Tests.Fixtures.Hl7("reportstream__CE-20200415-0001_CR.hl7"));
        LabResult a = new Sidep.Parsing.Hl7v2.Hl7v2Parser().Parse(bytes).Messages[0].Items[0].Result!;
        LabResult full = a with
        {
            Context = new PatientContext { Symptomatic = true, SymptomOnset = new DateOnly(2020, 4, 10), Housing = HousingType.NursingHome, Pregnant = false },
            Comment = "Prélèvement reçu à 7 h",
            Patient = a.Patient with { Ins = new Ins("255082A12345678", "1.2.250.1.213.1.4.8", InsKind.Nir), Phone = "0601020304" },
        };
        Assert.Equal("455B88977BDAFA73C4DB902462963D6169C3B5FAB477C89524E1973C63BEC931", Convert.ToHexString(ContentHash.Of(a)));
        Assert.Equal("CA29CA302FE5F6AB420F08E2F18C89C241ACF08101F01FAE5E1DB8BC9DB545F4", Convert.ToHexString(ContentHash.Of(full)));
    }

    private struct Wide
    {
        public long A, B, C, D, E, F; // 48 bytes: 1,024 to a chunk
    }

    [Fact]
    public void A_chunked_array_keeps_every_element_in_place_as_it_grows_past_its_chunks()
    {
        var wide = new ChunkedArray<Wide>();
        wide.Grow(1);
        ref Wide first = ref wide[0];
        first.A = 7;
        for (int i = 1; i < 5_000; i++)
        {
            wide.Grow(i + 1);
            wide[i] = new Wide { A = i, F = -i };
        }
        first.B = 8; // a reference taken before the growth still designates the element: nothing was copied
        Assert.Equal((7, 8), (wide[0].A, wide[0].B));
        Assert.Equal(5 * 1_024, wide.Capacity); // the chunks the elements need, no more
        Assert.All(Enumerable.Range(1, 4_999), i => Assert.Equal((i, -i), ((int)wide[i].A, (int)wide[i].F)));

        var longs = new ChunkedArray<long>();
        longs.Grow(20_000);
        for (int i = 0; i < 20_000; i++)
        {
            longs[i] = i * 3L;
        }
        long[] across = new long[50];
        longs.CopyTo(8_170, across); // 8,192 longs to a chunk
        Assert.Equal(Enumerable.Range(8_170, 50).Select(i => i * 3L), across);
    }

    [Fact]
    public void A_sharded_dictionary_answers_as_one_dictionary_through_random_changes()
    {
        var sharded = new ShardedDictionary<long, int>();
        var oracle = new Dictionary<long, int>();
        var random = new Random(5);
        for (int step = 0; step < 50_000; step++)
        {
            long key = random.Next(3) == 0 ? random.NextInt64() : random.Next(20_000); // person ids are small and consecutive
            switch (random.Next(4))
            {
                case 0:
                    sharded[key] = step;
                    oracle[key] = step;
                    break;
                case 1:
                    Assert.Equal(oracle.Remove(key, out int removed), sharded.Remove(key, out int shardRemoved));
                    Assert.Equal(removed, shardRemoved);
                    break;
                case 2:
                    ref int value = ref sharded.GetValueRefOrAddDefault(key, out bool exists);
                    Assert.Equal(oracle.ContainsKey(key), exists);
                    value += 1;
                    oracle[key] = oracle.GetValueOrDefault(key) + 1;
                    break;
                default:
                    Assert.Equal(oracle.TryGetValue(key, out int expected), sharded.TryGetValue(key, out int found));
                    Assert.Equal(expected, found);
                    break;
            }
        }
        Assert.Equal(oracle.Count, sharded.Count);
        Assert.All(oracle, pair => Assert.Equal(pair.Value, sharded[pair.Key]));
        sharded.Clear();
        Assert.Equal(0, sharded.Count);
    }
}
