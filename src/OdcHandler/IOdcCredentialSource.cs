namespace OdcHandler;

/// <summary>
/// Supplies the API client credentials of each ODC organisation, for an HttpClient registered with
/// <c>AddOdcAuthentication&lt;TCredentialSource&gt;()</c>, which serves many organisations at once.
/// </summary>
/// <remarks>
/// <para>
/// Each ODC organisation has its own portal host, so the organisation of a request is its address's authority:
/// a request to <c>https://acme.outsystems.dev/api/…</c> is acme's. OdcHandler asks the source the first time
/// it sees a host, and again whenever that organisation needs a new token (its token expired, or the API
/// rejected it), so a secret rotated in the application's store is used by the next token request. It never
/// asks on a request that finds a usable token cached.
/// </para>
/// <para>
/// Registered as a singleton (unless the application registered the implementation
/// itself); it must be thread-safe. It may read a database or a secret store; concurrent requests for one
/// host share one call.
/// </para>
/// </remarks>
public interface IOdcCredentialSource
{
    /// <summary>Gets the credentials of the organisation whose portal is <paramref name="portalHost"/>.</summary>
    /// <param name="portalHost">
    /// The request address's authority, lower case: the host, and the port when it is not the scheme's default,
    /// for example <c>acme.outsystems.dev</c> or <c>127.0.0.1:5001</c>.
    /// </param>
    /// <param name="cancellationToken">Cancelled when the lookup takes longer than the backchannel timeout or the application stops.</param>
    /// <returns>
    /// The organisation's credentials, or <see langword="null"/> when the application knows no organisation at that
    /// host: the request is then not sent and the caller gets an <see cref="OdcAuthenticationException"/> naming the host.
    /// </returns>
    ValueTask<OdcOrganizationCredentials?> GetCredentialsAsync(string portalHost, CancellationToken cancellationToken);
}
