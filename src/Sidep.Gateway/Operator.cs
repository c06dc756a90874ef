using System.Security.Cryptography;
using System.Text;
using Microsoft.AspNetCore.Http;

namespace Sidep.Gateway;

/// <summary>The restricted operator role: a shared token sent as X-Operator-Token (serve --operator-token).</summary>
public static class Operator
{
    /// <summary>Whether the request carries the operator token, as X-Operator-Token or as a bearer token (what
    /// Prometheus sends with its <c>authorization</c> setting).</summary>
    public static bool Allows(HttpContext http, GatewayOptions options)
    {
        if (options.OperatorToken is not { Length: >= GatewayOptions.MinOperatorTokenLength } expected)
        {
            return false;
        }
        string? token = http.Request.Headers["X-Operator-Token"].FirstOrDefault();
        string? authorization = http.Request.Headers.Authorization.FirstOrDefault();
        if (token is null && authorization is not null && authorization.StartsWith("Bearer ", StringComparison.OrdinalIgnoreCase))
        {
            token = authorization["Bearer ".Length..].Trim();
        }
        return IsToken(token, expected);
    }

    /// <summary>Whether a token sent is the operator's (compared in constant time).</summary>
    private static bool IsToken(string? token, string expected) =>
        token is { Length: > 0 } && CryptographicOperations.FixedTimeEquals(Encoding.UTF8.GetBytes(token), Encoding.UTF8.GetBytes(expected));

    /// <summary>Null when the request carries the operator token; else the 401 to answer.</summary>
    public static IResult? Refuse(HttpContext http, GatewayOptions options)
    {
        if (options.OperatorToken is { Length: >= GatewayOptions.MinOperatorTokenLength } expected
            && IsToken(http.Request.Headers["X-Operator-Token"].FirstOrDefault(), expected))
        {
            return null;
        }
        http.Response.Headers.WWWAuthenticate = "X-Operator-Token";
        return TypedResults.Problem(statusCode: 401, title: "Operator role required",
            detail: options.OperatorToken is null ? "the operator role is not enabled on this server (serve --operator-token)" : "send the operator token as X-Operator-Token");
    }
}
