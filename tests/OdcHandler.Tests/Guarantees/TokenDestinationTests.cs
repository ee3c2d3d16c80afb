using System.Net;
using Microsoft.Extensions.DependencyInjection;
using Microsoft.Extensions.Options;
using OdcHandler.Internal;
using OdcHandler.Tests.Fakes;

namespace OdcHandler.Tests.Guarantees;

/// <summary>Who may receive the token and the secret: scheme, host and port, and every client's own checks.</summary>
public sealed class TokenDestinationTests
{
    private readonly FakeIdentityServer _server = new();

    [Theory]
    [InlineData("http://myorg.outsystems.dev:443/api/users")]
    [InlineData("http://myorg.outsystems.dev/api/users")]
    public async Task SendAsync_PlainHttpToThePortalHost_GetsNoTokenEvenWithRequireHttpsOff(string address)
    {
        using var services = OdcTestHost.Build(_server, o => o.RequireHttps = false);

        using var response = await services.Client().GetAsync(new Uri(address));

        var sent = Assert.Single(_server.Requests, r => r.Uri.AbsolutePath == "/api/users");
        Assert.Null(sent.Authorization);
        Assert.Equal(0, _server.TokenRequests);
    }

    [Fact]
    public async Task SendAsync_HttpsPortal_StillGetsTheTokenWithRequireHttpsOff()
    {
        using var services = OdcTestHost.Build(_server, o => o.RequireHttps = false);

        using var response = await services.Client().GetAsync(new Uri("https://myorg.outsystems.dev/api/users"));

        Assert.Equal(HttpStatusCode.OK, response.StatusCode);
        Assert.Equal("Bearer token-1", Assert.Single(_server.Requests, r => r.Uri.AbsolutePath == "/api/users").Authorization);
    }

    [Theory]
    [InlineData(true)]
    [InlineData(false)]
    public async Task SharedDiscovery_NamingAPlainHttpTokenEndpoint_NeverGetsTheStrictClientsSecret(bool lenientFirst)
    {
        // Same portal, same credentials: only RequireHttps differs, so nothing but each client's own check stands between
        // the strict client's secret and the plain-http endpoint that the shared discovery document names.
        // Plain http on the portal's own host and port: the lenient client's checks all pass.
        _server.TokenEndpoint = new Uri($"http://myorg.outsystems.dev:443/auth/realms/{FakeIdentityServer.Realm}/protocol/openid-connect/token");
        using var services = OdcTestHost.Build(_server, services: collection =>
            collection.AddHttpClient("lenient", c => c.BaseAddress = new Uri(_server.PortalUri, "/api/"))
                .AddOdcAuthentication(o =>
                {
                    o.PortalDomain = _server.PortalUri.ToString();
                    o.ClientId = FakeIdentityServer.ClientId;
                    o.ClientSecret = FakeIdentityServer.Secret;
                    o.RequireHttps = false;
                })
                .ConfigurePrimaryHttpMessageHandler(_server.CreateHandler));

        if (lenientFirst)
        {
            using var lenient = await services.Client("lenient").GetAsync("users");
            Assert.Equal(HttpStatusCode.OK, lenient.StatusCode);
        }

        var tokenRequestsBefore = _server.TokenRequests;
        var failure = await Assert.ThrowsAsync<OdcAuthenticationException>(() => services.Client().GetAsync("users"));

        Assert.Contains("plain-http token endpoint", failure.Message, StringComparison.Ordinal);
        Assert.Equal(tokenRequestsBefore, _server.TokenRequests);
        if (!lenientFirst)
        {
            using var lenient = await services.Client("lenient").GetAsync("users");
            Assert.Equal(HttpStatusCode.OK, lenient.StatusCode);
            Assert.Equal(1, _server.TokenRequests);
        }

        // Every POST of a secret went to the lenient client's acquisitions only: one.
        Assert.Equal(1, _server.Requests.Count(r => r.Method == HttpMethod.Post && r.Uri == _server.TokenEndpoint));
    }

    [Fact]
    public void Validation_CredentialsInTheDiscoveryEndpoint_AreRefusedWithoutBeingEchoed()
    {
        var options = new OdcAuthenticationOptions
        {
            PortalDomain = "myorg.outsystems.dev",
            ClientId = "my-client",
            ClientSecret = "secret",
            DiscoveryEndpoint = new Uri("https://admin:Pw0rdInUrl@myorg.outsystems.dev/identity/.well-known/openid-configuration"),
        };

        var result = new OdcAuthenticationOptionsValidator().Validate("odc", options);

        Assert.True(result.Failed);
        Assert.Contains("DiscoveryEndpoint", result.FailureMessage, StringComparison.Ordinal);
        Assert.Contains("must not carry credentials", result.FailureMessage, StringComparison.Ordinal);
        Assert.DoesNotContain("Pw0rdInUrl", result.FailureMessage, StringComparison.Ordinal);
        Assert.DoesNotContain("admin", result.FailureMessage, StringComparison.Ordinal);
    }

    [Fact]
    public void ClientCreation_CredentialsInTheDiscoveryEndpoint_FailWithoutTheCredentialsAnywhere()
    {
        var logs = new CapturingLoggerProvider();
        using var services = OdcTestHost.Build(_server, o => o.DiscoveryEndpoint = new Uri("https://admin:Pw0rdInUrl@myorg.outsystems.dev/identity/.well-known/openid-configuration"), logs);

        var failure = Assert.Throws<OptionsValidationException>(() => services.Client());

        Assert.DoesNotContain("Pw0rdInUrl", failure.ToString(), StringComparison.Ordinal);
        Assert.DoesNotContain(logs.AllText(), line => line.Contains("Pw0rdInUrl", StringComparison.Ordinal));
        Assert.Equal(0, _server.DiscoveryRequests);
    }
}
