using Microsoft.Extensions.Logging;

namespace OdcHandler.Internal;

/// <summary>
/// The rules both bearer handlers (one organisation, many organisations) apply to a 401: whether it is a permission
/// problem, and whether the request may be sent once more.
/// </summary>
internal static partial class UnauthorizedAnswers
{
    private const string AuthorizationHeader = "Authorization";

    /// <summary>
    /// What a 401 to <paramref name="token"/> leads to, up to the point where a fresh token is needed: the answer to
    /// return, or <see langword="null"/> when the token was dropped (and <paramref name="unauthorized"/> disposed) and the
    /// request may be sent once more with a fresh one.
    /// </summary>
    /// <param name="logger">The handler's logger.</param>
    /// <param name="request">The request, whose address is where the 401 came from (a redirect may have moved it).</param>
    /// <param name="sentTo">The address the request was sent to with the token.</param>
    /// <param name="token">The token the request carried.</param>
    /// <param name="unauthorized">The 401.</param>
    /// <param name="mayReceiveToken">Whether an address may receive this client's (or organisation's) token; logs a refusal.</param>
    /// <param name="tokens">Where the token came from, to drop it.</param>
    /// <param name="redirectRefusal">Why the token was kept when a redirect led to an address that may not receive it.</param>
    /// <param name="sendInner">Sends the request to the inner handler (async or not).</param>
    /// <param name="async">Whether the caller is on the async path.</param>
    /// <param name="cancellationToken">The caller's cancellation.</param>
    public static async ValueTask<HttpResponseMessage?> ResolveAsync(
        ILogger logger,
        HttpRequestMessage request,
        Uri sentTo,
        OdcAccessToken token,
        HttpResponseMessage unauthorized,
        Func<Uri?, bool> mayReceiveToken,
        ITokenSource tokens,
        string redirectRefusal,
        Func<HttpRequestMessage, bool, CancellationToken, ValueTask<HttpResponseMessage>> sendInner,
        bool async,
        CancellationToken cancellationToken)
    {
        if (IsInsufficientScope(unauthorized))
        {
            LogKept(logger, request.Method, request.RequestUri, "the API says the client lacks a permission (insufficient_scope), which a new token would not change");
            return unauthorized;
        }

        if (!ReferenceEquals(request.RequestUri, sentTo))
        {
            // The primary handler followed a redirect and dropped the token on the way: the target never saw it. It may
            // have it only if it is an address this token is meant for (another tenant's portal never is).
            var target = request.RequestUri;
            if (!mayReceiveToken(target))
            {
                LogKept(logger, request.Method, target, redirectRefusal);
                return unauthorized;
            }

            if (!MaySendAgain(logger, request, "not seen by the redirect target"))
            {
                return unauthorized;
            }

            unauthorized.Dispose();
            request.Headers.Remove(AuthorizationHeader);
            request.Headers.TryAddWithoutValidation(AuthorizationHeader, token.AuthorizationHeaderValue);
            unauthorized = await sendInner(request, async, cancellationToken).ConfigureAwait(false);
            if (unauthorized.StatusCode != System.Net.HttpStatusCode.Unauthorized || !ReferenceEquals(request.RequestUri, target) || IsInsufficientScope(unauthorized))
            {
                return unauthorized;
            }
        }

        if (!tokens.Invalidate(token))
        {
            LogKept(logger, request.Method, request.RequestUri, "a token fetched after the previous one was rejected was rejected too, so the API refuses this client (check its permissions in the ODC Portal); the token is kept until FailureCooldown has passed");
            return unauthorized;
        }

        if (!MaySendAgain(logger, request, "rejected and dropped"))
        {
            return unauthorized;
        }

        unauthorized.Dispose();
        logger.UnauthorizedRetry(request.Method, request.RequestUri!.Authority);
        return null;
    }

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
