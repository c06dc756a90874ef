namespace Sidep.Domain;

public static class LoincCode
{
    /// <summary>True for "NNNNN-C" whose check digit C is the LOINC mod-10 (Luhn) digit of NNNNN.</summary>
    public static bool IsWellFormed(ReadOnlySpan<char> code) => HasForm(code) && CheckDigit(code[..code.IndexOf('-')]) == code[^1] - '0';

    /// <summary>True for "NNNNN-C" (one to seven digits, a dash, a digit), whatever its check digit.</summary>
    public static bool HasForm(ReadOnlySpan<char> code)
    {
        int dash = code.IndexOf('-');
        return dash is >= 1 and <= 7 && dash == code.Length - 2 && code[^1] is >= '0' and <= '9' && !code[..dash].ContainsAnyExceptInRange('0', '9');
    }

    /// <summary>The code with the check digit its number calls for (for "94500-7": "94500-6"), or null when it has not the form.</summary>
    public static string? Corrected(string code) => HasForm(code) ? code[..^1] + (char)('0' + CheckDigit(code.AsSpan(0, code.IndexOf('-')))) : null;

    /// <summary>The mod-10 (Luhn) check digit of a LOINC number.</summary>
    private static int CheckDigit(ReadOnlySpan<char> number)
    {
        int sum = 0;
        bool doubleIt = true;
        for (int i = number.Length - 1; i >= 0; i--)
        {
            int d = number[i] - '0';
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
        return (10 - sum % 10) % 10;
    }
}
