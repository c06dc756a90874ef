namespace Sidep.Domain;

public enum InsKind { Nir, Nia, Test, Demo }

/// <summary>The INS matricule: 13-character NIR/NIA plus a 2-digit key, key = 97 - (number mod 97).</summary>
public static class InsNumber
{
    public const string OidRoot = "1.2.250.1.213.1.4";
    public const string NirOid = "1.2.250.1.213.1.4.8";
    public const string NiaOid = "1.2.250.1.213.1.4.9";
    public const string TestOid = "1.2.250.1.213.1.4.10";
    public const string DemoOid = "1.2.250.1.213.1.4.11";

    public static InsKind? KindOfOid(ReadOnlySpan<char> oid) => oid switch
    {
        NirOid => InsKind.Nir,
        NiaOid => InsKind.Nia,
        TestOid => InsKind.Test,
        DemoOid => InsKind.Demo,
        _ => null,
    };

    /// <summary>True when <paramref name="matricule"/> is 15 characters whose last two are the right key.
    /// Corsica: "2A" counts as 19 and "2B" as 18 before the key is computed.</summary>
    public static bool IsValid(ReadOnlySpan<char> matricule)
    {
        if (matricule.Length != 15)
        {
            return false;
        }
        long number = 0;
        for (int i = 0; i < 13; i++)
        {
            char c = matricule[i];
            if (i == 6 && matricule[5] == '2' && (c is 'A' or 'a' or 'B' or 'b'))
            {
                // 2A / 2B: the two characters "2A" read as 19, "2B" as 18.
                number = number / 10 * 100 + (c is 'A' or 'a' ? 19 : 18);
                continue;
            }
            if (c is < '0' or > '9')
            {
                return false;
            }
            number = number * 10 + (c - '0');
        }
        if (matricule[13] is < '0' or > '9' || matricule[14] is < '0' or > '9')
        {
            return false;
        }
        int key = (matricule[13] - '0') * 10 + (matricule[14] - '0');
        return key == 97 - (int)(number % 97);
    }
}
