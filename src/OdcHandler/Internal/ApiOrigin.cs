namespace OdcHandler.Internal;

/// <summary>A host and port that may receive the access token.</summary>
/// <remarks>
/// Hosts are compared in their IDN (punycode) form, which <see cref="Uri"/> caches; <see cref="Uri.Host"/>
/// is rebuilt on every read, which shows on a path that runs for every request.
/// </remarks>
internal readonly record struct ApiOrigin(string IdnHost, int Port)
{
    public static ApiOrigin Of(Uri uri) => new(uri.IdnHost, uri.Port);

    public bool Matches(Uri uri) => uri.Port == Port && string.Equals(uri.IdnHost, IdnHost, StringComparison.OrdinalIgnoreCase);
}
