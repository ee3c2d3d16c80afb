namespace OdcHandler;

/// <summary>
/// Per-request settings read by <see cref="BearerTokenHandler"/>, set through <see cref="HttpRequestMessage.Options"/>.
/// </summary>
public static class OdcHttpRequestOptions
{
    /// <summary>
    /// Set to <see langword="true"/> on a request that must not be sent twice: a 401 answer is then
    /// returned to the caller (the rejected token is still dropped) instead of being retried with a fresh token.
    /// </summary>
    /// <example><c>request.Options.Set(OdcHttpRequestOptions.DisableUnauthorizedRetry, true);</c></example>
    public static readonly HttpRequestOptionsKey<bool> DisableUnauthorizedRetry = new("OdcHandler.DisableUnauthorizedRetry");
}
