using System.Security.Cryptography;
using System.Text;
using Microsoft.AspNetCore.Http;

namespace Sidep.Gateway;

/// <summary>The restricted operator role: a shared token sent as X-Operator-Token (serve --operator-token).</summary>
public static class Operator
{
    /// <summary>Null when the request carries the operator token; else the 401 to answer.</summary>
    public static IResult? Refuse(HttpContext http, GatewayOptions options)
    {
        string? token = http.Request.Headers["X-Operator-Token"].FirstOrDefault();
        if (options.OperatorToken is { Length: >= GatewayOptions.MinOperatorTokenLength } expected && token is { Length: > 0 }
            && CryptographicOperations.FixedTimeEquals(Encoding.UTF8.GetBytes(token), Encoding.UTF8.GetBytes(expected)))
        {
            return null;
        }
        http.Response.Headers.WWWAuthenticate = "X-Operator-Token";
        return TypedResults.Problem(statusCode: 401, title: "Operator role required",
            detail: options.OperatorToken is null ? "the operator role is not enabled on this server (serve --operator-token)" : "send the operator token as X-Operator-Token");
    }
}
