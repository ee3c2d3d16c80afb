namespace OdcHandler;

/// <summary>
/// Gets the cached access token of a named ODC client outside an <see cref="HttpClient"/>, for example to
/// print it for curl, and invalidates it.
/// </summary>
/// <remarks>
/// Registered as a singleton by <c>AddOdcAuthentication</c>. The client name is the name of the
/// <see cref="HttpClient"/> that <c>AddOdcAuthentication</c> was called on (for a typed client, the
/// type's name). It shares its cache with <see cref="BearerTokenHandler"/>.
/// </remarks>
public interface IOdcAccessTokenProvider
{
    /// <summary>
    /// Gets the client's token: the cached one while it is valid, otherwise a new one from the identity service.
    /// </summary>
    /// <param name="clientName">The name of the HttpClient <c>AddOdcAuthentication</c> was called on.</param>
    /// <param name="cancellationToken">Stops this caller's wait; a fetch that other callers share goes on.</param>
    /// <returns>A token that has not expired.</returns>
    /// <exception cref="OdcAuthenticationException">No token could be had.</exception>
    /// <exception cref="InvalidOperationException">No client of that name was registered.</exception>
    ValueTask<OdcAccessToken> GetTokenAsync(string clientName, CancellationToken cancellationToken = default);

    /// <summary>
    /// Drops the client's cached token so that the next request fetches a new one.
    /// </summary>
    /// <param name="clientName">The name of the HttpClient <c>AddOdcAuthentication</c> was called on.</param>
    /// <param name="rejectedToken">
    /// The token an API rejected: it is dropped only if it is still the cached one, so many concurrent
    /// rejections cause one refresh. <see langword="null"/> drops whatever is cached.
    /// </param>
    /// <exception cref="InvalidOperationException">No client of that name was registered.</exception>
    void InvalidateToken(string clientName, OdcAccessToken? rejectedToken = null);
}
