using System.Text;

namespace OdcHandler;

/// <summary>
/// Settings for one ODC API client, configured per named <see cref="HttpClient"/> through
/// <c>AddOdcAuthentication</c>. Two HttpClients may use two organisations with two credentials.
/// </summary>
/// <remarks>
/// Options are validated when they are first used, or at host start when the host runs
/// (<c>ValidateOnStart</c>); an invalid setting throws an
/// <see cref="Microsoft.Extensions.Options.OptionsValidationException"/> whose message names it.
/// <see cref="ToString"/> never shows <see cref="ClientSecret"/>.
/// </remarks>
public sealed class OdcAuthenticationOptions
{
    /// <summary>
    /// The ODC portal's domain: <c>myorg.outsystems.dev</c>, <c>https://myorg.outsystems.dev</c>,
    /// or a loopback address such as <c>http://127.0.0.1:5000</c> for a local test server.
    /// </summary>
    /// <remarks>
    /// Required. A bare host means https on port 443. The access token is attached only to requests
    /// to this scheme, host and port (and to <see cref="AdditionalApiHosts"/>).
    /// </remarks>
    public string? PortalDomain { get; set; }

    /// <summary>The API client's id, as shown in the ODC Portal. Required.</summary>
    public string? ClientId { get; set; }

    /// <summary>
    /// The API client's secret, as shown once in the ODC Portal, unencoded. Required.
    /// It is form-urlencoded exactly once when sent.
    /// </summary>
    public string? ClientSecret { get; set; }

    /// <summary>
    /// The day the client secret expires, as the ODC Portal shows it (in configuration: <c>"2027-03-01"</c>).
    /// The secret is taken to expire at 23:59 UTC that day.
    /// </summary>
    /// <remarks>
    /// <para>
    /// By default, this is <see langword="null"/>: the secret's life is not tracked. When set, from 14 days
    /// before (the reminder period of the ODC Portal) the health check reports Degraded, naming the client
    /// and the date, a warning is logged once a day (and still daily past the date), and the gauge <c>odc.client_secret.time_to_expiry</c>
    /// reports the seconds left all along (negative once past).
    /// </para>
    /// <para>
    /// It only reports: a date in the past is accepted, tokens are still requested, and the health check
    /// stays Degraded rather than Unhealthy past the date for as long as tokens still come (the date may be
    /// stale while the secret works); once the identity service refuses the secret, the check is Unhealthy
    /// with its error as for any failed acquisition. Set it together with <see cref="ClientSecret"/> when
    /// rotating, and a configuration reload moves all of it to the new secret at once.
    /// </para>
    /// </remarks>
    public DateOnly? ClientSecretExpiresAt { get; set; }

    /// <summary>
    /// Overrides the OpenID Connect discovery document's address.
    /// </summary>
    /// <remarks>
    /// By default, this is <c>https://{PortalDomain}/identity/.well-known/openid-configuration</c>.
    /// It must be https unless it is on loopback or <see cref="RequireHttps"/> is <see langword="false"/>.
    /// </remarks>
    public Uri? DiscoveryEndpoint { get; set; }

    /// <summary>
    /// How long before the token expires a new one is fetched in the background, while the current
    /// one is still used.
    /// </summary>
    /// <remarks>
    /// By default, this is 5 minutes. For tokens that live less than twice this long, the refresh
    /// starts half-way through their lifetime instead. Must be between zero and one day.
    /// </remarks>
    public TimeSpan RefreshBeforeExpiry { get; set; } = TimeSpan.FromMinutes(5);

    /// <summary>
    /// The range of a random offset that moves each background refresh earlier, so that many instances
    /// of an application started together do not all refresh in the same second.
    /// </summary>
    /// <remarks>
    /// By default, this is 2 minutes: a 12-hour token is refreshed between 5 and 7 minutes before it
    /// expires. For short-lived tokens the offset is at most a quarter of the lifetime. Zero turns it off.
    /// Must be between zero and one hour.
    /// </remarks>
    public TimeSpan RefreshJitter { get; set; } = TimeSpan.FromMinutes(2);

    /// <summary>
    /// Whether the token is acquired in the background when the host starts, so the first request does
    /// not wait for it. A failure is logged, not fatal.
    /// </summary>
    /// <remarks>By default, this is <see langword="false"/>. Needs a host (<c>IHost</c>) to run hosted services.</remarks>
    public bool WarmUpOnStart { get; set; }

    /// <summary>
    /// Whether the host must not start unless a token can be acquired: the start waits for it and fails
    /// with the <see cref="OdcAuthenticationException"/> if there is none.
    /// </summary>
    /// <remarks>By default, this is <see langword="false"/>. Implies <see cref="WarmUpOnStart"/>.</remarks>
    public bool RequireTokenOnStart { get; set; }

    /// <summary>How long the discovery document is cached.</summary>
    /// <remarks>By default, this is 24 hours. Must be between one second and 30 days.</remarks>
    public TimeSpan DiscoveryCacheDuration { get; set; } = TimeSpan.FromHours(24);

    /// <summary>
    /// After a failed token acquisition with no usable token cached, how long callers get the same
    /// <see cref="OdcAuthenticationException"/> at once instead of calling the identity service again.
    /// </summary>
    /// <remarks>
    /// By default, this is 5 seconds. Zero turns the cool-down off. It is also the first delay
    /// between background refresh attempts when a refresh fails while the old token is still valid
    /// (the delay then doubles, up to one minute). Must be between zero and 5 minutes.
    /// </remarks>
    public TimeSpan FailureCooldown { get; set; } = TimeSpan.FromSeconds(5);

    /// <summary>The longest a discovery or token request to the identity service may take, retries included.</summary>
    /// <remarks>
    /// By default, this is 30 seconds. Must be between one second and 10 minutes. It is the bound that
    /// applies: the backchannel pipeline's own total timeout is set to 10 minutes. Within it, the pipeline
    /// retries as configured (by default 3 retries, 10 seconds per attempt).
    /// </remarks>
    public TimeSpan BackchannelTimeout { get; set; } = TimeSpan.FromSeconds(30);

    /// <summary>How the client id and secret are sent to the token endpoint.</summary>
    /// <remarks>By default, this is <see cref="ClientCredentialStyle.FormBody"/>.</remarks>
    public ClientCredentialStyle CredentialStyle { get; set; } = ClientCredentialStyle.FormBody;

    /// <summary>
    /// Whether the discovery document, the token endpoint and the APIs must be reached over https.
    /// </summary>
    /// <remarks>
    /// By default, this is <see langword="true"/>. Loopback addresses (<c>localhost</c>,
    /// <c>127.0.0.0/8</c>, <c>[::1]</c>) are always allowed over plain http, so tests and local
    /// development work without turning this off.
    /// </remarks>
    public bool RequireHttps { get; set; } = true;

    /// <summary>
    /// Hosts besides the portal's that may receive the access token, each as <c>host</c> (port 443)
    /// or <c>host:port</c>. Requests to any other host are sent without the token.
    /// </summary>
    /// <remarks>By default, this is empty.</remarks>
    public IList<string> AdditionalApiHosts { get; } = [];

    /// <summary>Describes these options without the client secret.</summary>
    /// <returns>A description with the secret masked.</returns>
    public override string ToString()
    {
        var text = new StringBuilder("OdcAuthenticationOptions { ");
        text.Append("PortalDomain = ").Append(PortalDomain)
            .Append(", ClientId = ").Append(ClientId)
            .Append(", ClientSecret = ").Append(string.IsNullOrEmpty(ClientSecret) ? "(not set)" : "***")
            .Append(", ClientSecretExpiresAt = ").Append(ClientSecretExpiresAt?.ToString("yyyy-MM-dd", System.Globalization.CultureInfo.InvariantCulture))
            .Append(", DiscoveryEndpoint = ").Append(DiscoveryEndpoint)
            .Append(", CredentialStyle = ").Append(CredentialStyle)
            .Append(", RequireHttps = ").Append(RequireHttps)
            .Append(", AdditionalApiHosts = [").AppendJoin(", ", AdditionalApiHosts).Append(']')
            .Append(" }");
        return text.ToString();
    }
}
