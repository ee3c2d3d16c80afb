namespace OdcHandler.Testing;

/// <summary>Answers every request from a <see cref="FakeOdcServer"/>, in memory.</summary>
internal sealed class FakeOdcHttpMessageHandler(FakeOdcServer server) : HttpMessageHandler
{
    protected override Task<HttpResponseMessage> SendAsync(HttpRequestMessage request, CancellationToken cancellationToken) =>
        server.HandleAsync(request, cancellationToken);

    protected override HttpResponseMessage Send(HttpRequestMessage request, CancellationToken cancellationToken) =>
        server.HandleAsync(request, cancellationToken).GetAwaiter().GetResult();
}
