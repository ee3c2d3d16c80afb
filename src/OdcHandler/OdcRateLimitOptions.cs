namespace OdcHandler;

/// <summary>
/// The request limits <c>AddOdcRateLimiting</c> keeps a client within, named after the HttpClient like
/// <see cref="OdcAuthenticationOptions"/>. By default, ODC's published limits per organisation.
/// </summary>
/// <remarks>
/// ODC counts requests per organisation in two levels: a pool per API domain (the first path segment after
/// <c>/api/</c>, for example <c>identity</c> in <c>/api/identity/v1/users</c>) shared by all its endpoints, and a
/// smaller cap on some endpoints that also counts against the domain's pool. Beyond either it answers 429
/// without <c>Retry-After</c>. A request to a path outside <c>/api/</c> is not limited.
/// Each HttpClient name has its own budget per host; the limits are read when the client first sends.
/// </remarks>
public sealed class OdcRateLimitOptions
{
    /// <summary>
    /// Requests per <see cref="Window"/> for each API domain, by the domain's first path segment after
    /// <c>/api/</c> (case-insensitive). By default ODC's table: 100 for every domain, 10 for
    /// <c>environment-configurations</c>. A value of 0 or less leaves the domain unlimited.
    /// </summary>
    public IDictionary<string, int> DomainLimits { get; } = new Dictionary<string, int>(StringComparer.OrdinalIgnoreCase)
    {
        ["identity"] = 100,
        ["portfolios"] = 100,
        ["builds"] = 100,
        ["deployments"] = 100,
        ["asset-repository"] = 100,
        ["asset-configurations"] = 100,
        ["dependency-management"] = 100,
        ["environment-configurations"] = 10,
        ["external-libraries"] = 100,
        ["code-quality"] = 100,
        ["native-mobile-builds"] = 100,
        ["subscription"] = 100,
        ["organization"] = 100,
    };

    /// <summary>
    /// Requests per <see cref="Window"/> for a domain not in <see cref="DomainLimits"/>. By default, 100.
    /// 0 or less leaves such domains unlimited.
    /// </summary>
    public int DefaultDomainLimit { get; set; } = 100;

    /// <summary>
    /// Caps on single endpoints, which count against their domain's pool too. The key is a method and a path
    /// after <c>/api/</c>: <c>"POST identity/v1/users/bulk"</c> caps that endpoint;
    /// <c>"POST deployments/v1/*"</c> caps each POST endpoint under that prefix separately (path segments that
    /// are GUIDs or numbers count as one endpoint). By default ODC's table: 5 for bulk users and mobile-build
    /// POSTs, 10 for build, deployment, external-library and mobile-build PATCH endpoints, asset upload and
    /// code analyses. A value of 0 or less removes the cap.
    /// </summary>
    public IDictionary<string, int> EndpointLimits { get; } = new Dictionary<string, int>(StringComparer.OrdinalIgnoreCase)
    {
        ["POST identity/v1/users/bulk"] = 5,
        ["POST builds/v1/*"] = 10,
        ["POST deployments/v1/*"] = 10,
        ["POST asset-repository/v1/assets"] = 10,
        ["POST external-libraries/v1/*"] = 10,
        ["POST code-quality/v1/code-analyses"] = 10,
        ["POST native-mobile-builds/v1/*"] = 5,
        ["PATCH native-mobile-builds/v1/*"] = 10,
    };

    /// <summary>
    /// The window the limits count over: never more than the limit in any window this long. By default, 1 minute.
    /// </summary>
    public TimeSpan Window { get; set; } = TimeSpan.FromMinutes(1);

    /// <summary>
    /// The longest a request waits for a permit before it fails with <see cref="OdcRateLimitExceededException"/>,
    /// unsent. By default, 2 minutes. <see cref="TimeSpan.Zero"/> fails at once when no permit is free.
    /// </summary>
    /// <remarks>
    /// <see cref="HttpClient.Timeout"/> counts this wait too: a client whose <c>Timeout</c> is still the default 100 s
    /// gets <c>MaxWait</c> added to it, so the request keeps 100 s on the network. A <c>Timeout</c> you set yourself
    /// (to anything but 100 s), or a resilience pipeline's timeouts, should be longer than <c>MaxWait</c>.
    /// </remarks>
    public TimeSpan MaxWait { get; set; } = TimeSpan.FromMinutes(2);

    /// <summary>
    /// How many times a request answered 429 anyway (other applications share the organisation's quota) is
    /// sent again, each time after <c>Retry-After</c> or, without one, a whole <see cref="Window"/>. By default, 3.
    /// 0 returns the first 429.
    /// </summary>
    public int MaxRateLimitedResends { get; set; } = 3;
}
