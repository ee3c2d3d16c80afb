namespace OdcHandler;

/// <summary>
/// An access token for the ODC APIs and the moment it expires.
/// </summary>
/// <remarks>
/// Immutable. <see cref="ToString"/> never shows <see cref="Value"/>.
/// </remarks>
public sealed class OdcAccessToken
{
    /// <summary>Creates a token.</summary>
    /// <param name="value">The access token.</param>
    /// <param name="expiresAt">When it expires.</param>
    /// <exception cref="ArgumentException"><paramref name="value"/> is empty or has characters a header cannot carry.</exception>
    public OdcAccessToken(string value, DateTimeOffset expiresAt)
        : this(value, expiresAt, expiresAt, TimeSpan.Zero)
    {
    }

    internal OdcAccessToken(string value, DateTimeOffset expiresAt, DateTimeOffset refreshAt, TimeSpan lifetime)
    {
        ArgumentException.ThrowIfNullOrEmpty(value);
        if (!IsHeaderSafe(value))
        {
            throw new ArgumentException("An access token may hold only visible ASCII characters.", nameof(value));
        }

        Value = value;
        ExpiresAt = expiresAt;
        RefreshAt = refreshAt;
        Lifetime = lifetime;
        AuthorizationHeaderValue = "Bearer " + value;
    }

    /// <summary>The access token, to send as <c>Authorization: Bearer {Value}</c>.</summary>
    public string Value { get; }

    /// <summary>When the token expires.</summary>
    public DateTimeOffset ExpiresAt { get; }

    /// <summary>From this moment a new token is fetched in the background while this one is still used.</summary>
    internal DateTimeOffset RefreshAt { get; }

    /// <summary>The lifetime the identity service gave the token (<c>expires_in</c>); zero when not known.</summary>
    internal TimeSpan Lifetime { get; }

    /// <summary>Built once per token so that attaching it to a request allocates nothing.</summary>
    internal string AuthorizationHeaderValue { get; }

    /// <summary>Tells whether the token has expired.</summary>
    /// <param name="now">The current time.</param>
    /// <returns><see langword="true"/> from <see cref="ExpiresAt"/> on.</returns>
    public bool IsExpired(DateTimeOffset now) => now >= ExpiresAt;

    /// <summary>Describes the token without its value.</summary>
    /// <returns>The expiry, with the value redacted.</returns>
    public override string ToString() => $"OdcAccessToken {{ Value = ***, ExpiresAt = {ExpiresAt:O} }}";

    /// <summary>
    /// RFC 6750's b64token is narrower, but any visible ASCII is safe in a header; anything else
    /// (CR, LF, controls, non-ASCII) could split or corrupt the request.
    /// </summary>
    internal static bool IsHeaderSafe(string value)
    {
        foreach (var c in value)
        {
            if (c is < '!' or > '~')
            {
                return false;
            }
        }

        return true;
    }
}
