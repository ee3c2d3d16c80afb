namespace OdcHandler;

/// <summary>An access token as an <see cref="IOdcSharedTokenStore"/> keeps it.</summary>
public sealed class OdcSharedToken
{
    /// <summary>Creates a shared token.</summary>
    /// <param name="accessToken">The bearer token.</param>
    /// <param name="expiresAt">When it expires, on the clock of the instance that creates this value.</param>
    /// <param name="lifetime">How long the identity service said it lives; the reader plans its refresh from it.</param>
    /// <exception cref="ArgumentNullException"><paramref name="accessToken"/> is <see langword="null"/>.</exception>
    public OdcSharedToken(string accessToken, DateTimeOffset expiresAt, TimeSpan lifetime)
    {
        ArgumentNullException.ThrowIfNull(accessToken);
        AccessToken = accessToken;
        ExpiresAt = expiresAt;
        Lifetime = lifetime;
    }

    /// <summary>The bearer token. A secret: store it encrypted, never log it.</summary>
    public string AccessToken { get; }

    /// <summary>When the token expires, on the clock of the instance that created this value (its <see cref="TimeProvider"/>).</summary>
    public DateTimeOffset ExpiresAt { get; }

    /// <summary>How long the identity service said the token lives.</summary>
    public TimeSpan Lifetime { get; }

    /// <summary>Describes the token without its value.</summary>
    /// <returns>A description.</returns>
    public override string ToString() => $"OdcSharedToken {{ AccessToken = ***, ExpiresAt = {ExpiresAt:O}, Lifetime = {Lifetime} }}";
}
