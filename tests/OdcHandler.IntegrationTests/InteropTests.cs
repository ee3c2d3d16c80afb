using System.Net;
using System.Text;
using Microsoft.Extensions.DependencyInjection;

namespace OdcHandler.IntegrationTests;

/// <summary>An OpenIddict server for the tests of one class, started once and warmed up.</summary>
public abstract class OpenIddictServerFixture(TimeSpan accessTokenLifetime) : IAsyncLifetime
{
    public OpenIddictOdcServer Server { get; private set; } = null!;

    public async Task InitializeAsync()
    {
        Server = await OpenIddictOdcServer.StartAsync(accessTokenLifetime);

        // Warm the server: its first answer pays for JIT compilation.
        using var http = new HttpClient();
        (await http.GetAsync(new Uri(Server.Portal, "/identity/.well-known/openid-configuration"))).Dispose();
    }

    public async Task DisposeAsync() => await Server.DisposeAsync();
}

/// <summary>1-hour tokens.</summary>
public sealed class LongLivedTokensServer() : OpenIddictServerFixture(TimeSpan.FromHours(1));

/// <summary>
/// OdcHandler against a real OpenID Connect server over real sockets on 127.0.0.1, with the API validating
/// tokens through OpenIddict's own validation, not our code.
/// </summary>
public sealed class InteropTests(LongLivedTokensServer fixture) : IClassFixture<LongLivedTokensServer>
{
    private readonly OpenIddictOdcServer _server = fixture.Server;

    private ServiceProvider Build(Action<OdcAuthenticationOptions>? configure = null) => _server.CreateClientServices(configure);

    private static HttpClient Client(ServiceProvider services) =>
        services.GetRequiredService<IHttpClientFactory>().CreateClient(OpenIddictOdcServer.ClientName);

    [Theory]
    [InlineData(ClientCredentialStyle.FormBody)]
    [InlineData(ClientCredentialStyle.BasicAuthHeader)]
    public async Task FullFlow_DiscoveryTokenAndManyCallsOnOneToken(ClientCredentialStyle style)
    {
        using var services = Build(o => o.CredentialStyle = style);
        var client = Client(services);
        var tokensBefore = _server.TokenRequests;

        for (var i = 0; i < 10; i++)
        {
            using var response = await client.GetAsync("identity/v1/users");
            Assert.Equal(HttpStatusCode.OK, response.StatusCode);
            Assert.Contains(OpenIddictOdcServer.ClientId, await response.Content.ReadAsStringAsync(), StringComparison.Ordinal);
        }

        Assert.Equal(1, _server.TokenRequests - tokensBefore);
    }

    [Fact]
    public async Task ColdCache_FiftyConcurrentCallersShareOneTokenRequest()
    {
        using var services = Build();
        var client = Client(services);
        var tokensBefore = _server.TokenRequests;

        var responses = await Task.WhenAll(Enumerable.Range(0, 50).Select(_ => client.GetAsync("identity/v1/users")));

        Assert.All(responses, r => Assert.Equal(HttpStatusCode.OK, r.StatusCode));
        Assert.Equal(1, _server.TokenRequests - tokensBefore);
        foreach (var response in responses)
        {
            response.Dispose();
        }
    }

    [Fact]
    public async Task TokenRejectedByTheApi_IsReplacedAndTheRequestRetriedOnceWithItsBody()
    {
        using var services = Build();
        var client = Client(services);
        (await client.GetAsync("identity/v1/users")).Dispose();
        var tokensBefore = _server.TokenRequests;
        var rejectedBefore = _server.RejectedApiRequests;
        _server.RevokeSeenTokens();

        using var response = await client.PostAsync("identity/v1/users", new StringContent("""{"name":"Grace"}""", Encoding.UTF8, "application/json"));

        Assert.Equal(HttpStatusCode.OK, response.StatusCode);
        Assert.Contains("Grace", await response.Content.ReadAsStringAsync(), StringComparison.Ordinal);
        Assert.Equal(1, _server.TokenRequests - tokensBefore);
        Assert.Equal(1, _server.RejectedApiRequests - rejectedBefore);
    }

    [Theory]
    [InlineData(ClientCredentialStyle.FormBody)]
    [InlineData(ClientCredentialStyle.BasicAuthHeader)]
    public async Task WrongSecret_IsATypedInvalidClientErrorAndNoApiCall(ClientCredentialStyle style)
    {
        using var services = Build(o =>
        {
            o.CredentialStyle = style;
            o.ClientSecret = "a+b/c=d&e%f h";
        });
        var apiBefore = _server.ApiRequests;

        var failure = await Assert.ThrowsAsync<OdcAuthenticationException>(() => Client(services).GetAsync("identity/v1/users"));

        Assert.Equal("invalid_client", failure.Error);
        Assert.DoesNotContain("a+b/c=d&e%f", failure.ToString(), StringComparison.Ordinal);
        Assert.Equal(apiBefore, _server.ApiRequests);
    }

    [Fact]
    public async Task CrossHostRedirectFromTheApi_DoesNotCarryTheToken()
    {
        await using var other = await RecordingServer.StartAsync();
        _server.RedirectTarget = new Uri(other.Address, "/steal");
        using var services = Build();

        using var response = await Client(services).GetAsync("redirect");

        Assert.Equal(HttpStatusCode.OK, response.StatusCode);
        Assert.Equal([null], other.Authorizations);
    }

    [Fact]
    public async Task RequestToAnotherLoopbackPort_IsSentWithoutTheToken()
    {
        await using var other = await RecordingServer.StartAsync();
        using var services = Build();

        using var response = await Client(services).GetAsync(new Uri(other.Address, "/api/identity/v1/users"));

        Assert.Equal([null], other.Authorizations);
    }
}
