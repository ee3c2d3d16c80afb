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

    /// <summary>The discovery document's path under the portal domain.</summary>
    public const string DiscoveryPath = "/identity/.well-known/openid-configuration";

    /// <summary>
    /// The lifetime assumed for a token whose response has no <c>expires_in</c>: 5 minutes, short on
    /// purpose, so a token of unknown lifetime is replaced early rather than used past its expiry.
    /// </summary>
    public static readonly TimeSpan LifetimeWhenUnstated = TimeSpan.FromMinutes(5);
}
