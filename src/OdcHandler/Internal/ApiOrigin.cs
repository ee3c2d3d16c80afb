namespace OdcHandler.Internal;

/// <summary>A scheme, host and port that may receive the access token.</summary>
/// <remarks>
/// The scheme is part of the origin: <c>http://host:443</c> is not <c>https://host</c>, whatever the port says.
/// Hosts are compared in their IDN (punycode) form, which <see cref="Uri"/> caches; <see cref="Uri.Host"/>
/// is rebuilt on every read, which shows on a path that runs for every request.
/// </remarks>
internal readonly record struct ApiOrigin(string Scheme, string IdnHost, int Port)
{
    public static ApiOrigin Of(Uri uri) => new(uri.Scheme, uri.IdnHost, uri.Port);

    public bool Matches(Uri uri) =>
        uri.Port == Port
        && string.Equals(uri.Scheme, Scheme, StringComparison.Ordinal)
        && string.Equals(uri.IdnHost, IdnHost, StringComparison.OrdinalIgnoreCase);

    public override string ToString() => $"{Scheme}://{IdnHost}:{Port}";
}
