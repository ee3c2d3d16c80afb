using System.Net;

namespace OdcHandler.Internal;

/// <summary>
/// Sends one request to the identity service through the backchannel HttpClient, bounded in time,
/// refusing redirects, and turning every transport failure into an <see cref="OdcAuthenticationException"/>.
/// </summary>
internal static class Backchannel
{
    public static async Task<HttpResponseMessage> SendAsync(
        IHttpClientFactory httpClientFactory,
        TimeProvider timeProvider,
        HttpRequestMessage request,
        OdcClientSettings settings,
        string what,
        CancellationToken cancellationToken)
    {
        var target = request.RequestUri!;
        var timeout = settings.Options.BackchannelTimeout;
        using var timeoutSource = new CancellationTokenSource(timeout, timeProvider);
        using var linked = CancellationTokenSource.CreateLinkedTokenSource(cancellationToken, timeoutSource.Token);

        HttpResponseMessage response;
        try
        {
            var client = httpClientFactory.CreateClient(OdcAuthenticationDefaults.BackchannelHttpClientName);
            response = await client.SendAsync(request, HttpCompletionOption.ResponseHeadersRead, linked.Token).ConfigureAwait(false);
        }
        catch (OperationCanceledException exception) when (timeoutSource.IsCancellationRequested && !cancellationToken.IsCancellationRequested)
        {
            throw new OdcAuthenticationException($"The {what} at {target.GetLeftPart(UriPartial.Path)} did not answer within {timeout.TotalSeconds:0.#} s (BackchannelTimeout).", exception);
        }
        catch (HttpRequestException exception)
        {
            throw new OdcAuthenticationException($"The {what} at {target.GetLeftPart(UriPartial.Path)} could not be reached: {exception.Message}", null, null, exception.StatusCode, exception);
        }

        if (BackchannelResponse.IsRedirect(response.StatusCode))
        {
            var status = response.StatusCode;
            response.Dispose();
            throw new OdcAuthenticationException(
                $"The {what} at {target.GetLeftPart(UriPartial.Path)} answered with a redirect (HTTP {(int)status}); identity requests are never redirected, so nothing was sent to another address. Check PortalDomain (or DiscoveryEndpoint).",
                error: null, errorDescription: null, status);
        }

        var answeredBy = response.RequestMessage?.RequestUri;
        if (answeredBy is not null && (!string.Equals(answeredBy.Host, target.Host, StringComparison.OrdinalIgnoreCase) || answeredBy.Port != target.Port))
        {
            var status = response.StatusCode;
            response.Dispose();
            throw new OdcAuthenticationException(
                $"The {what} request to {target.GetLeftPart(UriPartial.Authority)} was answered by {answeredBy.GetLeftPart(UriPartial.Authority)}: the primary handler configured for the '{OdcAuthenticationDefaults.BackchannelHttpClientName}' HttpClient follows redirects. Turn AllowAutoRedirect off there; the answer was not used.",
                error: null, errorDescription: null, status);
        }

        return response;
    }

    public static bool IsUnavailable(HttpStatusCode status) => status is HttpStatusCode.NotFound or HttpStatusCode.MethodNotAllowed;
}
