namespace OdcHandler;

/// <summary>Names and values OdcHandler uses by default.</summary>
public static class OdcAuthenticationDefaults
{
    /// <summary>
    /// The name of the <see cref="HttpClient"/> that sends discovery and token requests. Configure it with
    /// <c>services.AddHttpClient(OdcAuthenticationDefaults.BackchannelHttpClientName)</c>, for example to
    /// set a proxy or, in tests, a fake primary handler.
    /// </summary>
    /// <remarks>Its primary handler is told not to follow redirects, so the secret is never re-posted elsewhere.</remarks>
    public const string BackchannelHttpClientName = "OdcHandler.Backchannel";

    /// <summary>
    /// The name of the options of the backchannel's standard resilience pipeline. Tune its retries and
    /// timeouts with <c>services.Configure&lt;HttpStandardResilienceOptions&gt;(OdcAuthenticationDefaults.BackchannelResiliencePipelineName, o =&gt; …)</c>.
    /// </summary>
    /// <remarks>
    /// By default: 3 retries of transient failures (network errors, 408, 429, 5xx) with exponential back-off
    /// from 1 s and jitter, honouring <c>Retry-After</c> up to 10 s; 10 s per attempt; and per client
    /// <see cref="OdcAuthenticationOptions.BackchannelTimeout"/> (30 s) for the whole call. Each identity host
    /// (scheme, host and port) gets its own instance of the pipeline, so one organisation's outage never
    /// opens the circuit breaker for another's.
    /// </remarks>
    public const string BackchannelResiliencePipelineName = BackchannelHttpClientName + "-standard";

    /// <summary>The discovery document's path under the portal domain.</summary>
    public const string DiscoveryPath = "/identity/.well-known/openid-configuration";

    /// <summary>
    /// The lifetime assumed for a token whose response has no <c>expires_in</c>: 5 minutes, short on
    /// purpose, so a token of unknown lifetime is replaced early rather than used past its expiry.
    /// </summary>
    public static readonly TimeSpan LifetimeWhenUnstated = TimeSpan.FromMinutes(5);
}
