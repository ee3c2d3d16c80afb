namespace OdcHandler.Internal;

/// <summary>A host and port that may receive the access token.</summary>
internal readonly record struct ApiOrigin(string Host, int Port)
{
    public bool Matches(Uri uri) => uri.Port == Port && string.Equals(uri.Host, Host, StringComparison.OrdinalIgnoreCase);
}
