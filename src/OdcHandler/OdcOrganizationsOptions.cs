namespace OdcHandler;

/// <summary>
/// Settings of an HttpClient that serves many ODC organisations (<c>AddOdcAuthentication&lt;TCredentialSource&gt;()</c>):
/// the bounded cache of their tokens and the token lifecycle every organisation follows.
/// </summary>
/// <remarks>
/// Read once, when the client is first used; unlike <see cref="OdcAuthenticationOptions"/> they are not followed
/// across configuration reloads. The credentials come from the <see cref="IOdcCredentialSource"/> and are
/// followed: see there.
/// </remarks>
public sealed class OdcOrganizationsOptions
{
    /// <summary>
    /// How many organisations keep a token manager in OdcHandler's own cache. By default, 1000.
    /// </summary>
    /// <remarks>
    /// Each organisation counts 1. Beyond the limit the least recently used organisations are evicted (their timers
    /// stop; their next request asks the credential source and fetches a new token). Ignored when the application
    /// registered its own <c>IMemoryCache</c> with a <c>SizeLimit</c>: that cache and its limit are used, each
    /// organisation counting 1 there.
    /// </remarks>
    public long SizeLimit { get; set; } = 1000;

    /// <summary>
    /// How long an organisation that sends no request keeps its cache entry (sliding). By default, 1 hour.
    /// </summary>
    /// <remarks>
    /// An organisation is let go no sooner than this after its last request, and at most a second later (a quarter of a
    /// shorter value): requests touch its cache entry at most that often. A request after that asks the credential
    /// source again; without requests, its timers stop within a minute.
    /// </remarks>
    public TimeSpan IdleExpiration { get; set; } = TimeSpan.FromHours(1);

    /// <summary>
    /// Whether the token goes only over https (plain http is always allowed to a loopback host). By default, <see langword="true"/>.
    /// </summary>
    public bool RequireHttps { get; set; } = true;

    /// <summary>
    /// Whether metrics carry each organisation's client id in <c>odc.client.id</c> and its host in <c>server.address</c>.
    /// By default, <see langword="false"/>: one fixed value, <c>organizations</c>, so thousands of tenants do not make
    /// thousands of time series. Log lines and spans always name the client id.
    /// </summary>
    public bool TagOrganizationInMetrics { get; set; }

    /// <summary>As <see cref="OdcAuthenticationOptions.RefreshBeforeExpiry"/>, for every organisation. By default, 5 minutes.</summary>
    public TimeSpan RefreshBeforeExpiry { get; set; } = TimeSpan.FromMinutes(5);

    /// <summary>As <see cref="OdcAuthenticationOptions.RefreshJitter"/>, for every organisation. By default, 2 minutes.</summary>
    public TimeSpan RefreshJitter { get; set; } = TimeSpan.FromMinutes(2);

    /// <summary>As <see cref="OdcAuthenticationOptions.DiscoveryCacheDuration"/>, for every organisation. By default, 24 hours.</summary>
    public TimeSpan DiscoveryCacheDuration { get; set; } = TimeSpan.FromHours(24);

    /// <summary>
    /// As <see cref="OdcAuthenticationOptions.FailureCooldown"/>, for each organisation on its own: one organisation's
    /// failure never cools down another's requests. By default, 5 seconds.
    /// </summary>
    public TimeSpan FailureCooldown { get; set; } = TimeSpan.FromSeconds(5);

    /// <summary>
    /// As <see cref="OdcAuthenticationOptions.BackchannelTimeout"/>; it also bounds one call of the credential source.
    /// By default, 30 seconds.
    /// </summary>
    public TimeSpan BackchannelTimeout { get; set; } = TimeSpan.FromSeconds(30);

    /// <inheritdoc />
    public override string ToString() =>
        $"OdcOrganizationsOptions {{ SizeLimit = {SizeLimit}, IdleExpiration = {IdleExpiration}, RequireHttps = {RequireHttps}, TagOrganizationInMetrics = {TagOrganizationInMetrics} }}";

    /// <summary>The options of one organisation, for the single-organisation machinery (endpoints, validation, token manager).</summary>
    internal OdcAuthenticationOptions ForOrganization(string portal, OdcOrganizationCredentials credentials)
    {
        var options = new OdcAuthenticationOptions
        {
            PortalDomain = portal,
            ClientId = credentials.ClientId,
            ClientSecret = credentials.ClientSecret,
            CredentialStyle = credentials.CredentialStyle,
            RequireHttps = RequireHttps,
            RefreshBeforeExpiry = RefreshBeforeExpiry,
            RefreshJitter = RefreshJitter,
            DiscoveryCacheDuration = DiscoveryCacheDuration,
            FailureCooldown = FailureCooldown,
            BackchannelTimeout = BackchannelTimeout,
        };
        foreach (var host in credentials.AdditionalApiHosts)
        {
            options.AdditionalApiHosts.Add(host);
        }

        return options;
    }
}
