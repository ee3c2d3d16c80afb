using System.Diagnostics;
using System.Diagnostics.Metrics;

namespace OdcHandler.Internal;

/// <summary>
/// The meter and activity source named <c>OdcHandler</c>, and every instrument on them. Tags carry the
/// client id, outcomes and error codes; never a secret or a token.
/// </summary>
/// <remarks>
/// The meter comes from <see cref="IMeterFactory"/>, so each service provider (each test) has its own.
/// Instruments cost a field read when nobody listens, which keeps them off the hot path's budget.
/// </remarks>
internal sealed class OdcTelemetry
{
    public const string Name = "OdcHandler";

    public static readonly ActivitySource ActivitySource = new(Name);

    public OdcTelemetry(IMeterFactory meterFactory)
    {
        Meter = meterFactory.Create(Name);
        TokenAcquisitions = Meter.CreateCounter<long>(
            "odc.token.acquisitions", "{acquisition}", "Token acquisitions from the identity service, by outcome.");
        AcquisitionDuration = Meter.CreateHistogram<double>(
            "odc.token.acquisition.duration", "s", "Time to acquire a token: discovery (when not cached) and the token request, with retries.");
        CacheLookups = Meter.CreateCounter<long>(
            "odc.token.cache.lookups", "{lookup}", "Requests that found a usable token cached (hit) or had to wait for one (miss).");
        UnauthorizedRetries = Meter.CreateCounter<long>(
            "odc.request.unauthorized_retries", "{request}", "API requests answered 401 and sent again with a fresh token.");
        RefreshFailures = Meter.CreateCounter<long>(
            "odc.token.refresh.failures", "{failure}", "Background refreshes that failed while the current token was still valid.");
        RateLimitedRequests = Meter.CreateCounter<long>(
            "odc.request.rate_limited", "{response}", "API answers 429 that arrived despite the rate limiter, by limit and whether the request was sent again.");
    }

    public Meter Meter { get; }

    public Counter<long> TokenAcquisitions { get; }

    public Histogram<double> AcquisitionDuration { get; }

    public Counter<long> CacheLookups { get; }

    public Counter<long> UnauthorizedRetries { get; }

    public Counter<long> RefreshFailures { get; }

    public Counter<long> RateLimitedRequests { get; }

    // Every measurement and span below reaches the application's listeners synchronously. What they throw
    // is dropped here: observability never fails a request or a fetch, nor stops the token state machine
    // half-way through a step.
    public void RateLimited(string host, string limitName, bool resent)
    {
        if (RateLimitedRequests.Enabled)
        {
            try
            {
                RateLimitedRequests.Add(
                    1, new("server.address", host), new("odc.rate_limit", limitName), new("odc.outcome", resent ? "resent" : "returned"));
            }
            catch (Exception)
            {
                // A failing meter listener, as above.
            }
        }
    }

    public void CacheLookup(string clientId, bool hit)
    {
        if (CacheLookups.Enabled)
        {
            try
            {
                CacheLookups.Add(1, new("odc.client.id", clientId), new("odc.cache.result", hit ? "hit" : "miss"));
            }
            catch (Exception)
            {
                // A failing meter listener; see above.
            }
        }
    }

    /// <summary>Records an acquisition that started at <paramref name="startedAt"/> (a timestamp of <paramref name="timeProvider"/>).</summary>
    public void Acquired(string clientId, TimeProvider timeProvider, long startedAt, OdcAuthenticationException? failure)
    {
        if (!TokenAcquisitions.Enabled && !AcquisitionDuration.Enabled)
        {
            return;
        }

        try
        {
            var outcome = new KeyValuePair<string, object?>("odc.outcome", failure is null ? "success" : "failure");
            var client = new KeyValuePair<string, object?>("odc.client.id", clientId);
            var error = new KeyValuePair<string, object?>("error.type", ErrorType(failure));
            TokenAcquisitions.Add(1, client, outcome, error);
            AcquisitionDuration.Record(timeProvider.GetElapsedTime(startedAt).TotalSeconds, client, outcome, error);
        }
        catch (Exception)
        {
            // A failing meter listener or clock; see above.
        }
    }

    public void UnauthorizedRetry(string serverAddress)
    {
        if (UnauthorizedRetries.Enabled)
        {
            try
            {
                UnauthorizedRetries.Add(1, new KeyValuePair<string, object?>("server.address", serverAddress));
            }
            catch (Exception)
            {
                // A failing meter listener; see above.
            }
        }
    }

    public void RefreshFailed(string clientId, OdcAuthenticationException failure)
    {
        if (RefreshFailures.Enabled)
        {
            try
            {
                RefreshFailures.Add(1, new KeyValuePair<string, object?>("odc.client.id", clientId), new KeyValuePair<string, object?>("error.type", ErrorType(failure)));
            }
            catch (Exception)
            {
                // A failing meter listener; see above.
            }
        }
    }

    /// <summary>Starts a span, or returns <see langword="null"/> when nobody listens or a listener throws.</summary>
    public static Activity? StartActivity(string name, ActivityKind kind, IEnumerable<KeyValuePair<string, object?>>? tags = null, IEnumerable<ActivityLink>? links = null)
    {
        if (!ActivitySource.HasListeners())
        {
            return null;
        }

        var current = Activity.Current;
        try
        {
            return ActivitySource.StartActivity(name, kind, parentContext: default, tags, links);
        }
        catch (Exception)
        {
            // A listener threw after the span became current: it must not parent what follows.
            Activity.Current = current;
            return null;
        }
    }

    /// <summary>Ends a span started by <see cref="StartActivity"/>; a listener that throws on stop loses the span, nothing else.</summary>
    public static void StopActivity(Activity? activity)
    {
        if (activity is null)
        {
            return;
        }

        var parent = activity.Parent;
        try
        {
            activity.Dispose();
        }
        catch (Exception)
        {
            if (Activity.Current == activity)
            {
                Activity.Current = parent;
            }
        }
    }

    /// <summary>The OAuth error code, else the HTTP status, else a fixed word: a bounded set, never free text.</summary>
    public static string? ErrorType(OdcAuthenticationException? failure) => failure switch
    {
        null => null,
        { Error: { } error } when error.Length <= 64 && error.All(c => char.IsAsciiLetterOrDigit(c) || c is '_' or '-' or '.') => error,
        { StatusCode: { } status } => ((int)status).ToString(System.Globalization.CultureInfo.InvariantCulture),
        { InnerException: OperationCanceledException or TimeoutException or Polly.Timeout.TimeoutRejectedException } => "timeout",
        { InnerException: HttpRequestException } => "connection_error",
        { InnerException: Polly.CircuitBreaker.BrokenCircuitException } => "circuit_open",
        _ => "invalid_response",
    };
}
