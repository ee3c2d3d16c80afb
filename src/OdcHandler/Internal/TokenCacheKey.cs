namespace OdcHandler.Internal;

/// <summary>
/// What makes two clients share one token: the same discovery document, client id, credential style
/// and secret. Two clients that differ in any of these never share or overwrite each other's token.
/// </summary>
internal readonly record struct TokenCacheKey(Uri DiscoveryEndpoint, string ClientId, ClientCredentialStyle CredentialStyle, string SecretFingerprint)
{
    public override string ToString() => $"{DiscoveryEndpoint} {ClientId} {CredentialStyle}";
}
