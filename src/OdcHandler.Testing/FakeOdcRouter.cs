namespace OdcHandler.Testing;

/// <summary>
/// Sends each request to the <see cref="FakeOdcServer"/> whose portal has the request's scheme, host and port, as DNS
/// would send it to that organisation's ODC; an address no server has fails as an unknown host does.
/// </summary>
internal sealed class FakeOdcRouter : HttpMessageHandler
{
    private readonly Dictionary<string, FakeOdcServer> _servers;

    public FakeOdcRouter(IEnumerable<FakeOdcServer> servers)
    {
        _servers = new Dictionary<string, FakeOdcServer>(StringComparer.OrdinalIgnoreCase);
        foreach (var server in servers)
        {
            if (!_servers.TryAdd(Origin(server.PortalUri), server))
            {
                throw new ArgumentException($"Two fake ODC servers have the portal {Origin(server.PortalUri)}; give each organisation its own.", nameof(servers));
            }
        }
    }

    protected override Task<HttpResponseMessage> SendAsync(HttpRequestMessage request, CancellationToken cancellationToken) =>
        Find(request).HandleAsync(request, cancellationToken);

    protected override HttpResponseMessage Send(HttpRequestMessage request, CancellationToken cancellationToken) =>
        Find(request).HandleAsync(request, cancellationToken).GetAwaiter().GetResult();

    private FakeOdcServer Find(HttpRequestMessage request) =>
        request.RequestUri is { IsAbsoluteUri: true } address && _servers.TryGetValue(Origin(address), out var server)
            ? server
            : throw new HttpRequestException($"No fake ODC organisation at {(request.RequestUri is { IsAbsoluteUri: true } a ? Origin(a) : "(no absolute address)")}.");

    private static string Origin(Uri address) => address.GetLeftPart(UriPartial.Authority);
}
