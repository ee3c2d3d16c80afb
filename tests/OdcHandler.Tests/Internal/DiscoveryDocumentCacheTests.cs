using System.Net;
using Microsoft.Extensions.DependencyInjection;
using OdcHandler.Tests.Fakes;

namespace OdcHandler.Tests.Internal;

public sealed class DiscoveryDocumentCacheTests
{
    private readonly FakeIdentityServer _server = new();

    private async Task<OdcAuthenticationException> FailureAsync(Action<OdcAuthenticationOptions>? configure = null)
    {
        using var services = OdcTestHost.Build(_server, configure);
        return await Assert.ThrowsAsync<OdcAuthenticationException>(
            () => services.GetRequiredService<IOdcAccessTokenProvider>().GetTokenAsync(OdcTestHost.ClientName).AsTask());
    }

    [Fact]
    public async Task TokenEndpointOnAnotherHost_IsRefusedAndNoSecretIsSent()
    {
        _server.TokenEndpoint = new Uri("https://evil.example.com/token");

        var failure = await FailureAsync();

        Assert.Contains("token endpoint on another host (https://evil.example.com)", failure.Message, StringComparison.Ordinal);
        Assert.DoesNotContain(_server.Requests, r => r.Uri.Host == "evil.example.com");
        Assert.Equal(0, _server.TokenRequests);
    }

    [Fact]
    public async Task PlainHttpTokenEndpoint_IsRefused()
    {
        _server.TokenEndpoint = new Uri("http://myorg.outsystems.dev/auth/realms/x/protocol/openid-connect/token");

        var failure = await FailureAsync();

        Assert.Contains("plain-http token endpoint", failure.Message, StringComparison.Ordinal);
        Assert.Equal(0, _server.TokenRequests);
    }

    [Fact]
    public async Task NotFound_PointsAtThePortalDomainSetting()
    {
        _server.DiscoveryResponder = _ => new HttpResponseMessage(HttpStatusCode.NotFound);

        var failure = await FailureAsync();

        Assert.Contains("answered HTTP 404", failure.Message, StringComparison.Ordinal);
        Assert.Contains("Check PortalDomain", failure.Message, StringComparison.Ordinal);
        Assert.Equal(HttpStatusCode.NotFound, failure.StatusCode);
    }

    [Fact]
    public async Task DocumentWithoutTokenEndpoint_SaysSo()
    {
        _server.DiscoveryResponder = _ => FakeIdentityServer.Json(HttpStatusCode.OK, """{"issuer":"https://myorg.outsystems.dev/auth/realms/x"}""");

        var failure = await FailureAsync();

        Assert.Contains("has no \"token_endpoint\"", failure.Message, StringComparison.Ordinal);
    }

    [Fact]
    public async Task IssuerNotMatchingTheDiscoveryAddress_IsAccepted()
    {
        using var services = OdcTestHost.Build(_server);

        var token = await services.GetRequiredService<IOdcAccessTokenProvider>().GetTokenAsync(OdcTestHost.ClientName);

        Assert.Equal("token-1", token.Value);
    }

    [Fact]
    public async Task Document_IsCachedForDiscoveryCacheDurationThenFetchedAgain()
    {
        _server.TokenLifetimeSeconds = 60;
        using var services = OdcTestHost.Build(_server, o => o.DiscoveryCacheDuration = TimeSpan.FromMinutes(10));
        var provider = services.GetRequiredService<IOdcAccessTokenProvider>();

        for (var minute = 0; minute < 10; minute++)
        {
            await provider.GetTokenAsync(OdcTestHost.ClientName);
            _server.Time.Advance(TimeSpan.FromMinutes(1));
        }

        Assert.Equal(1, _server.DiscoveryRequests);
        await provider.GetTokenAsync(OdcTestHost.ClientName);
        Assert.Equal(2, _server.DiscoveryRequests);
    }

    [Fact]
    public async Task TokenEndpointGone_ForgetsTheDocumentSoTheNextAttemptRediscovers()
    {
        _server.TokenResponder = _ => new HttpResponseMessage(HttpStatusCode.NotFound);
        using var services = OdcTestHost.Build(_server, o => o.FailureCooldown = TimeSpan.Zero);
        var provider = services.GetRequiredService<IOdcAccessTokenProvider>();
        await Assert.ThrowsAsync<OdcAuthenticationException>(() => provider.GetTokenAsync(OdcTestHost.ClientName).AsTask());

        _server.TokenResponder = null;
        await provider.GetTokenAsync(OdcTestHost.ClientName);

        Assert.Equal(2, _server.DiscoveryRequests);
    }

    [Fact]
    public async Task DiscoveryFailure_IsRetriedAfterTheCooldown()
    {
        _server.DiscoveryResponder = _ => new HttpResponseMessage(HttpStatusCode.BadGateway);
        using var services = OdcTestHost.Build(_server, o => o.FailureCooldown = TimeSpan.FromSeconds(5));
        var provider = services.GetRequiredService<IOdcAccessTokenProvider>();
        await Assert.ThrowsAsync<OdcAuthenticationException>(() => provider.GetTokenAsync(OdcTestHost.ClientName).AsTask());
        await Assert.ThrowsAsync<OdcAuthenticationException>(() => provider.GetTokenAsync(OdcTestHost.ClientName).AsTask());
        Assert.Equal(OdcTestHost.BackchannelAttempts, _server.DiscoveryRequests);

        _server.DiscoveryResponder = null;
        _server.Time.Advance(TimeSpan.FromSeconds(5));
        var token = await provider.GetTokenAsync(OdcTestHost.ClientName);

        Assert.Equal("token-1", token.Value);
        Assert.Equal(OdcTestHost.BackchannelAttempts + 1, _server.DiscoveryRequests);
    }

    [Theory]
    [MemberData(nameof(TokenEndpointClientTests.Encodings), MemberType = typeof(TokenEndpointClientTests))]
    public async Task DocumentWithByteOrderMarkOrCharset_IsReadNormally(bool byteOrderMark, string contentType)
    {
        _server.DiscoveryResponder = _ => TokenEndpointClientTests.Encoded(
            HttpStatusCode.OK, $$"""{"issuer":"x","token_endpoint":"{{_server.TokenEndpoint}}"}""", byteOrderMark, contentType);
        using var services = OdcTestHost.Build(_server);

        var token = await services.GetRequiredService<IOdcAccessTokenProvider>().GetTokenAsync(OdcTestHost.ClientName);

        Assert.Equal("token-1", token.Value);
        Assert.Equal(1, _server.TokenRequests);
    }
}
