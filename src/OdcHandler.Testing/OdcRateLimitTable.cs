namespace OdcHandler.Testing;

/// <summary>
/// Rate limits per organization as ODC publishes them: a pool per API domain shared by all its endpoints,
/// and smaller caps on some endpoints that count against their domain's pool too. A limit of N means never
/// more than N accepted requests in any 60 seconds; a refused request (429) uses up nothing.
/// </summary>
/// <remarks>
/// <see cref="Published"/> is ODC's table and what <see cref="FakeOdcServer.RateLimits"/> enforces by default.
/// Paths not under a listed domain (such as <c>organization/v1</c>, whose limit ODC does not list) are not limited.
/// </remarks>
public sealed class OdcRateLimitTable
{
    /// <summary>Creates a table.</summary>
    /// <param name="domains">The domains' pools; no base path may belong to two of them.</param>
    /// <param name="endpoints">The endpoint caps.</param>
    /// <exception cref="ArgumentException">A base path is listed twice.</exception>
    public OdcRateLimitTable(IEnumerable<OdcDomainRateLimit> domains, IEnumerable<OdcEndpointRateLimit> endpoints)
    {
        ArgumentNullException.ThrowIfNull(domains);
        ArgumentNullException.ThrowIfNull(endpoints);
        Domains = [.. domains];
        Endpoints = [.. endpoints];
        var prefixes = Domains.SelectMany(d => d.PathPrefixes).ToList();
        if (prefixes.Distinct(StringComparer.OrdinalIgnoreCase).Count() != prefixes.Count)
        {
            throw new ArgumentException("A base path belongs to two domains; each path must have one pool.", nameof(domains));
        }
    }

    /// <summary>
    /// ODC's published limits: 100 requests a minute for each API domain, 10 for environment configurations;
    /// 5 a minute for <c>POST identity/v1/users/bulk</c>; 10 for each POST of builds, deployments and external
    /// libraries, <c>POST asset-repository/v1/assets</c> and <c>POST code-quality/v1/code-analyses</c>; 5 for
    /// each POST and 10 for each PATCH of native mobile builds.
    /// </summary>
    public static OdcRateLimitTable Published { get; } = new(
        [
            new OdcDomainRateLimit("identity", 100, "identity/v1"),
            new OdcDomainRateLimit("portfolios", 100, "portfolios/v1", "portfolios/v2"),
            new OdcDomainRateLimit("builds", 100, "builds/v1"),
            new OdcDomainRateLimit("deployments", 100, "deployments/v1"),
            new OdcDomainRateLimit("asset-repository", 100, "asset-repository/v1"),
            new OdcDomainRateLimit("asset-configurations", 100, "asset-configurations/v1"),
            new OdcDomainRateLimit("dependency-management", 100, "dependency-management/v1"),
            new OdcDomainRateLimit("environment-configurations", 10, "environment-configurations/v1"),
            new OdcDomainRateLimit("external-libraries", 100, "external-libraries/v1"),
            new OdcDomainRateLimit("code-quality", 100, "code-quality/v1"),
            new OdcDomainRateLimit("native-mobile-builds", 100, "native-mobile-builds/v1"),
            new OdcDomainRateLimit("subscription", 100, "subscription/v1"),
        ],
        [
            new OdcEndpointRateLimit(HttpMethod.Post, "identity/v1/users/bulk", 5),
            new OdcEndpointRateLimit(HttpMethod.Post, "builds/v1/**", 10),
            new OdcEndpointRateLimit(HttpMethod.Post, "deployments/v1/**", 10),
            new OdcEndpointRateLimit(HttpMethod.Post, "asset-repository/v1/assets", 10),
            new OdcEndpointRateLimit(HttpMethod.Post, "external-libraries/v1/**", 10),
            new OdcEndpointRateLimit(HttpMethod.Post, "code-quality/v1/code-analyses", 10),
            new OdcEndpointRateLimit(HttpMethod.Post, "native-mobile-builds/v1/**", 5),
            new OdcEndpointRateLimit(HttpMethod.Patch, "native-mobile-builds/v1/**", 10),
        ]);

    /// <summary>The length of the window every limit is counted over: 60 seconds.</summary>
    public static TimeSpan Window { get; } = TimeSpan.FromMinutes(1);

    /// <summary>The domains' pools.</summary>
    public IReadOnlyList<OdcDomainRateLimit> Domains { get; }

    /// <summary>The endpoint caps.</summary>
    public IReadOnlyList<OdcEndpointRateLimit> Endpoints { get; }

    /// <summary>The domain whose pool a request path draws on, if any.</summary>
    /// <param name="path">The request's path: absolute (<c>/api/identity/v1/users</c>) or relative to <c>/api/</c>.</param>
    /// <returns>The domain with the longest matching base path, or <see langword="null"/> when the path is not limited.</returns>
    public OdcDomainRateLimit? FindDomain(string path) => FindDomain(ApiSegments(path));

    /// <summary>The endpoint caps that apply to a request, besides its domain's pool.</summary>
    /// <param name="method">The request's method.</param>
    /// <param name="path">The request's path: absolute (<c>/api/identity/v1/users/bulk</c>) or relative to <c>/api/</c>.</param>
    /// <returns>The caps, often none.</returns>
    public IEnumerable<OdcEndpointRateLimit> FindEndpointLimits(HttpMethod method, string path)
    {
        ArgumentNullException.ThrowIfNull(method);
        return FindEndpointLimits(method, ApiSegments(path));
    }

    internal OdcDomainRateLimit? FindDomain(string[] path)
    {
        OdcDomainRateLimit? best = null;
        var bestLength = 0;
        foreach (var domain in Domains)
        {
            foreach (var prefix in domain.PrefixSegments)
            {
                if (prefix.Length > bestLength && prefix.Length <= path.Length && prefix.AsSpan().SequenceEqual(path.AsSpan(0, prefix.Length), StringComparer.OrdinalIgnoreCase))
                {
                    best = domain;
                    bestLength = prefix.Length;
                }
            }
        }

        return best;
    }

    internal IEnumerable<OdcEndpointRateLimit> FindEndpointLimits(HttpMethod method, string[] path) =>
        Endpoints.Where(endpoint => endpoint.Matches(method, path));

    internal static string[] ApiSegments(string path)
    {
        ArgumentNullException.ThrowIfNull(path);
        var trimmed = path.Trim('/');
        if (path.StartsWith("/api/", StringComparison.OrdinalIgnoreCase))
        {
            trimmed = trimmed["api/".Length..];
        }

        return trimmed.Split('/');
    }

    internal static bool SegmentMatches(string template, string segment) =>
        (template.Length > 2 && template[0] == '{' && template[^1] == '}' && segment.Length > 0)
        || template.Equals(segment, StringComparison.OrdinalIgnoreCase);

    internal static void ThrowIfNotRelative(string? path, string parameterName)
    {
        if (string.IsNullOrWhiteSpace(path) || path.StartsWith('/') || path.StartsWith("api/", StringComparison.OrdinalIgnoreCase))
        {
            throw new ArgumentException($"'{path}' must be a path relative to /api/, such as \"identity/v1\".", parameterName);
        }
    }
}
