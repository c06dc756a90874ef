using System.Buffers;
using System.Text;
using Sidep.Domain;
using Sidep.Indicators;

namespace Sidep.Indicators.Tests;

public class GeographyTests
{
    private static readonly Geography G = Geography.France;

    [Theory]
    [InlineData("01000", "01")]
    [InlineData("75011", "75")]
    [InlineData("20000", "2A")]
    [InlineData("20167", "2A")]
    [InlineData("20200", "2B")]
    [InlineData("20600", "2B")]
    [InlineData("97100", "971")]
    [InlineData("97400", "974")]
    [InlineData("97600", "976")]
    public void A_postcode_gives_its_departement_including_Corsica_and_overseas(string postcode, string departement) =>
        Assert.Equal(departement, G.Departements[G.FromPostcode(postcode)]);

    [Theory]
    [InlineData("98000")]
    [InlineData("00000")]
    [InlineData("7501")]
    [InlineData("ABCDE")]
    public void A_postcode_of_no_departement_is_unknown(string postcode) => Assert.Equal(Geography.UnknownDepartement, G.FromPostcode(postcode));

    [Fact]
    public void The_commune_code_wins_over_the_postcode_and_an_address_abroad_has_no_departement()
    {
        Assert.Equal("2A", G.Departements[G.Residence(new Address(null, null, "20200", "2A004", null))]);
        Assert.Equal("971", G.Departements[G.Residence(new Address(null, null, null, "97105", "FRA"))]);
        Assert.Equal(Geography.UnknownDepartement, G.Residence(new Address(null, "Genève", "01200", null, "CHE")));
        Assert.Equal(Geography.UnknownDepartement, G.Residence(null));
    }

    [Fact]
    public void Populations_and_regions_are_those_of_the_reference_files()
    {
        int ain = G.DepartementIndex("01");
        Assert.Equal(656955m, G.Population(ain, AgeClasses.All));
        Assert.Equal(83001m, G.Population(ain, AgeClasses.Parse("09")));
        Assert.Equal("84", G.Regions[G.RegionOfDepartement[ain]]);
        Assert.Equal(2148271m, G.Population(G.DepartementIndex("75"), AgeClasses.All));
        Assert.Equal(104, G.Departements.Count);
        Assert.Equal(["2A", "2B"], G.Departements.SkipWhile(d => d != "29").Skip(1).Take(2));
    }

    [Theory]
    [InlineData(2011, 6, 15, "09")]
    [InlineData(2001, 6, 1, "19")]
    [InlineData(2001, 1, 1, "29")]
    [InlineData(1931, 6, 1, "89")]
    [InlineData(1920, 1, 1, "90")]
    public void The_age_class_is_the_age_on_the_sample_date(int year, int month, int day, string expected) =>
        Assert.Equal(expected, AgeClasses.Label(AgeClasses.Of(new PartialDate(year, month, day), new DateOnly(2021, 1, 10))));

    [Fact]
    public void A_partial_birth_date_gives_a_class_only_when_every_possible_date_agrees()
    {
        var on = new DateOnly(2021, 1, 10);
        Assert.Equal("29", AgeClasses.Label(AgeClasses.Of(new PartialDate(1995, null, null), on))); // 25 or 26
        Assert.Equal(AgeClasses.Unknown, AgeClasses.Of(new PartialDate(2011, null, null), on)); // 9 or 10
        Assert.Equal(AgeClasses.Unknown, AgeClasses.Of(new PartialDate(2011, 1, null), on)); // 10 if born before the 10th, else 9
        Assert.Equal("09", AgeClasses.Label(AgeClasses.Of(new PartialDate(2011, 3, null), on)));
        Assert.Equal(AgeClasses.Unknown, AgeClasses.Of(null, on));
    }
}

public class TablesTests
{
    private static readonly Geography G = Geography.France;
    private static readonly DateOnly Day = new(2020, 8, 8);

    private static string Render(Func<CountTable, TableRequest, IBufferWriter<byte>, int> write, CountTable table, TableRequest request)
    {
        var buffer = new ArrayBufferWriter<byte>();
        write(table, request, buffer);
        return Encoding.UTF8.GetString(buffer.WrittenSpan);
    }

    [Fact]
    public void Unknown_sex_age_and_departement_count_only_in_the_totals_as_SPF_publishes()
    {
        var table = new CountTable();
        int ain = G.DepartementIndex("01");
        table.Add(Day.DayNumber, Cells.Of(ain, 3, CountedSex.Female), 1, 1);
        table.Add(Day.DayNumber, Cells.Of(ain, 3, CountedSex.Unknown), 0, 1);
        table.Add(Day.DayNumber, Cells.Of(ain, AgeClasses.Unknown, CountedSex.Male), 1, 1);
        table.Add(Day.DayNumber, Cells.Of(Geography.UnknownDepartement, 3, CountedSex.Male), 1, 1);

        string[] dep = Render(Tables.WriteDailyCsv, table, new TableRequest(Level.Dep, Units: ["01"])).Split('\n');
        Assert.Equal("dep;jour;P_f;P_h;P;T_f;T_h;T;cl_age90;pop", dep[0]);
        Assert.Equal("01;2020-08-08;1;0;1;1;0;2;39;85588", dep[4]);
        Assert.Equal("01;2020-08-08;1;1;2;1;1;3;0;656955", dep[11]);
        Assert.Equal(13, dep.Length); // header, 11 classes, final empty line

        string[] fra = Render(Tables.WriteDailyCsv, table, new TableRequest(Level.Fra)).Split('\n');
        Assert.StartsWith("FR;2020-08-08;1;1;2;1;1;3;39;", fra[4]);
        Assert.StartsWith("FR;2020-08-08;1;2;3;1;2;4;0;", fra[11]);

        string[] reg = Render(Tables.WriteDailyCsv, table, new TableRequest(Level.Reg, Units: ["84"])).Split('\n');
        Assert.StartsWith("reg;jour;P_f;P_h;P;T_f;T_h;T;cl_age90;pop", reg[0]);
        Assert.StartsWith("84;2020-08-08;1;1;2;1;1;3;0;", reg[11]);
    }

    [Fact]
    public void Every_day_of_the_range_is_published_zeros_included_and_fractional_populations_as_published()
    {
        var table = new CountTable();
        string[] rows = Render(Tables.WriteDailyCsv, table,
            new TableRequest(Level.Dep, Day, Day.AddDays(1), ["977"], Layout: Layout.Spf2020)).Split('\n');
        Assert.Equal("dep;jour;P;T;cl_age90;pop", rows[0]);
        Assert.Equal("977;2020-08-08;0;0;09;1017.298", rows[1]);
        Assert.Equal(2 * 11 + 2, rows.Length); // header, two days of 11 classes, final empty line
    }

    [Fact]
    public void The_worked_incidence_example_of_Paris_is_reproduced()
    {
        // ORIGIN.md: département 75, P over 2020-08-02..08 (all ages) = 1229, population 2,148,271 → 57.2 per 100,000.
        var table = new CountTable();
        int paris = G.DepartementIndex("75");
        int[] perDay = [150, 160, 170, 180, 190, 179, 200];
        for (int i = 0; i < 7; i++)
        {
            table.Add(Day.AddDays(i - 6).DayNumber, Cells.Of(paris, 4, CountedSex.Female), perDay[i], perDay[i] * 20);
        }
        table.Add(Day.AddDays(-7).DayNumber, Cells.Of(paris, 4, CountedSex.Female), 999, 999); // outside the 7 days
        Tables.RateRow row = Tables.Rates(table, new TableRequest(Level.Dep, Day, Day, ["75"])).Single(r => r.AgeClass == AgeClasses.All);
        Assert.Equal(1229, row.P7);
        Assert.Equal(57.2, Math.Round(row.Incidence!.Value, 1));
        Assert.Equal(5.0, row.Positivity);

        string csv = Render(Tables.WriteRatesCsv, table, new TableRequest(Level.Dep, Day, Day, ["75"]));
        Assert.Contains("\n75;2020-08-08;0;2148271;1229;24580;57.21;5;1144.18\n", csv);
    }

    [Fact]
    public void Small_cells_are_left_empty_when_suppression_is_asked()
    {
        var table = new CountTable();
        table.Add(Day.DayNumber, Cells.Of(G.DepartementIndex("01"), 3, CountedSex.Female), 2, 12);
        var buffer = new ArrayBufferWriter<byte>();
        int suppressed = Tables.WriteDailyCsv(table, new TableRequest(Level.Dep, Units: ["01"], SuppressBelow: 5), buffer);
        string[] rows = Encoding.UTF8.GetString(buffer.WrittenSpan).Split('\n');
        Assert.Equal("01;2020-08-08;;0;;12;0;12;39;85588", rows[4]);
        Assert.Equal(4, suppressed); // P_f and P of class 39 and of class 0
    }

    [Fact]
    public void The_json_table_names_its_fields_like_the_csv_columns()
    {
        var table = new CountTable();
        table.Add(Day.DayNumber, Cells.Of(G.DepartementIndex("01"), 3, CountedSex.Female), 1, 1);
        string json = Render(Tables.WriteDailyJson, table, new TableRequest(Level.Dep, Units: ["01"]));
        using var doc = System.Text.Json.JsonDocument.Parse(json);
        System.Text.Json.JsonElement row = doc.RootElement[3];
        Assert.Equal("01", row.GetProperty("dep").GetString());
        Assert.Equal("39", row.GetProperty("cl_age90").GetString());
        Assert.Equal(1, row.GetProperty("P_f").GetInt32());
        Assert.Equal(85588, row.GetProperty("pop").GetInt32());
    }
}
