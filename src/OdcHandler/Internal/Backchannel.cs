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
    /// <summary>Sends the request and reads at most <paramref name="maxBodyBytes"/> of the answer, all within <see cref="OdcAuthenticationOptions.BackchannelTimeout"/>.</summary>
    /// <returns>The answer, which the caller disposes, and its body.</returns>
    public static async Task<(HttpResponseMessage Response, byte[] Body)> SendAsync(
        IHttpClientFactory httpClientFactory,
        TimeProvider timeProvider,
        HttpRequestMessage request,
        OdcClientSettings settings,
        string what,
        string activityName,
        int maxBodyBytes,
        CancellationToken cancellationToken)
    {
        var target = request.RequestUri!;
        var activity = OdcTelemetry.StartActivity(activityName, ActivityKind.Client);
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
            var answer = await SendCoreAsync(httpClientFactory, timeProvider, request, settings, what, maxBodyBytes, cancellationToken).ConfigureAwait(false);
            activity?.SetTag("http.response.status_code", (int)answer.Response.StatusCode);
            if (!answer.Response.IsSuccessStatusCode)
            {
                activity?.SetStatus(ActivityStatusCode.Error);
                activity?.SetTag("error.type", ((int)answer.Response.StatusCode).ToString(CultureInfo.InvariantCulture));
            }

            return answer;
        }
        catch (OdcAuthenticationException exception)
        {
            activity?.SetStatus(ActivityStatusCode.Error);
            activity?.SetTag("error.type", OdcTelemetry.ErrorType(exception));
            throw;
        }
        finally
        {
            OdcTelemetry.StopActivity(activity);
        }
    }

    private static async Task<(HttpResponseMessage Response, byte[] Body)> SendCoreAsync(
        IHttpClientFactory httpClientFactory,
        TimeProvider timeProvider,
        HttpRequestMessage request,
        OdcClientSettings settings,
        string what,
        int maxBodyBytes,
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

        try
        {
            var body = await BackchannelResponse.ReadBoundedAsync(response, maxBodyBytes, what, linked.Token).ConfigureAwait(false);
            return (response, BackchannelResponse.ToUtf8(body, response));
        }
        catch (OperationCanceledException exception) when (timeoutSource.IsCancellationRequested && !cancellationToken.IsCancellationRequested)
        {
            response.Dispose();
            throw new OdcAuthenticationException($"The {what} at {where} answered HTTP {(int)response.StatusCode} but did not finish sending its body within {timeout.TotalSeconds:0.#} s (BackchannelTimeout).", null, null, response.StatusCode, exception);
        }
        catch (Exception exception) when (exception is IOException or HttpRequestException)
        {
            response.Dispose();
            throw new OdcAuthenticationException($"The {what} at {where} answered HTTP {(int)response.StatusCode} but the connection failed while its body was read: {exception.Message}", null, null, response.StatusCode, exception);
        }
        catch
        {
            response.Dispose();
            throw;
        }
    }

    public static bool IsUnavailable(HttpStatusCode status) => status is HttpStatusCode.NotFound or HttpStatusCode.MethodNotAllowed;
}
