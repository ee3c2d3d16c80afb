namespace OdcHandler.Internal;

/// <summary>
/// What makes two clients share one token: the same discovery document, client id, credential style,
/// secret and https requirement. Two clients that differ in any of these never share or overwrite each
/// other's token, and a lenient client's fetch never serves a strict one.
/// </summary>
internal readonly record struct TokenCacheKey(Uri DiscoveryEndpoint, string ClientId, ClientCredentialStyle CredentialStyle, string SecretFingerprint, bool RequireHttps)
{
    public override string ToString() => $"{DiscoveryEndpoint} {ClientId} {CredentialStyle}";

    /// <summary>An opaque name for this key in a shared store: neither the client id nor anything of the secret shows.</summary>
    public string SharedName() => Convert.ToHexString(System.Security.Cryptography.SHA256.HashData(
        System.Text.Encoding.UTF8.GetBytes($"{DiscoveryEndpoint}\n{ClientId}\n{CredentialStyle}\n{SecretFingerprint}"))).ToLowerInvariant();
}
