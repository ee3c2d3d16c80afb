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
/// compose a pipeline by hand. The token goes only to the portal's scheme, host and port and to
/// <see cref="OdcAuthenticationOptions.AdditionalApiHosts"/>, over https (plain http only on loopback);
/// every other request, and any request that already has an <c>Authorization</c> header, passes through untouched.
/// The header is removed again when the answer is back, so a message resent by an outer handler gets a
/// current token and <see cref="HttpResponseMessage.RequestMessage"/> never shows it. The options are
/// followed across configuration reloads: a changed host list, https requirement or secret applies to
/// the next request of every existing handler.
/// </para>
/// <para>
/// When the primary handler follows a redirect it drops the <c>Authorization</c> header, and the request's
/// address becomes the redirect's target. A 401 from a target that may not receive the token is returned
/// as it is: the token is neither dropped nor sent there. A 401 from a target that may receive it (a
/// redirect within the portal) is answered by sending the request there once more with the same token.
/// A 401 with <c>error="insufficient_scope"</c> is a permission problem and keeps the token.
/// </para>
/// <para>
/// If no token can be had, the request is not sent: <see cref="OdcAuthenticationException"/> is thrown.
/// A 401 answer to a request that carried the token drops that token and the request is sent once more
/// with a fresh one, unless its body cannot be replayed or the request opted out with
/// <see cref="OdcHttpRequestOptions.DisableUnauthorizedRetry"/>; then the 401 is returned.
/// </para>
/// <para>
/// A replayed body is byte-identical to the first, or it is not replayed. Replayed are: no body,
/// <see cref="ByteArrayContent"/>, <see cref="StringContent"/>, <see cref="FormUrlEncodedContent"/> and
/// <see cref="ReadOnlyMemoryContent"/> themselves (not subclasses of them), a <see cref="StreamContent"/> whose stream can seek (an explicit
/// <c>Content-Length</c> does not make a stream seekable), a <see cref="MultipartContent"/> of those, and a
/// <c>JsonContent</c> whose value is made only of plain values, arrays and collections (types implementing
/// <c>ICollection</c>, <c>ICollection&lt;T&gt;</c> or <c>IReadOnlyCollection&lt;T&gt;</c>) and objects of those.
/// Not replayed: a <c>JsonContent</c> holding, anywhere in its declared shape, an <c>IAsyncEnumerable&lt;T&gt;</c>,
/// an enumerator, a <see cref="Stream"/>, an <c>IEnumerable&lt;T&gt;</c> that is not such a collection, or an
/// <see cref="object"/>-typed member, or a type or member marked <c>[JsonPolymorphic]</c>, <c>[JsonDerivedType]</c>
/// or <c>[JsonConverter]</c>, since it would be serialized again from a value that may have changed or been used up;
/// a subclass of <see cref="StreamContent"/>; and any other <see cref="HttpContent"/> type.
/// </para>
/// </remarks>
public sealed class BearerTokenHandler : DelegatingHandler
{
    private const string AuthorizationHeader = "Authorization";

    private readonly OdcClientBinding _client;
    private readonly bool _ownsBinding;
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
        _logger = GuardedLogger.Wrap(loggerFactory.CreateLogger<BearerTokenHandler>());
        if (tokenProvider is OdcAccessTokenProvider own)
        {
            _client = own.GetBinding(clientName);
            _telemetry = own.Telemetry;
        }
        else
        {
            _client = new OdcClientBinding(
                clientName,
                optionsMonitor,
                [],
                (name, options) => new OdcClientView(options, new OdcClientSettings(name, options).Endpoints, new ProviderTokenSource(tokenProvider, name), manager: null),
                readOnEveryUse: true);
            _ownsBinding = true;
        }

        // Invalid options fail here, as they always have, rather than on the first request.
        _ = _client.Current;
    }

    internal BearerTokenHandler(OdcClientBinding client, ILogger logger, OdcTelemetry? telemetry)
    {
        _client = client;
        _logger = GuardedLogger.Wrap(logger);
        _telemetry = telemetry;
        _ = _client.Current;
    }

    /// <inheritdoc />
    protected override Task<HttpResponseMessage> SendAsync(HttpRequestMessage request, CancellationToken cancellationToken)
    {
        ArgumentNullException.ThrowIfNull(request);
        if (request.Headers.NonValidated.Contains(AuthorizationHeader))
        {
            return base.SendAsync(request, cancellationToken);
        }

        var client = _client.Current;
        var target = request.RequestUri;
        if (!MayReceiveToken(client, target))
        {
            return base.SendAsync(request, cancellationToken);
        }

        if (!client.Tokens.TryGetUsable(out var token))
        {
            return SendWithTokenAsync(request, client, target!, token: null, async: true, cancellationToken).AsTask();
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

        return AwaitAnswerAsync(sending, request, client, target!, token, cancellationToken);
    }

    /// <inheritdoc />
    protected override HttpResponseMessage Send(HttpRequestMessage request, CancellationToken cancellationToken)
    {
        ArgumentNullException.ThrowIfNull(request);
        if (request.Headers.NonValidated.Contains(AuthorizationHeader))
        {
            return base.Send(request, cancellationToken);
        }

        var client = _client.Current;
        var target = request.RequestUri;
        if (!MayReceiveToken(client, target))
        {
            return base.Send(request, cancellationToken);
        }

        client.Tokens.TryGetUsable(out var token);

        // With async: false the token is waited for synchronously and the inner handler's Send is used, so the
        // request is never sent before it carries a token.
        var sending = SendWithTokenAsync(request, client, target!, token, async: false, cancellationToken);
        return sending.IsCompleted ? sending.Result : sending.AsTask().GetAwaiter().GetResult();
    }

    /// <inheritdoc />
    protected override void Dispose(bool disposing)
    {
        if (disposing && _ownsBinding)
        {
            _client.Dispose();
        }

        base.Dispose(disposing);
    }

    /// <summary>The one decision, made against the address the request is going to now, on every path.</summary>
    private bool MayReceiveToken(OdcClientView client, Uri? target)
    {
        if (client.Endpoints.MayReceiveToken(target))
        {
            return true;
        }

        if (_logger.IsEnabled(LogLevel.Trace))
        {
            _logger.TokenNotAttached(Describe(target));
        }

        return false;
    }

    private async Task<HttpResponseMessage> AwaitAnswerAsync(
        Task<HttpResponseMessage> sending, HttpRequestMessage request, OdcClientView client, Uri target, OdcAccessToken token, CancellationToken cancellationToken)
    {
        try
        {
            var response = await sending.ConfigureAwait(false);
            return response.StatusCode == HttpStatusCode.Unauthorized
                ? await AnswerUnauthorizedAsync(request, client, target, token, response, async: true, cancellationToken).ConfigureAwait(false)
                : response;
        }
        finally
        {
            DetachToken(request);
        }
    }

    private async ValueTask<HttpResponseMessage> SendWithTokenAsync(
        HttpRequestMessage request, OdcClientView client, Uri target, OdcAccessToken? token, bool async, CancellationToken cancellationToken)
    {
        try
        {
            token ??= await GetTokenAsync(client, async, cancellationToken).ConfigureAwait(false);
            request.Headers.TryAddWithoutValidation(AuthorizationHeader, token.AuthorizationHeaderValue);
            var response = await SendInnerAsync(request, async, cancellationToken).ConfigureAwait(false);
            return response.StatusCode == HttpStatusCode.Unauthorized
                ? await AnswerUnauthorizedAsync(request, client, target, token, response, async, cancellationToken).ConfigureAwait(false)
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

    /// <summary>
    /// Decides what a 401 means: a redirect target that never saw the token, a permission problem, or a
    /// rejected token (dropped, and the request sent once more with a fresh one).
    /// </summary>
    private async ValueTask<HttpResponseMessage> AnswerUnauthorizedAsync(
        HttpRequestMessage request, OdcClientView client, Uri sentTo, OdcAccessToken token, HttpResponseMessage unauthorized, bool async, CancellationToken cancellationToken)
    {
        var answer = await UnauthorizedAnswers.ResolveAsync(
            _logger,
            request,
            sentTo,
            token,
            unauthorized,
            target => MayReceiveToken(client, target),
            client.Tokens,
            "a redirect led there, and the token may not go to that address",
            SendInnerAsync,
            async,
            cancellationToken).ConfigureAwait(false);
        if (answer is not null)
        {
            return answer;
        }

        _telemetry?.UnauthorizedRetry(request.RequestUri!.Host);
        var fresh = await GetTokenAsync(client, async, cancellationToken).ConfigureAwait(false);
        request.Headers.Remove(AuthorizationHeader);
        request.Headers.TryAddWithoutValidation(AuthorizationHeader, fresh.AuthorizationHeaderValue);
        return await SendInnerAsync(request, async, cancellationToken).ConfigureAwait(false);
    }

    private ValueTask<HttpResponseMessage> SendInnerAsync(HttpRequestMessage request, bool async, CancellationToken cancellationToken) =>
        async
            ? new ValueTask<HttpResponseMessage>(base.SendAsync(request, cancellationToken))
            : new ValueTask<HttpResponseMessage>(base.Send(request, cancellationToken));

    private static ValueTask<OdcAccessToken> GetTokenAsync(OdcClientView client, bool async, CancellationToken cancellationToken)
    {
        var getting = client.Tokens.GetAsync(cancellationToken);
        return async || getting.IsCompleted
            ? getting
            : new ValueTask<OdcAccessToken>(getting.AsTask().GetAwaiter().GetResult());
    }

    private void LogKept(HttpMethod method, Uri? address, string reason) => UnauthorizedAnswers.LogKept(_logger, method, address, reason);

    private static string Describe(Uri? address) => UnauthorizedAnswers.Describe(address);
}
