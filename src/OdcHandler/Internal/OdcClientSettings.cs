using System.Security.Cryptography;
using System.Text;

namespace OdcHandler.Internal;

/// <summary>
/// One named client's validated options with what is derived from them, computed once.
/// </summary>
internal sealed class OdcClientSettings
{
    public OdcClientSettings(string clientName, OdcAuthenticationOptions options, string? telemetryClientId = null)
    {
        var errors = new List<string>();
        Endpoints = OdcEndpoints.TryCreate(options, errors)
            ?? throw new InvalidOperationException($"OdcAuthentication for HttpClient '{clientName}' is not valid: {string.Join(" ", errors)}");
        ClientName = clientName;
        Options = options;
        ClientId = options.ClientId ?? throw new InvalidOperationException($"OdcAuthentication for HttpClient '{clientName}': ClientId is required.");
        ClientSecret = options.ClientSecret ?? throw new InvalidOperationException($"OdcAuthentication for HttpClient '{clientName}': ClientSecret is required.");
        TelemetryClientId = telemetryClientId ?? ClientId;
        CacheKey = new TokenCacheKey(Endpoints.Discovery, ClientId, options.CredentialStyle, Fingerprint(ClientSecret), options.RequireHttps, TokenLifecycle.Of(options));
    }

    public string ClientName { get; }

    public OdcAuthenticationOptions Options { get; }

    public OdcEndpoints Endpoints { get; }

    public string ClientId { get; }

    public string ClientSecret { get; }

    /// <summary>
    /// The <c>odc.client.id</c> tag of this client's metrics: its client id, or, for the organisations of a
    /// multi-organisation client that did not opt in to per-organisation tags, one fixed value, so a thousand
    /// tenants do not make a thousand time series.
    /// </summary>
    public string TelemetryClientId { get; }

    public TokenCacheKey CacheKey { get; }

    public override string ToString() => $"OdcClientSettings {{ ClientName = {ClientName}, ClientId = {ClientId}, ClientSecret = *** }}";

    /// <summary>
    /// The secret is part of the cache identity so that a rotated secret gets its own token
    /// rather than reusing a manager that still sends the old one; only a hash is kept in the key.
    /// </summary>
    private static string Fingerprint(string secret) =>
        Convert.ToHexString(SHA256.HashData(Encoding.UTF8.GetBytes(secret)));
}
