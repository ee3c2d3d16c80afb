using System.Net.Http.Headers;

namespace OdcHandler.Internal;

/// <summary>
/// Attaches the client's Basic credentials (<c>client_secret_basic</c>) to a token request on the backchannel,
/// directly in front of its primary handler, and takes them off again once the answer is back.
/// </summary>
/// <remarks>
/// The token request carries the credentials in <see cref="HttpRequestMessage.Options"/> until it gets here:
/// IHttpClientFactory's request logging (whose structured header values are not redacted) and the resilience
/// pipeline only ever see a request without an <c>Authorization</c> header. The header is set again on each
/// attempt the resilience pipeline makes, and removed after each, so
/// <see cref="HttpResponseMessage.RequestMessage"/> never shows it.
/// </remarks>
internal sealed class BackchannelCredentialsHandler : DelegatingHandler
{
    private static readonly HttpRequestOptionsKey<Credentials> s_key = new("OdcHandler.BackchannelCredentials");

    /// <summary>Asks the backchannel's innermost handler to send <paramref name="authorization"/> with <paramref name="request"/>.</summary>
    public static void Attach(HttpRequestMessage request, AuthenticationHeaderValue authorization) =>
        request.Options.Set(s_key, new Credentials(authorization));

    protected override async Task<HttpResponseMessage> SendAsync(HttpRequestMessage request, CancellationToken cancellationToken)
    {
        if (!request.Options.TryGetValue(s_key, out var credentials))
        {
            return await base.SendAsync(request, cancellationToken).ConfigureAwait(false);
        }

        request.Headers.Authorization = credentials.Authorization;
        try
        {
            return await base.SendAsync(request, cancellationToken).ConfigureAwait(false);
        }
        finally
        {
            request.Headers.Authorization = null;
        }
    }

    protected override HttpResponseMessage Send(HttpRequestMessage request, CancellationToken cancellationToken)
    {
        if (!request.Options.TryGetValue(s_key, out var credentials))
        {
            return base.Send(request, cancellationToken);
        }

        request.Headers.Authorization = credentials.Authorization;
        try
        {
            return base.Send(request, cancellationToken);
        }
        finally
        {
            request.Headers.Authorization = null;
        }
    }

    /// <summary>A holder whose <see cref="ToString"/> hides the value, should anything ever print the request's options.</summary>
    private sealed class Credentials(AuthenticationHeaderValue authorization)
    {
        public AuthenticationHeaderValue Authorization { get; } = authorization;

        public override string ToString() => Authorization.Scheme + " ***";
    }
}
