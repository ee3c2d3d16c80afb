namespace OdcHandler.Internal;

/// <summary>A token as the token endpoint issued it.</summary>
internal sealed record TokenResponse(string AccessToken, TimeSpan Lifetime)
{
    public override string ToString() => $"TokenResponse {{ AccessToken = ***, Lifetime = {Lifetime} }}";
}
