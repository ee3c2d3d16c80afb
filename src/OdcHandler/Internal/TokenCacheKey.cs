namespace OdcHandler.Internal;

/// <summary>
/// What makes two clients share one token manager: the same discovery document, client id, credential
/// style, secret and https requirement, and the same lifecycle settings. Two clients that differ in any of
/// these never share or overwrite each other's token manager: a lenient client's fetch never serves a strict
/// one, and one client's cool-down or timeout never governs another's.
/// </summary>
internal readonly record struct TokenCacheKey(
    Uri DiscoveryEndpoint, string ClientId, ClientCredentialStyle CredentialStyle, string SecretFingerprint, bool RequireHttps, TokenLifecycle Lifecycle)
{
    /// <summary>Whether both keys name the same credentials, whatever their lifecycle settings.</summary>
    public bool SameCredentials(TokenCacheKey other) => this with { Lifecycle = other.Lifecycle } == other;

    public override string ToString() => $"{DiscoveryEndpoint} {ClientId} {CredentialStyle}";

    /// <summary>An opaque name for this key in a shared store: neither the client id nor anything of the secret shows.</summary>
    public string SharedName() => Convert.ToHexString(System.Security.Cryptography.SHA256.HashData(
        System.Text.Encoding.UTF8.GetBytes($"{DiscoveryEndpoint}\n{ClientId}\n{CredentialStyle}\n{SecretFingerprint}"))).ToLowerInvariant();
}

/// <summary>The settings that govern how a manager acquires and keeps its token.</summary>
internal readonly record struct TokenLifecycle(TimeSpan FailureCooldown, TimeSpan BackchannelTimeout, TimeSpan RefreshBeforeExpiry, TimeSpan RefreshJitter, TimeSpan DiscoveryCacheDuration)
{
    public static TokenLifecycle Of(OdcAuthenticationOptions options) =>
        new(options.FailureCooldown, options.BackchannelTimeout, options.RefreshBeforeExpiry, options.RefreshJitter, options.DiscoveryCacheDuration);
}
