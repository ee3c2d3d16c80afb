using System.Diagnostics;
using System.Globalization;
using System.Net;
using Polly;
using Polly.CircuitBreaker;

namespace OdcHandler.Internal;

/// <summary>
/// Sends one request to the identity service through the backchannel HttpClient (whose resilience
/// pipeline retries transient failures), bounded in total time, refusing redirects, traced as a span,
/// and turning every transport failure into an <see cref="OdcAuthenticationException"/>.
/// </summary>
internal static class Backchannel
{
    public static async Task<HttpResponseMessage> SendAsync(
        IHttpClientFactory httpClientFactory,
        TimeProvider timeProvider,
        HttpRequestMessage request,
        OdcClientSettings settings,
        string what,
        string activityName,
        CancellationToken cancellationToken)
    {
        var target = request.RequestUri!;
        using var activity = OdcTelemetry.ActivitySource.StartActivity(activityName, ActivityKind.Client);
        if (activity is not null)
        {
            activity.SetTag("http.request.method", request.Method.Method);
            activity.SetTag("server.address", target.Host);
            activity.SetTag("server.port", target.Port);
            activity.SetTag("url.full", target.GetLeftPart(UriPartial.Path));
            activity.SetTag("odc.client.id", settings.ClientId);
        }

        try
        {
            var response = await SendCoreAsync(httpClientFactory, timeProvider, request, settings, what, cancellationToken).ConfigureAwait(false);
            activity?.SetTag("http.response.status_code", (int)response.StatusCode);
            if (!response.IsSuccessStatusCode)
            {
                activity?.SetStatus(ActivityStatusCode.Error);
                activity?.SetTag("error.type", ((int)response.StatusCode).ToString(CultureInfo.InvariantCulture));
            }

            return response;
        }
        catch (OdcAuthenticationException exception)
        {
            activity?.SetStatus(ActivityStatusCode.Error);
            activity?.SetTag("error.type", OdcTelemetry.ErrorType(exception));
            throw;
        }
    }

    private static async Task<HttpResponseMessage> SendCoreAsync(
        IHttpClientFactory httpClientFactory,
        TimeProvider timeProvider,
        HttpRequestMessage request,
        OdcClientSettings settings,
        string what,
        CancellationToken cancellationToken)
    {
        var target = request.RequestUri!;
        var where = target.GetLeftPart(UriPartial.Path);
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
            throw new OdcAuthenticationException($"The {what} at {where} did not answer within {timeout.TotalSeconds:0.#} s (BackchannelTimeout), retries included.", exception);
        }
        catch (BrokenCircuitException exception)
        {
            throw new OdcAuthenticationException($"The {what} at {where} was not called: it failed too often recently, so the backchannel's circuit breaker is open for a while.", exception);
        }
        catch (ExecutionRejectedException exception)
        {
            throw new OdcAuthenticationException($"The {what} at {where} did not answer in time on any attempt ({exception.GetType().Name}).", exception);
        }
        catch (HttpRequestException exception)
        {
            throw new OdcAuthenticationException($"The {what} at {where} could not be reached: {exception.Message}", null, null, exception.StatusCode, exception);
        }

        if (BackchannelResponse.IsRedirect(response.StatusCode))
        {
            var status = response.StatusCode;
            response.Dispose();
            throw new OdcAuthenticationException(
                $"The {what} at {where} answered with a redirect (HTTP {(int)status}); identity requests are never redirected, so nothing was sent to another address. Check PortalDomain (or DiscoveryEndpoint).",
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
