namespace OdcHandler.Testing;

/// <summary>
/// A cap on one endpoint (a method and a path template), or on each endpoint of a method under a base path,
/// smaller than its domain's pool. Requests it lets through count against the domain's pool too.
/// </summary>
public sealed class OdcEndpointRateLimit
{
    private const string EachEndpointSuffix = "/**";

    /// <summary>Describes an endpoint cap.</summary>
    /// <param name="method">The HTTP method it applies to.</param>
    /// <param name="pathTemplate">
    /// The path relative to <c>/api/</c>, without a leading slash: either one endpoint's template, with
    /// <c>{name}</c> for a segment that varies (<c>identity/v1/users/bulk</c>), or a base path followed by
    /// <c>/**</c> (<c>builds/v1/**</c>) for "each endpoint of this method under it, each with its own cap".
    /// </param>
    /// <param name="permitsPerMinute">Requests allowed in any 60 seconds; 0 refuses every request.</param>
    /// <exception cref="ArgumentException">The template is blank, starts with <c>/</c> or <c>api/</c>, or has <c>**</c> other than as its last segment.</exception>
    /// <exception cref="ArgumentOutOfRangeException"><paramref name="permitsPerMinute"/> is negative.</exception>
    public OdcEndpointRateLimit(HttpMethod method, string pathTemplate, int permitsPerMinute)
    {
        ArgumentNullException.ThrowIfNull(method);
        OdcRateLimitTable.ThrowIfNotRelative(pathTemplate, nameof(pathTemplate));
        ArgumentOutOfRangeException.ThrowIfNegative(permitsPerMinute);
        var each = pathTemplate.EndsWith(EachEndpointSuffix, StringComparison.Ordinal);
        var fixedPart = each ? pathTemplate[..^EachEndpointSuffix.Length] : pathTemplate.TrimEnd('/');
        if (fixedPart.Length == 0 || fixedPart.Contains('*', StringComparison.Ordinal))
        {
            throw new ArgumentException($"'{pathTemplate}' is not a path template: use \"identity/v1/users/bulk\", \"…/{{key}}\" or \"builds/v1/**\" (** only at the end).", nameof(pathTemplate));
        }

        Method = method;
        PathTemplate = each ? pathTemplate : fixedPart;
        PermitsPerMinute = permitsPerMinute;
        AppliesToEachEndpoint = each;
        Segments = fixedPart.Split('/');
    }

    /// <summary>The HTTP method it applies to.</summary>
    public HttpMethod Method { get; }

    /// <summary>The path template relative to <c>/api/</c>; ending in <c>/**</c> when it caps each endpoint under a base path.</summary>
    public string PathTemplate { get; }

    /// <summary>Requests allowed in any 60 seconds, per endpoint.</summary>
    public int PermitsPerMinute { get; }

    /// <summary>
    /// Whether the cap applies to each endpoint under a base path separately (the template ends in <c>/**</c>),
    /// rather than to the one endpoint the template names.
    /// </summary>
    /// <remarks>
    /// Which requests are "one endpoint" then depends on the endpoint's own template (path parameters do not
    /// make another endpoint). <see cref="FakeOdcServer"/> uses the template of the route that answers the request.
    /// </remarks>
    public bool AppliesToEachEndpoint { get; }

    internal string[] Segments { get; }

    internal bool Matches(HttpMethod method, string[] path)
    {
        if (method != Method || (AppliesToEachEndpoint ? path.Length <= Segments.Length : path.Length != Segments.Length))
        {
            return false;
        }

        for (var i = 0; i < Segments.Length; i++)
        {
            if (!OdcRateLimitTable.SegmentMatches(Segments[i], path[i]))
            {
                return false;
            }
        }

        return true;
    }

    /// <inheritdoc />
    public override string ToString() => $"{Method} {PathTemplate}: {PermitsPerMinute}/min{(AppliesToEachEndpoint ? " each" : string.Empty)}";
}
