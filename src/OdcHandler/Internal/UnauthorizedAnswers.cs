using Microsoft.Extensions.Logging;

namespace OdcHandler.Internal;

/// <summary>
/// The rules both bearer handlers (one organisation, many organisations) apply to a 401: whether it is a permission
/// problem, and whether the request may be sent once more.
/// </summary>
internal static partial class UnauthorizedAnswers
{
    /// <summary>Whether the request may be sent once more: it did not opt out and its body can be replayed.</summary>
    public static bool MaySendAgain(ILogger logger, HttpRequestMessage request, string why)
    {
        if (request.Options.TryGetValue(OdcHttpRequestOptions.DisableUnauthorizedRetry, out var disabled) && disabled)
        {
            if (logger.IsEnabled(LogLevel.Debug))
            {
                logger.UnauthorizedNotRetried(request.Method, Describe(request.RequestUri), why, "the request opted out with OdcHttpRequestOptions.DisableUnauthorizedRetry");
            }

            return false;
        }

        if (!RequestReplay.CanReplay(request.Content))
        {
            if (logger.IsEnabled(LogLevel.Debug))
            {
                logger.UnauthorizedNotRetried(request.Method, Describe(request.RequestUri), why, $"its body ({request.Content!.GetType().Name}) cannot be sent twice");
            }

            return false;
        }

        return true;
    }

    /// <summary>RFC 6750 §3.1: a Bearer challenge whose <c>error</c> is <c>insufficient_scope</c> says the token is fine but not enough.</summary>
    public static bool IsInsufficientScope(HttpResponseMessage response)
    {
        foreach (var challenge in response.Headers.WwwAuthenticate)
        {
            if (challenge.Parameter is { } parameter
                && string.Equals(challenge.Scheme, "Bearer", StringComparison.OrdinalIgnoreCase)
                && InsufficientScope().IsMatch(parameter))
            {
                return true;
            }
        }

        return false;
    }

    /// <summary>The <c>error</c> parameter itself (at the start or after a comma), not a mention in a description.</summary>
    [System.Text.RegularExpressions.GeneratedRegex(@"(?:^|,)\s*error\s*=\s*""?insufficient_scope""?\s*(?:,|$)", System.Text.RegularExpressions.RegexOptions.IgnoreCase | System.Text.RegularExpressions.RegexOptions.CultureInvariant, matchTimeoutMilliseconds: 100)]
    private static partial System.Text.RegularExpressions.Regex InsufficientScope();

    public static void LogKept(ILogger logger, HttpMethod method, Uri? address, string reason)
    {
        if (logger.IsEnabled(LogLevel.Debug))
        {
            logger.UnauthorizedKept(method, Describe(address), reason);
        }
    }

    public static string Describe(Uri? address) => address?.IsAbsoluteUri == true ? address.Authority : "(no absolute address)";
}
