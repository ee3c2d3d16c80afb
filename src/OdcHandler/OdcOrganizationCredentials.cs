namespace OdcHandler;

/// <summary>The API client credentials of one ODC organisation, as an <see cref="IOdcCredentialSource"/> returns them.</summary>
/// <remarks><see cref="ToString"/> never shows the secret.</remarks>
public sealed class OdcOrganizationCredentials
{
    /// <summary>Creates the credentials of an API client created in the organisation's ODC Portal.</summary>
    /// <param name="clientId">The API client's id.</param>
    /// <param name="clientSecret">The API client's secret, unencoded; it is form-encoded exactly once.</param>
    /// <exception cref="ArgumentException">A value is null, empty or white space.</exception>
    public OdcOrganizationCredentials(string clientId, string clientSecret)
    {
        ArgumentException.ThrowIfNullOrWhiteSpace(clientId);
        ArgumentException.ThrowIfNullOrWhiteSpace(clientSecret);
        ClientId = clientId;
        ClientSecret = clientSecret;
    }

    /// <summary>The API client's id.</summary>
    public string ClientId { get; }

    /// <summary>The API client's secret, unencoded. Never logged or shown by <see cref="ToString"/>.</summary>
    public string ClientSecret { get; }

    /// <summary>How the credentials are sent to the token endpoint. By default, <see cref="ClientCredentialStyle.FormBody"/>.</summary>
    public ClientCredentialStyle CredentialStyle { get; init; } = ClientCredentialStyle.FormBody;

    /// <summary>
    /// Other hosts (<c>host</c> or <c>host:port</c>, https) of this organisation that may receive its token when a request
    /// to its portal is redirected there. By default, none. A request addressed to one of them directly is looked up
    /// under that host.
    /// </summary>
    public IReadOnlyList<string> AdditionalApiHosts { get; init; } = [];

    /// <inheritdoc />
    public override string ToString() =>
        $"OdcOrganizationCredentials {{ ClientId = {ClientId}, ClientSecret = ***, CredentialStyle = {CredentialStyle}, AdditionalApiHosts = [{string.Join(", ", AdditionalApiHosts)}] }}";

    /// <summary>Whether both name the same client, secret, style and hosts: a source that answers the same again keeps the token.</summary>
    internal bool SameAs(OdcOrganizationCredentials other) =>
        string.Equals(ClientId, other.ClientId, StringComparison.Ordinal)
        && string.Equals(ClientSecret, other.ClientSecret, StringComparison.Ordinal)
        && CredentialStyle == other.CredentialStyle
        && AdditionalApiHosts.SequenceEqual(other.AdditionalApiHosts, StringComparer.OrdinalIgnoreCase);
}
