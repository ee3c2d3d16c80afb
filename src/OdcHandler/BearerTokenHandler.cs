using System.Net;
using Microsoft.Extensions.Logging;
using Microsoft.Extensions.Options;
using OdcHandler.Internal;

namespace OdcHandler;

/// <summary>
/// A <see cref="DelegatingHandler"/> that attaches the ODC access token to requests for the portal's
/// APIs, fetching and refreshing it as needed, and retries a request once with a fresh token on 401.
/// </summary>
/// <remarks>
/// <para>
/// <c>AddOdcAuthentication</c> adds one to an HttpClient's pipeline; create one yourself only when you
/// compose a pipeline by hand. The token goes only to the portal's host and port and to
/// <see cref="OdcAuthenticationOptions.AdditionalApiHosts"/>, over https (plain http only on loopback);
/// every other request, and any request that already has an <c>Authorization</c> header, passes through untouched.
/// The header is removed again when the answer is back, so a message resent by an outer handler gets a
/// current token and <see cref="HttpResponseMessage.RequestMessage"/> never shows it.
/// </para>
/// <para>
/// If no token can be had, the request is not sent: <see cref="OdcAuthenticationException"/> is thrown.
/// A 401 answer to a request that carried the token drops that token and the request is sent once more
/// with a fresh one, unless its body cannot be replayed or the request opted out with
/// <see cref="OdcHttpRequestOptions.DisableUnauthorizedRetry"/>; then the 401 is returned.
/// </para>
/// <para>
/// A replayed body is byte-identical to the first, or it is not replayed. Replayed are: no body,
/// <see cref="ByteArrayContent"/> (and so <see cref="StringContent"/> and <see cref="FormUrlEncodedContent"/>),
/// <see cref="ReadOnlyMemoryContent"/>, a <see cref="StreamContent"/> whose stream can seek (an explicit
/// <c>Content-Length</c> does not make a stream seekable), a <see cref="MultipartContent"/> of those, and a
/// <c>JsonContent</c> whose value is made only of plain values, arrays and collections (types implementing
/// <c>ICollection</c>, <c>ICollection&lt;T&gt;</c> or <c>IReadOnlyCollection&lt;T&gt;</c>) and objects of those.
/// Not replayed: a <c>JsonContent</c> holding, anywhere in its declared shape, an <c>IAsyncEnumerable&lt;T&gt;</c>,
/// an enumerator, a <see cref="Stream"/>, an <c>IEnumerable&lt;T&gt;</c> that is not such a collection, or an
/// <see cref="object"/>-typed member, since it would be serialized again from a sequence that may be used up;
/// a subclass of <see cref="StreamContent"/>; and any other <see cref="HttpContent"/> type.
/// </para>
/// </remarks>
public sealed class BearerTokenHandler : DelegatingHandler
{
    private const string AuthorizationHeader = "Authorization";

    private readonly ITokenSource _tokens;
    private readonly OdcEndpoints _endpoints;
    private readonly ILogger _logger;
    private readonly OdcTelemetry? _telemetry;

    /// <summary>Creates a handler for one named ODC client.</summary>
    /// <param name="tokenProvider">Where tokens come from; the one <c>AddOdcAuthentication</c> registers shares its cache.</param>
    /// <param name="optionsMonitor">The named options, for the hosts that may receive the token.</param>
    /// <param name="loggerFactory">For the handler's log lines.</param>
    /// <param name="clientName">The name the options were registered under.</param>
    /// <exception cref="OptionsValidationException">The client's options are not valid.</exception>
    public BearerTokenHandler(
        IOdcAccessTokenProvider tokenProvider,
        IOptionsMonitor<OdcAuthenticationOptions> optionsMonitor,
        ILoggerFactory loggerFactory,
        string clientName)
    {
        ArgumentNullException.ThrowIfNull(tokenProvider);
        ArgumentNullException.ThrowIfNull(optionsMonitor);
        ArgumentNullException.ThrowIfNull(loggerFactory);
        ArgumentNullException.ThrowIfNull(clientName);
        _logger = loggerFactory.CreateLogger<BearerTokenHandler>();
        if (tokenProvider is OdcAccessTokenProvider own)
        {
            var manager = own.GetManager(clientName);
            _tokens = manager;
            _endpoints = manager.Settings.Endpoints;
            _telemetry = manager.Telemetry;
        }
        else
        {
            _tokens = new ProviderTokenSource(tokenProvider, clientName);
            _endpoints = new OdcClientSettings(clientName, optionsMonitor.Get(clientName)).Endpoints;
        }
    }

    internal BearerTokenHandler(ITokenSource tokens, OdcEndpoints endpoints, ILogger logger, OdcTelemetry? telemetry)
    {
        _tokens = tokens;
        _endpoints = endpoints;
        _logger = logger;
        _telemetry = telemetry;
    }

    /// <inheritdoc />
    protected override Task<HttpResponseMessage> SendAsync(HttpRequestMessage request, CancellationToken cancellationToken)
    {
        ArgumentNullException.ThrowIfNull(request);
        if (!ShouldAttachToken(request))
        {
            return base.SendAsync(request, cancellationToken);
        }

        if (!_tokens.TryGetUsable(out var token))
        {
            return SendWithTokenAsync(request, token: null, async: true, cancellationToken).AsTask();
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

        // An answer that is already there and is not a 401 is passed on as it is: no state machine, no allocation.
        if (sending.IsCompletedSuccessfully && sending.Result.StatusCode != HttpStatusCode.Unauthorized)
        {
            DetachToken(request);
            return sending;
        }

        return AwaitAnswerAsync(sending, request, token, cancellationToken);
    }

    /// <inheritdoc />
    protected override HttpResponseMessage Send(HttpRequestMessage request, CancellationToken cancellationToken)
    {
        ArgumentNullException.ThrowIfNull(request);
        if (!ShouldAttachToken(request))
        {
            return base.Send(request, cancellationToken);
        }

        _tokens.TryGetUsable(out var token);

        // With async: false the token is waited for synchronously and the inner handler's Send is used, so the
        // request is never sent before it carries a token.
        var sending = SendWithTokenAsync(request, token, async: false, cancellationToken);
        return sending.IsCompleted ? sending.Result : sending.AsTask().GetAwaiter().GetResult();
    }

    private bool ShouldAttachToken(HttpRequestMessage request)
    {
        if (request.Headers.NonValidated.Contains(AuthorizationHeader))
        {
            return false;
        }

        if (_endpoints.MayReceiveToken(request.RequestUri))
        {
            return true;
        }

        if (_logger.IsEnabled(LogLevel.Trace))
        {
            _logger.TokenNotAttached(request.RequestUri?.IsAbsoluteUri == true ? request.RequestUri.Authority : "(no absolute address)");
        }

        return false;
    }

    private async Task<HttpResponseMessage> AwaitAnswerAsync(
        Task<HttpResponseMessage> sending, HttpRequestMessage request, OdcAccessToken token, CancellationToken cancellationToken)
    {
        try
        {
            var response = await sending.ConfigureAwait(false);
            return response.StatusCode == HttpStatusCode.Unauthorized
                ? await RetryUnauthorizedAsync(request, token, response, async: true, cancellationToken).ConfigureAwait(false)
                : response;
        }
        finally
        {
            DetachToken(request);
        }
    }

    private async ValueTask<HttpResponseMessage> SendWithTokenAsync(
        HttpRequestMessage request, OdcAccessToken? token, bool async, CancellationToken cancellationToken)
    {
        try
        {
            token ??= await GetTokenAsync(async, cancellationToken).ConfigureAwait(false);
            request.Headers.TryAddWithoutValidation(AuthorizationHeader, token.AuthorizationHeaderValue);
            var response = async
                ? await base.SendAsync(request, cancellationToken).ConfigureAwait(false)
                : base.Send(request, cancellationToken);
            return response.StatusCode == HttpStatusCode.Unauthorized
                ? await RetryUnauthorizedAsync(request, token, response, async, cancellationToken).ConfigureAwait(false)
                : response;
        }
        finally
        {
            DetachToken(request);
        }
    }

    /// <summary>
    /// The token is on the request only while it is being sent. Afterwards an outer retry handler that
    /// resends the same message gets a current token instead of the one it saw (which would otherwise look
    /// like a caller's own header), and <see cref="HttpResponseMessage.RequestMessage"/>, which applications
    /// log, does not carry it.
    /// </summary>
    private static void DetachToken(HttpRequestMessage request) => request.Headers.Remove(AuthorizationHeader);

    /// <summary>Sends the request once more with a fresh token, or explains why not and returns the 401.</summary>
    private async ValueTask<HttpResponseMessage> RetryUnauthorizedAsync(
        HttpRequestMessage request, OdcAccessToken rejected, HttpResponseMessage unauthorized, bool async, CancellationToken cancellationToken)
    {
        _tokens.Invalidate(rejected);
        var host = request.RequestUri!.Authority;
        if (request.Options.TryGetValue(OdcHttpRequestOptions.DisableUnauthorizedRetry, out var disabled) && disabled)
        {
            _logger.UnauthorizedNotRetried(request.Method, host, "the request opted out with OdcHttpRequestOptions.DisableUnauthorizedRetry");
            return unauthorized;
        }

        if (!RequestReplay.CanReplay(request.Content))
        {
            if (_logger.IsEnabled(LogLevel.Debug))
            {
                _logger.UnauthorizedNotRetried(request.Method, host, $"its body ({request.Content!.GetType().Name}) cannot be sent twice");
            }

            return unauthorized;
        }

        unauthorized.Dispose();
        _logger.UnauthorizedRetry(request.Method, host);
        _telemetry?.UnauthorizedRetries.Add(1, new KeyValuePair<string, object?>("server.address", request.RequestUri.Host));
        var fresh = await GetTokenAsync(async, cancellationToken).ConfigureAwait(false);
        request.Headers.Remove(AuthorizationHeader);
        request.Headers.TryAddWithoutValidation(AuthorizationHeader, fresh.AuthorizationHeaderValue);
        return async
            ? await base.SendAsync(request, cancellationToken).ConfigureAwait(false)
            : base.Send(request, cancellationToken);
    }

    private ValueTask<OdcAccessToken> GetTokenAsync(bool async, CancellationToken cancellationToken)
    {
        var getting = _tokens.GetAsync(cancellationToken);
        return async || getting.IsCompleted
            ? getting
            : new ValueTask<OdcAccessToken>(getting.AsTask().GetAwaiter().GetResult());
    }
}
