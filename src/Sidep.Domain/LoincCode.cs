namespace Sidep.Domain;

public static class LoincCode
{
    /// <summary>True for "NNNNN-C" whose check digit C is the LOINC mod-10 (Luhn) digit of NNNNN.</summary>
    public static bool IsWellFormed(ReadOnlySpan<char> code)
    {
        int dash = code.IndexOf('-');
        if (dash < 1 || dash > 7 || dash != code.Length - 2 || code[^1] is < '0' or > '9')
        {
            return false;
        }
        int sum = 0;
        bool doubleIt = true;
        for (int i = dash - 1; i >= 0; i--)
        {
            char c = code[i];
            if (c is < '0' or > '9')
            {
                return false;
            }
            int d = c - '0';
            if (doubleIt)
            {
                d *= 2;
                if (d > 9)
                {
                    d -= 9;
                }
            }
            sum += d;
            doubleIt = !doubleIt;
        }
        return (10 - sum % 10) % 10 == code[^1] - '0';
    }
}
