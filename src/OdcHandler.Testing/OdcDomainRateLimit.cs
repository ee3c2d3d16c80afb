namespace OdcHandler.Testing;

/// <summary>
/// One API domain's pool of requests: every endpoint under its base paths shares at most
/// <see cref="PermitsPerMinute"/> requests in any 60 seconds, per organization.
/// </summary>
public sealed class OdcDomainRateLimit
{
    /// <summary>Describes a domain's pool.</summary>
    /// <param name="name">A short name for counters and messages, for example <c>identity</c>.</param>
    /// <param name="permitsPerMinute">Requests allowed in any 60 seconds; 0 refuses every request.</param>
    /// <param name="pathPrefixes">
    /// The domain's base paths relative to <c>/api/</c>, without a leading slash, for example <c>identity/v1</c>;
    /// several when versions share one pool (<c>portfolios/v1</c> and <c>portfolios/v2</c>).
    /// </param>
    /// <exception cref="ArgumentException">The name is blank, no base path is given, or a base path is blank or starts with <c>/</c> or <c>api/</c>.</exception>
    /// <exception cref="ArgumentOutOfRangeException"><paramref name="permitsPerMinute"/> is negative.</exception>
    public OdcDomainRateLimit(string name, int permitsPerMinute, params string[] pathPrefixes)
    {
        ArgumentException.ThrowIfNullOrWhiteSpace(name);
        ArgumentOutOfRangeException.ThrowIfNegative(permitsPerMinute);
        ArgumentNullException.ThrowIfNull(pathPrefixes);
        if (pathPrefixes.Length == 0)
        {
            throw new ArgumentException("Give at least one base path, such as \"identity/v1\".", nameof(pathPrefixes));
        }

        foreach (var prefix in pathPrefixes)
        {
            OdcRateLimitTable.ThrowIfNotRelative(prefix, nameof(pathPrefixes));
        }

        Name = name;
        PermitsPerMinute = permitsPerMinute;
        PathPrefixes = [.. pathPrefixes.Select(p => p.TrimEnd('/'))];
        PrefixSegments = [.. PathPrefixes.Select(p => p.Split('/'))];
    }

    /// <summary>The domain's short name, as counters and 429 messages show it.</summary>
    public string Name { get; }

    /// <summary>Requests allowed in any 60 seconds, for all of the domain's endpoints together.</summary>
    public int PermitsPerMinute { get; }

    /// <summary>The domain's base paths relative to <c>/api/</c>, for example <c>identity/v1</c>.</summary>
    public IReadOnlyList<string> PathPrefixes { get; }

    internal string[][] PrefixSegments { get; }

    /// <inheritdoc />
    public override string ToString() => $"{Name} ({string.Join(", ", PathPrefixes)}): {PermitsPerMinute}/min";
}
