using System.Net;
using Microsoft.Extensions.Logging;

namespace OdcHandler.Internal;

/// <summary>
/// Holds each request until its endpoint cap and its domain pool both have a permit, then sends it; resends a
/// request answered 429 anyway after the window can have moved on. Sits directly in front of the primary handler
/// (inside <see cref="BearerTokenHandler"/> and any resilience pipeline), so every request that leaves, a 401 retry
/// or an outer retry's attempt included, takes its own permits. When the primary handler would follow redirects,
/// this handler follows them instead (<paramref name="maxRedirects"/>), so each hop takes its own permits too.
/// </summary>
/// <param name="limiter">The client's limits.</param>
/// <param name="time">The clock the waits run on.</param>
/// <param name="logger">Where resends and refusals are logged.</param>
/// <param name="telemetry">Where 429s are counted.</param>
/// <param name="metricServerAddress">
/// The <c>server.address</c> tag of every measurement, instead of the request's host: a multi-organisation client whose
/// application did not opt in to tagging organisations passes a fixed value, so metrics do not grow with its tenants.
/// </param>
/// <param name="maxRedirects">
/// How many redirects to follow, as the primary handler would have (its <c>MaxAutomaticRedirections</c>) before its
/// own following was turned off; 0 when the primary handler does not follow redirects.
/// </param>
internal sealed class OdcRateLimitingHandler(
    OdcRateLimiter limiter, TimeProvider time, ILogger logger, OdcTelemetry telemetry, string? metricServerAddress = null, int maxRedirects = 0) : DelegatingHandler
{
    /// <inheritdoc />
    protected override Task<HttpResponseMessage> SendAsync(HttpRequestMessage request, CancellationToken cancellationToken)
    {
        ArgumentNullException.ThrowIfNull(request);
        if (!limiter.TryGetLimits(request, out var endpoint, out var domain))
        {
            if (maxRedirects == 0)
            {
                return base.SendAsync(request, cancellationToken);
            }

            // Not limited itself, but a redirect from it may lead to a limited address.
            var unlimited = base.SendAsync(request, cancellationToken);
            return unlimited.IsCompletedSuccessfully && !IsRedirect(unlimited.Result.StatusCode)
                ? unlimited
                : SendCoreAsync(request, null, null, unlimited, endpointHeld: false, async: true, cancellationToken).AsTask();
        }

        if (cancellationToken.IsCancellationRequested)
        {
            // Nothing will be sent: spend no permit on it.
            return Task.FromCanceled<HttpResponseMessage>(cancellationToken);
        }

        if (limiter.Fleet is not null)
        {
            // The fleet's permits are a round trip to its store away: no synchronous fast path.
            return SendCoreAsync(request, endpoint, domain, sending: null, endpointHeld: false, async: true, cancellationToken).AsTask();
        }

        var endpointHeld = endpoint is null || endpoint.TryTake();
        if (endpointHeld && (domain is null || domain.TryTake()))
        {
            // Permits free and an answer that is already there and is not a 429: no state machine, no allocation.
            var sending = base.SendAsync(request, cancellationToken);
            if (sending.IsCompletedSuccessfully && sending.Result.StatusCode != HttpStatusCode.TooManyRequests && (maxRedirects == 0 || !IsRedirect(sending.Result.StatusCode)))
            {
                return sending;
            }

            return SendCoreAsync(request, endpoint, domain, sending, endpointHeld: true, async: true, cancellationToken).AsTask();
        }

        return SendCoreAsync(request, endpoint, domain, sending: null, endpointHeld, async: true, cancellationToken).AsTask();
    }

    /// <inheritdoc />
    protected override HttpResponseMessage Send(HttpRequestMessage request, CancellationToken cancellationToken)
    {
        ArgumentNullException.ThrowIfNull(request);
        if (!limiter.TryGetLimits(request, out var endpoint, out var domain))
        {
            if (maxRedirects == 0)
            {
                return base.Send(request, cancellationToken);
            }

            endpoint = domain = null;
        }

        cancellationToken.ThrowIfCancellationRequested();

        // A synchronous caller blocks while it waits for a permit, as it would block on the network.
        var sending = SendCoreAsync(request, endpoint, domain, sending: null, endpointHeld: false, async: false, cancellationToken);
        return sending.IsCompleted ? sending.Result : sending.AsTask().GetAwaiter().GetResult();
    }

    private async ValueTask<HttpResponseMessage> SendCoreAsync(
        HttpRequestMessage request, RateLimit? endpoint, RateLimit? domain, Task<HttpResponseMessage>? sending, bool endpointHeld, bool async, CancellationToken cancellationToken)
    {
        var resends = 0;
        var redirects = 0;
        while (true)
        {
            HttpResponseMessage response;
            if (sending is not null)
            {
                response = await sending.ConfigureAwait(false);
                sending = null;

                // The permits of that attempt are spent: a resend takes its own, its endpoint's included.
                endpointHeld = false;
            }
            else
            {
                // A redirect's next hop or a resend whose caller gave up meanwhile: nothing will be sent, no permit.
                cancellationToken.ThrowIfCancellationRequested();
                var permits = await WaitForPermitsAsync(endpoint, domain, endpointHeld, cancellationToken).ConfigureAwait(false);
                endpointHeld = false;
                if (async)
                {
                    Task<HttpResponseMessage> sent;
                    try
                    {
                        sent = base.SendAsync(request, cancellationToken);
                    }
                    finally
                    {
                        // Handed to the network (its synchronous part ran, where an in-process server reads its clock).
                        permits.Sent(limiter);
                    }

                    response = await sent.ConfigureAwait(false);
                }
                else
                {
                    // A blocking send would hold the windows for its whole round trip: let them go just before.
                    permits.Sent(limiter);
                    response = base.Send(request, cancellationToken);
                }
            }

            if (redirects < maxRedirects && RedirectTarget(request, response) is { } target)
            {
                // What the primary handler would have done, except that the next hop waits for its own permits.
                redirects++;
                var status = response.StatusCode;
                response.Dispose();
                FollowRedirect(request, status, target);
                if (!limiter.TryGetLimits(request, out endpoint, out domain))
                {
                    endpoint = domain = null;
                }

                endpointHeld = false;
                continue;
            }

            if (response.StatusCode != HttpStatusCode.TooManyRequests || (endpoint is null && domain is null))
            {
                return response;
            }

            // ODC does not say which limit refused; the tightest one the request counts against is the likely one.
            var limit = endpoint ?? domain!;
            var host = request.RequestUri!.Host;
            var retryAfter = RetryAfter(response);
            if (retryAfter is null)
            {
                limit.Drain();
            }

            var delay = retryAfter ?? limiter.Window;
            var refusal = resends >= limiter.MaxResends ? $"it was sent {resends + 1} times (MaxRateLimitedResends is {limiter.MaxResends})"
                : delay > limiter.Window && delay > limiter.MaxWait ? $"Retry-After ({delay}) is longer than MaxWait"
                : !RequestReplay.CanReplay(request.Content) ? "its body cannot be sent again byte for byte"
                : null;
            telemetry.RateLimited(metricServerAddress ?? host, limit.Name, resent: refusal is null);
            if (refusal is not null)
            {
                logger.RateLimitedReturned(request.Method, host, limit.Name, refusal);
                return response;
            }

            logger.RateLimitedResending(request.Method, host, limit.Name, delay, resends + 1);
            resends++;
            response.Dispose();
            var waiting = limiter.SleepAsync(delay, cancellationToken);
            if (async)
            {
                await waiting.ConfigureAwait(false);
            }
            else
            {
                waiting.GetAwaiter().GetResult();
            }
        }
    }

    /// <returns>What holds a window until the request is sent: see <see cref="HeldPermits"/>.</returns>
    private async ValueTask<HeldPermits> WaitForPermitsAsync(RateLimit? endpoint, RateLimit? domain, bool endpointHeld, CancellationToken cancellationToken)
    {
        if (endpoint is null && domain is null)
        {
            // A redirect's hop to an address no limit covers.
            return default;
        }

        // One MaxWait for the whole wait: the fleet's store first, then (when it fails) the local limits.
        var deadline = time.GetUtcNow() + limiter.MaxWait;
        if (!endpointHeld && limiter.Fleet is { } fleet && await fleet.TryAcquireAsync(endpoint, domain, deadline, cancellationToken).ConfigureAwait(false))
        {
            return default;
        }

        endpointHeld = endpointHeld || endpoint is null || endpoint.TryTake();
        var domainHeld = domain is null || (endpointHeld && domain.TryTake());
        if (endpointHeld && domainHeld)
        {
            return default;
        }

        // A permit given up on (MaxWait, the caller's cancellation) after the endpoint's was taken is not handed
        // back: window limiters cannot return permits, and one unused permit only errs on the safe side.
        var remaining = deadline - time.GetUtcNow();
        using var timeout = new CancellationTokenSource(remaining > TimeSpan.Zero ? remaining : TimeSpan.Zero, time);
        using var linked = CancellationTokenSource.CreateLinkedTokenSource(cancellationToken, timeout.Token, limiter.Disposing);
        var waitingFor = endpointHeld ? domain! : endpoint!;
        var held = default(HeldPermits);
        try
        {
            if (!endpointHeld)
            {
                (var acquired, var handoff) = await endpoint!.WaitAsync(limiter.Handoffs, linked.Token).ConfigureAwait(false);
                if (!acquired)
                {
                    throw Exceeded(endpoint);
                }

                held = new HeldPermits(handoff, null);
            }

            if (domain is not null && !domainHeld && !domain.TryTake())
            {
                // The endpoint's permit is held while this request waits for its domain: the endpoint's window stays
                // where it is until the request leaves, the rest (the domain's window above all) moves on.
                if (endpoint is not null)
                {
                    endpoint.Hold();
                }

                limiter.Handoffs.End(held.Handoff);
                held = new HeldPermits(null, endpoint);
                waitingFor = domain;
                (var acquired, var handoff) = await domain.WaitAsync(limiter.Handoffs, linked.Token).ConfigureAwait(false);
                if (!acquired)
                {
                    throw Exceeded(domain);
                }

                held = new HeldPermits(handoff, endpoint);
            }

            return held;
        }
        catch (OperationCanceledException) when (limiter.IsDisposed && !cancellationToken.IsCancellationRequested)
        {
            held.Sent(limiter);
            throw OdcRateLimiter.DisposedWhileWaiting();
        }
        catch (OperationCanceledException) when (timeout.IsCancellationRequested && !cancellationToken.IsCancellationRequested)
        {
            held.Sent(limiter);
            throw Exceeded(waitingFor);
        }
        catch
        {
            held.Sent(limiter);
            throw;
        }
    }

    /// <summary>
    /// What keeps a window from moving on until the request has been handed to the network: the handoff of a permit that
    /// had to be waited for (<see cref="PermitHandoffs"/>), and the endpoint whose permit was held while the request
    /// waited for its domain (<see cref="RateLimit.Hold"/>).
    /// </summary>
    private readonly record struct HeldPermits(Task? Handoff, RateLimit? HeldEndpoint)
    {
        public void Sent(OdcRateLimiter limiter)
        {
            limiter.Handoffs.End(Handoff);
            HeldEndpoint?.Unhold();
        }
    }

    private OdcRateLimitExceededException Exceeded(RateLimit limit)
    {
        logger.RateLimitWaitExceeded(limit.Name, limit.PermitLimit, limit.Window, limiter.MaxWait);
        return new OdcRateLimitExceededException(limit.Name, limit.PermitLimit, limit.Window, limiter.MaxWait);
    }

    private static bool IsRedirect(HttpStatusCode status) => status is HttpStatusCode.MultipleChoices or HttpStatusCode.MovedPermanently
        or HttpStatusCode.Found or HttpStatusCode.SeeOther or HttpStatusCode.TemporaryRedirect or HttpStatusCode.PermanentRedirect;

    /// <summary>
    /// Where a redirect leads, by the rules <c>SocketsHttpHandler</c> follows: a relative <c>Location</c> resolved against
    /// the request, the request's fragment kept when the target has none, and never from https to http (nor to
    /// another scheme): such a redirect is returned as it is.
    /// </summary>
    private static Uri? RedirectTarget(HttpRequestMessage request, HttpResponseMessage response)
    {
        if (!IsRedirect(response.StatusCode) || response.Headers.Location is not { } location || request.RequestUri is not { IsAbsoluteUri: true } from)
        {
            return null;
        }

        var target = location.IsAbsoluteUri ? location : new Uri(from, location);
        if (from.Fragment.Length > 1 && target.Fragment.Length == 0)
        {
            target = new UriBuilder(target) { Fragment = from.Fragment[1..] }.Uri;
        }

        var allowed = target.Scheme == Uri.UriSchemeHttps || (target.Scheme == Uri.UriSchemeHttp && from.Scheme != Uri.UriSchemeHttps);
        return allowed ? target : null;
    }

    /// <summary>
    /// Readies the request for its next hop as <c>SocketsHttpHandler</c> does: no <c>Authorization</c> header (the
    /// target may not be meant to get the token; <see cref="BearerTokenHandler"/> decides after the answer), and a POST
    /// redirected by 301, 302 or 300, or anything but GET and HEAD redirected by 303, becomes a GET without a body.
    /// </summary>
    private static void FollowRedirect(HttpRequestMessage request, HttpStatusCode status, Uri target)
    {
        request.Headers.Authorization = null;
        request.RequestUri = target;
        var toGet = status is HttpStatusCode.MovedPermanently or HttpStatusCode.Found or HttpStatusCode.MultipleChoices
            ? request.Method == HttpMethod.Post
            : status == HttpStatusCode.SeeOther && request.Method != HttpMethod.Get && request.Method != HttpMethod.Head;
        if (toGet)
        {
            request.Method = HttpMethod.Get;
            request.Content = null;
            if (request.Headers.TransferEncodingChunked == true)
            {
                request.Headers.TransferEncodingChunked = false;
            }
        }
    }

    private TimeSpan? RetryAfter(HttpResponseMessage response) => response.Headers.RetryAfter switch
    {
        { Delta: { } delta } => delta < TimeSpan.Zero ? TimeSpan.Zero : delta,
        { Date: { } date } => date - time.GetUtcNow() is var wait && wait > TimeSpan.Zero ? wait : TimeSpan.Zero,
        _ => null,
    };
}
