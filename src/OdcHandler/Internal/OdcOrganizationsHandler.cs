using System.Net;
using Microsoft.Extensions.Logging;

namespace OdcHandler.Internal;

/// <summary>
/// The handler of a multi-organisation HttpClient: the organisation is the request's host, its token comes from
/// its own <see cref="OdcTokenManager"/> in <see cref="OdcOrganizationCache"/>, and it goes only to that
/// organisation's own addresses.
/// </summary>
/// <remarks>
/// <para>
/// The per-request rules are <see cref="BearerTokenHandler"/>'s, applied to the organisation's endpoints instead of
/// one client's: a caller's own <c>Authorization</c> header passes untouched; an address that cannot be an
/// organisation's (plain http to a non-loopback host) passes untouched without a token; the token is detached once
/// the answer is back; a redirect's 401 is judged against the organisation that sent the request, so a redirect to
/// another tenant's host never gets this tenant's token; a rejected token is dropped for that organisation only.
/// </para>
/// <para>
/// Unlike the single-organisation handler, a host with no credentials is an error rather than an address that
/// simply gets no token: the application addressed it through the client meant for its organisations, and sending
/// it unauthenticated would only turn a configuration gap into 401s.
/// </para>
/// <para>
/// The 401 and redirect rules are <see cref="UnauthorizedAnswers.ResolveAsync"/>, shared with
/// <see cref="BearerTokenHandler"/>; only where the fresh token comes from differs (here the source is asked again).
/// </para>
/// </remarks>
internal sealed class OdcOrganizationsHandler : DelegatingHandler
{
    private const string AuthorizationHeader = "Authorization";

    private readonly OdcOrganizationCache _organizations;
    private readonly ILogger _logger;

    public OdcOrganizationsHandler(OdcOrganizationCache organizations, ILogger logger)
    {
        _organizations = organizations;
        _logger = GuardedLogger.Wrap(logger);
    }

    protected override Task<HttpResponseMessage> SendAsync(HttpRequestMessage request, CancellationToken cancellationToken)
    {
        ArgumentNullException.ThrowIfNull(request);
        if (request.Headers.NonValidated.Contains(AuthorizationHeader))
        {
            return base.SendAsync(request, cancellationToken);
        }

        var target = request.RequestUri;
        if (!_organizations.IsOrganizationAddress(target))
        {
            LogNotAttached(target);
            return base.SendAsync(request, cancellationToken);
        }

        if (!_organizations.TryGetCached(target, out var entry) || entry.State is not { } state || !state.Manager.TryGetUsable(out var token))
        {
            return SendWithTokenAsync(request, target, async: true, cancellationToken).AsTask();
        }

        request.Headers.TryAddWithoutValidation(AuthorizationHeader, token.AuthorizationHeaderValue);
        Task<HttpResponseMessage> sending;
        try
        {
            sending = base.SendAsync(request, cancellationToken);
        }
        catch
        {
            DetachToken(request);
            throw;
        }

        if (sending.IsCompletedSuccessfully && sending.Result.StatusCode != HttpStatusCode.Unauthorized)
        {
            DetachToken(request);
            return sending;
        }

        return AwaitAnswerAsync(sending, request, state, target, token, cancellationToken);
    }

    protected override HttpResponseMessage Send(HttpRequestMessage request, CancellationToken cancellationToken)
    {
        ArgumentNullException.ThrowIfNull(request);
        if (request.Headers.NonValidated.Contains(AuthorizationHeader))
        {
            return base.Send(request, cancellationToken);
        }

        var target = request.RequestUri;
        if (!_organizations.IsOrganizationAddress(target))
        {
            LogNotAttached(target);
            return base.Send(request, cancellationToken);
        }

        // With async: false the inner handler's Send is used; the token (and the source's answer) are waited for
        // synchronously, so the request is never sent before it carries a token.
        var sending = SendWithTokenAsync(request, target, async: false, cancellationToken);
        return sending.IsCompleted ? sending.Result : sending.AsTask().GetAwaiter().GetResult();
    }

    private async Task<HttpResponseMessage> AwaitAnswerAsync(
        Task<HttpResponseMessage> sending, HttpRequestMessage request, OdcOrganizationState state, Uri target, OdcAccessToken token, CancellationToken cancellationToken)
    {
        try
        {
            var response = await sending.ConfigureAwait(false);
            return response.StatusCode == HttpStatusCode.Unauthorized
                ? await AnswerUnauthorizedAsync(request, state, target, token, response, async: true, cancellationToken).ConfigureAwait(false)
                : response;
        }
        finally
        {
            DetachToken(request);
        }
    }

    private async ValueTask<HttpResponseMessage> SendWithTokenAsync(HttpRequestMessage request, Uri target, bool async, CancellationToken cancellationToken)
    {
        var state = await Wait(_organizations.LeaseAsync(target, cancellationToken), async).ConfigureAwait(false);
        try
        {
            var token = await GetTokenAsync(state, async, cancellationToken).ConfigureAwait(false);
            request.Headers.TryAddWithoutValidation(AuthorizationHeader, token.AuthorizationHeaderValue);
            var response = await SendInnerAsync(request, async, cancellationToken).ConfigureAwait(false);
            return response.StatusCode == HttpStatusCode.Unauthorized
                ? await AnswerUnauthorizedAsync(request, state, target, token, response, async, cancellationToken).ConfigureAwait(false)
                : response;
        }
        finally
        {
            DetachToken(request);
            state.Release();
        }
    }

    private static void DetachToken(HttpRequestMessage request) => request.Headers.Remove(AuthorizationHeader);

    /// <summary>The 401 rules of <see cref="UnauthorizedAnswers"/>, against the organisation that sent the request.</summary>
    private async ValueTask<HttpResponseMessage> AnswerUnauthorizedAsync(
        HttpRequestMessage request, OdcOrganizationState state, Uri sentTo, OdcAccessToken token, HttpResponseMessage unauthorized, bool async, CancellationToken cancellationToken)
    {
        var answer = await UnauthorizedAnswers.ResolveAsync(
            _logger,
            request,
            sentTo,
            token,
            unauthorized,
            target =>
            {
                if (state.Endpoints.MayReceiveToken(target))
                {
                    return true;
                }

                LogNotAttached(target);
                return false;
            },
            state.Manager,
            "a redirect led there, and this organisation's token may not go to that address",
            SendInnerAsync,
            async,
            cancellationToken).ConfigureAwait(false);
        if (answer is not null)
        {
            return answer;
        }

        var address = request.RequestUri!;
        _organizations.Telemetry.UnauthorizedRetry(_organizations.TagOrganization ? address.Host : OdcOrganizationCache.UntaggedOrganization);

        // The source is asked again first: a rejected token may mean a rotated secret.
        var renewed = await Wait(_organizations.LeaseForRetryAsync(state, cancellationToken), async).ConfigureAwait(false);
        try
        {
            var fresh = await GetTokenAsync(renewed, async, cancellationToken).ConfigureAwait(false);
            request.Headers.Remove(AuthorizationHeader);
            request.Headers.TryAddWithoutValidation(AuthorizationHeader, fresh.AuthorizationHeaderValue);
            return await SendInnerAsync(request, async, cancellationToken).ConfigureAwait(false);
        }
        finally
        {
            renewed.Release();
        }
    }

    private bool MaySendAgain(HttpRequestMessage request, string why) => UnauthorizedAnswers.MaySendAgain(_logger, request, why);

    private static bool IsInsufficientScope(HttpResponseMessage response) => UnauthorizedAnswers.IsInsufficientScope(response);

    private ValueTask<HttpResponseMessage> SendInnerAsync(HttpRequestMessage request, bool async, CancellationToken cancellationToken) =>
        async
            ? new ValueTask<HttpResponseMessage>(base.SendAsync(request, cancellationToken))
            : new ValueTask<HttpResponseMessage>(base.Send(request, cancellationToken));

    private static async ValueTask<OdcAccessToken> GetTokenAsync(OdcOrganizationState state, bool async, CancellationToken cancellationToken)
    {
        try
        {
            return await Wait(state.Manager.GetAsync(cancellationToken), async).ConfigureAwait(false);
        }
        finally
        {
            state.MarkUsed();
        }
    }

    /// <summary>On the sync path, blocks on what is not done yet, so the inner handler's <c>Send</c> follows on this thread.</summary>
    private static ValueTask<T> Wait<T>(ValueTask<T> pending, bool async) =>
        async || pending.IsCompleted ? pending : new ValueTask<T>(pending.AsTask().GetAwaiter().GetResult());

    private void LogNotAttached(Uri? target)
    {
        if (_logger.IsEnabled(LogLevel.Trace))
        {
            _logger.TokenNotAttached(Describe(target));
        }
    }

    private void LogKept(HttpMethod method, Uri? address, string reason) => UnauthorizedAnswers.LogKept(_logger, method, address, reason);

    private static string Describe(Uri? address) => UnauthorizedAnswers.Describe(address);
}
