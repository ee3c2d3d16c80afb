namespace OdcHandler.Internal;

/// <summary>A token as the shared store keeps it: the value, when it expires and how long it lives.</summary>
internal sealed record SharedToken(string AccessToken, DateTimeOffset ExpiresAt, TimeSpan Lifetime)
{
    public override string ToString() => $"SharedToken {{ AccessToken = ***, ExpiresAt = {ExpiresAt:O} }}";
}
