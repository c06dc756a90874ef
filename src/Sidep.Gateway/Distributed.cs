using Microsoft.AspNetCore.Http;

namespace Sidep.Gateway;

/// <summary>What the distributed mode does not serve yet, said plainly rather than answered wrongly.</summary>
internal static class Distributed
{
    public static IResult NotYet(string what) => TypedResults.Problem(statusCode: 501, title: "Not available in the distributed mode yet",
        detail: $"{what} runs in the embedded mode only for now (sidep serve without --kafka/--postgres); see the README");
}
