using Sidep.Domain;
using Sidep.Identity;

namespace Sidep.Identity.Tests;

public class NormalisationTests
{
    [Theory]
    [InlineData("Lefèvre", "LEFEVRE")]
    [InlineData("LEFEVRE", "LEFEVRE")]
    [InlineData("Le Fèvre", "LEFEVRE")]
    [InlineData("N'Diaye", "NDIAYE")]
    [InlineData("N’DIAYE", "NDIAYE")]
    [InlineData("NDIAYE", "NDIAYE")]
    [InlineData("Œuvray", "OEUVRAY")]
    [InlineData("Müller", "MULLER")]
    [InlineData("de La Tour d'Auvergne", "DELATOURDAUVERGNE")]
    [InlineData("  Dupont   Durand ", "DUPONTDURAND")]
    [InlineData("DUPONT-DURAND", "DUPONTDURAND")]
    [InlineData("Ségolène", "SEGOLENE")]
    [InlineData("Françoise", "FRANCOISE")]
    public void French_name_variants_compare_equal_once_normalised(string written, string compact) =>
        Assert.Equal(compact, Names.Compact(Names.Normalise(written)));

    [Fact]
    public void Jean_Pierre_is_one_given_name_however_it_is_written()
    {
        Traits a = Traits.Of(new PatientIdentity { GivenNames = ["Jean-Pierre", "Marie"] });
        Traits b = Traits.Of(new PatientIdentity { GivenNames = ["JEAN PIERRE"] });
        Assert.Equal("JEANPIERRE", a.FirstGiven);
        Assert.Equal(a.FirstGiven, b.FirstGiven);
    }

    [Theory]
    [InlineData("M", Sex.Male)]
    [InlineData("male", Sex.Male)]
    [InlineData("1", Sex.Male)]
    [InlineData("H", Sex.Male)]
    [InlineData("F", Sex.Female)]
    [InlineData("female", Sex.Female)]
    [InlineData("2", Sex.Female)]
    [InlineData("O", Sex.Other)]
    [InlineData("U", Sex.Unknown)]
    [InlineData("", Sex.Unknown)]
    public void Sex_codes_of_every_format_are_read(string code, Sex sex) => Assert.Equal(sex, Sexes.Parse(code));

    [Fact]
    public void Partial_birth_dates_code_unknown_parts_as_00()
    {
        Assert.Equal("19850300", Traits.BirthDateKey(new PartialDate(1985, 3, null)));
        Assert.Equal("19850000", Traits.BirthDateKey(new PartialDate(1985, null, null)));
        Assert.Equal("00000000", Traits.BirthDateKey(null));
    }

    [Theory]
    [InlineData("MARTHA", "MARHTA", 0.961)]
    [InlineData("DWAYNE", "DUANE", 0.840)]
    [InlineData("DIXON", "DICKSONX", 0.813)]
    public void Jaro_Winkler_gives_the_reference_values(string a, string b, double expected) =>
        Assert.Equal(expected, JaroWinkler.Similarity(a, b), 3);
}

public class MatcherTests
{
    private static string Nir(string thirteen) => thirteen + (97 - long.Parse(thirteen) % 97).ToString("D2");

    private static PatientIdentity Person(string birthName, string given, string? used = null, string? ins = null, PartialDate? birth = null, Sex sex = Sex.Female,
        string? postcode = null, string? phone = null, string? birthplace = null) => new()
    {
        BirthName = birthName,
        UsedName = used,
        GivenNames = given.Split(','),
        BirthDate = birth ?? new PartialDate(1985, 3, 14),
        Sex = sex,
        Ins = ins is null ? null : new Ins(ins, InsNumber.NirOid, InsKind.Nir),
        Address = postcode is null ? null : new Address("1 rue de la Paix", null, postcode, null, "FRA"),
        Phone = phone,
        BirthplaceCode = birthplace,
    };

    [Fact]
    public void Near_namesakes_in_two_departements_stay_two_persons_and_one_who_moved_with_the_same_phone_is_linked_with_why()
    {
        // Same first given name, birth date and sex; DUPONT and DUPOND (score 0.94–0.98: a typo, to names alone).
        var matcher = new Matcher();
        MatchDecision paris = matcher.Match(Person("DUPONT", "Jean", sex: Sex.Male, postcode: "75011", phone: "0612345678"));
        MatchDecision marseille = matcher.Match(Person("DUPOND", "Jean", sex: Sex.Male, postcode: "13008", phone: "0698765432"));
        Assert.NotEqual(paris.PersonId, marseille.PersonId);
        Assert.Equal(MatchRule.PossibleMatch, marseille.Rule);
        Assert.InRange(marseille.Score, 0.94, 0.999);
        Assert.Contains(marseille.Comparisons, c => c.Field == "home département" && c.Outcome == "different");
        Assert.Contains(marseille.Comparisons, c => c.Field == "corroboration" && c.Outcome.Contains("different départements", StringComparison.Ordinal));

        // The same Jean DUPONT, moved to Lyon, sends his own phone: linked, and the decision says what agreed.
        var again = new Matcher();
        MatchDecision before = again.Match(Person("DUPONT", "Jean", sex: Sex.Male, postcode: "75011", phone: "0612345678"));
        MatchDecision moved = again.Match(Person("DUPOND", "Jean", sex: Sex.Male, postcode: "69003", phone: "+33 6 12 34 56 78"));
        Assert.Equal(before.PersonId, moved.PersonId);
        Assert.Equal(MatchRule.FuzzyTraits, moved.Rule);
        Assert.Contains(moved.Comparisons, c => c.Field == "phone" && c.Outcome == "equal");
        Assert.Contains(moved.Comparisons, c => c.Field == "home département" && c.Outcome == "different");
        Assert.Contains(moved.Comparisons, c => c.Field == "corroboration" && c.Outcome.StartsWith("linked", StringComparison.Ordinal));
        // Nothing nominative in a decision: outcomes only.
        Assert.DoesNotContain(moved.Comparisons, c => c.Outcome.Contains("0612", StringComparison.Ordinal) || c.Outcome.Contains("69003", StringComparison.Ordinal));
    }

    [Fact]
    public void Approximate_names_alone_never_link_and_another_birthplace_blocks_even_a_shared_phone()
    {
        var matcher = new Matcher();
        MatchDecision first = matcher.Match(Person("LEFEVRE", "Helene"));
        MatchDecision typo = matcher.Match(Person("LEFEVBRE", "Helene"));
        Assert.NotEqual(first.PersonId, typo.PersonId);
        Assert.Equal(MatchRule.PossibleMatch, typo.Rule);
        Assert.Contains(typo.Comparisons, c => c.Field == "corroboration" && c.Outcome.Contains("alone never link", StringComparison.Ordinal));

        var born = new Matcher();
        MatchDecision lyon = born.Match(Person("MOREAU", "Claire", phone: "0611111111", birthplace: "69123"));
        MatchDecision nantes = born.Match(Person("MOREAUX", "Claire", phone: "0611111111", birthplace: "44109"));
        Assert.NotEqual(lyon.PersonId, nantes.PersonId);
        Assert.Contains(nantes.Comparisons, c => c.Field == "birthplace" && c.Outcome == "different");
        // Exact traits still link without anything else.
        Assert.Equal(MatchRule.ExactTraits, born.Match(Person("MOREAU", "Claire")).Rule);
    }

    [Fact]
    public void The_same_person_from_three_labs_with_INS_with_a_typo_and_under_a_married_name_is_one_person_with_three_explained_decisions()
    {
        var matcher = new Matcher();
        string ins = Nir("2850375106693");
        MatchDecision withIns = matcher.Match(Person("LEFÈVRE", "Hélène,Marie", used: "MARTIN", ins: ins, postcode: "75011"));
        // The lab of the typo sent the same home as the first lab: what corroborates the approximate name.
        MatchDecision typo = matcher.Match(Person("LEFEVBRE", "HELENE", postcode: "75011"));
        MatchDecision married = matcher.Match(Person("Martin", "Hélène"));

        Assert.Equal(MatchRule.InsNewPerson, withIns.Rule);
        Assert.Equal(MatchRule.FuzzyTraits, typo.Rule);
        Assert.Equal(MatchRule.ExactTraits, married.Rule);
        Assert.Equal(withIns.PersonId, typo.PersonId);
        Assert.Equal(withIns.PersonId, married.PersonId);
        Assert.Equal(1, matcher.PersonCount);
        // Explained: which fields, how they compared, with what score.
        Assert.Contains(typo.Comparisons, c => c.Field == "birth name" && c.Outcome == "similar");
        Assert.Contains(married.Comparisons, c => c.Field == "birth name ~ used name" && c.Outcome == "equal");
        Assert.InRange(typo.Score, 0.94, 0.999);
    }

    [Fact]
    public void Twins_with_the_same_birth_date_and_name_are_not_merged()
    {
        var matcher = new Matcher();
        MatchDecision lucas = matcher.Match(Person("DURAND", "Lucas", sex: Sex.Male));
        MatchDecision louis = matcher.Match(Person("DURAND", "Louis", sex: Sex.Male));
        Assert.NotEqual(lucas.PersonId, louis.PersonId);
        Assert.True(louis.Rule is MatchRule.PossibleMatch or MatchRule.NewPerson, louis.Rule.ToString());
        Assert.Equal(2, matcher.PersonCount);
    }

    [Fact]
    public void A_swapped_given_name_order_still_links()
    {
        var matcher = new Matcher();
        MatchDecision a = matcher.Match(Person("BERNARD", "Marie,Claire"));
        MatchDecision b = matcher.Match(Person("BERNARD", "Claire,Marie"));
        Assert.Equal(a.PersonId, b.PersonId);
        Assert.Contains(b.Comparisons, c => c.Field == "first given name ~ another given name");
    }

    [Fact]
    public void The_same_INS_with_incompatible_traits_is_flagged_not_merged()
    {
        var matcher = new Matcher();
        string ins = Nir("1700175106693");
        MatchDecision first = matcher.Match(Person("DURAND", "Paul", ins: ins, birth: new PartialDate(1970, 1, 1), sex: Sex.Male));
        MatchDecision clash = matcher.Match(Person("MARTIN", "Sophie", ins: ins, birth: new PartialDate(1991, 7, 30), sex: Sex.Female));
        Assert.Equal(MatchRule.InsConflict, clash.Rule);
        Assert.NotEqual(first.PersonId, clash.PersonId);
        Assert.Equal(first.PersonId, clash.CandidateId);
        Assert.Contains(matcher.PossibleMatches, p => p.A == clash.PersonId && p.B == first.PersonId);
        Assert.Empty(matcher.Merges);
    }

    [Fact]
    public void An_INS_that_fails_its_key_is_ignored_and_the_result_matched_on_traits()
    {
        var matcher = new Matcher();
        MatchDecision a = matcher.Match(Person("DURAND", "Paul", sex: Sex.Male));
        MatchDecision b = matcher.Match(Person("DURAND", "Paul", ins: "185057800608499", sex: Sex.Male)); // wrong key
        Assert.Equal(MatchRule.ExactTraits, b.Rule);
        Assert.Equal(a.PersonId, b.PersonId);
    }

    [Fact]
    public void Test_OIDs_count_only_in_sandbox_mode()
    {
        var matcher = new Matcher();
        var test = new PatientIdentity { BirthName = "DURAND", GivenNames = ["Paul"], BirthDate = new PartialDate(1970, 1, 1), Sex = Sex.Male, Ins = new Ins(Nir("1700175106693"), InsNumber.TestOid, InsKind.Test) };
        Assert.Equal(MatchRule.InsNewPerson, matcher.Match(test, sandbox: true).Rule);
        var production = new Matcher();
        Assert.Equal(MatchRule.NewPerson, production.Match(test, sandbox: false).Rule); // matched on traits: a new person, no INS kept
        Assert.Equal(MatchRule.ExactTraits, production.Match(test with { Ins = null }, sandbox: false).Rule);
    }

    [Fact]
    public void An_INS_proving_a_trait_only_person_of_another_block_is_the_INS_holder_merges_them_with_an_event()
    {
        var matcher = new Matcher();
        string ins = Nir("1700175106693");
        MatchDecision holder = matcher.Match(Person("DURAND", "Paul", ins: ins, birth: new PartialDate(1970, 1, 1), sex: Sex.Male));
        // The same man sent without INS and without the day of birth: another block, another person.
        MatchDecision traitOnly = matcher.Match(Person("DURAND", "Paul", birth: new PartialDate(1970, 1, null), sex: Sex.Male));
        Assert.NotEqual(holder.PersonId, traitOnly.PersonId);
        // Then with the INS and the partial date: the INS designates the holder, the traits the trait-only person.
        MatchDecision proof = matcher.Match(Person("DURAND", "Paul", ins: ins, birth: new PartialDate(1970, 1, null), sex: Sex.Male));
        Assert.Equal(MatchRule.InsKnown, proof.Rule);
        Assert.Equal(holder.PersonId, proof.PersonId);
        Assert.Equal([traitOnly.PersonId], proof.MergedPersonIds);
        MergeEvent merge = Assert.Single(matcher.Merges);
        Assert.Equal((traitOnly.PersonId, holder.PersonId), (merge.From, merge.Into));
        Assert.Equal(holder.PersonId, matcher.Current(traitOnly.PersonId));
    }
}
