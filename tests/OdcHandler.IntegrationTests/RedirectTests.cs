using System.Net;
using Microsoft.Extensions.DependencyInjection;

namespace OdcHandler.IntegrationTests;

/// <summary>
/// Redirects over real sockets: SocketsHttpHandler follows them (or, on a client with AddOdcRateLimiting, the limiter
/// does, so that each hop takes its own permits), drops the Authorization header on the way and rewrites the request's
/// address. Whatever the target answers, the token goes only where it may.
/// </summary>
public sealed class RedirectTests(LongLivedTokensServer fixture) : IClassFixture<LongLivedTokensServer>
{
    private readonly OpenIddictOdcServer _server = fixture.Server;

    private static HttpClient Client(ServiceProvider services) =>
        services.GetRequiredService<IHttpClientFactory>().CreateClient(OpenIddictOdcServer.ClientName);

    [Theory]
    [InlineData(false, false)]
    [InlineData(true, false)]
    [InlineData(false, true)]
    [InlineData(true, true)]
    public async Task RedirectToAnotherOriginThatAnswers401_IsReturnedWithoutDroppingOrResendingTheToken(bool synchronous, bool rateLimited)
    {
        await using var other = await RecordingServer.StartAsync();
        other.StatusCode = (int)HttpStatusCode.Unauthorized;
        _server.RedirectTarget = new Uri(other.Address, "/steal");
        using var services = _server.CreateClientServices(client: rateLimited ? b => b.AddOdcRateLimiting() : null);
        var client = Client(services);
        (await client.GetAsync("identity/v1/users")).Dispose();
        var tokensBefore = _server.TokenRequests;

        using var response = synchronous
            ? client.Send(new HttpRequestMessage(HttpMethod.Get, "redirect"))
            : await client.GetAsync("redirect");

        Assert.Equal(HttpStatusCode.Unauthorized, response.StatusCode);
        Assert.Equal([null], other.Authorizations);
        using var after = await client.GetAsync("identity/v1/users");
        Assert.Equal(HttpStatusCode.OK, after.StatusCode);
        Assert.Equal(tokensBefore, _server.TokenRequests);
    }

    [Theory]
    [InlineData(false, false)]
    [InlineData(true, false)]
    [InlineData(false, true)]
    [InlineData(true, true)]
    public async Task RedirectWithinThePortal_CostsNoTokenRequestPerCall(bool synchronous, bool rateLimited)
    {
        _server.RedirectTarget = new Uri(_server.Portal, "/api/identity/v1/users");
        using var services = _server.CreateClientServices(client: rateLimited ? b => b.AddOdcRateLimiting() : null);
        var client = Client(services);
        var tokensBefore = _server.TokenRequests;

        for (var i = 0; i < 3; i++)
        {
            using var response = synchronous
                ? client.Send(new HttpRequestMessage(HttpMethod.Get, "redirect"))
                : await client.GetAsync("redirect");
            Assert.Equal(HttpStatusCode.OK, response.StatusCode);
            Assert.Equal("/api/identity/v1/users", response.RequestMessage!.RequestUri!.AbsolutePath);
        }

        Assert.Equal(1, _server.TokenRequests - tokensBefore);
    }
}
