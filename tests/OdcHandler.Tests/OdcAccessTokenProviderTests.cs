using System.Net;
using Microsoft.Extensions.DependencyInjection;
using Microsoft.Extensions.Logging.Abstractions;
using Microsoft.Extensions.Options;
using NSubstitute;
using OdcHandler.Tests.Fakes;

namespace OdcHandler.Tests;

public sealed class OdcAccessTokenProviderTests
{
    private readonly FakeIdentityServer _server = new();

    [Fact]
    public async Task GetTokenAsync_SharesTheHandlersCache()
    {
        using var services = OdcTestHost.Build(_server);
        (await services.Client().GetAsync("users")).Dispose();

        var token = await services.GetRequiredService<IOdcAccessTokenProvider>().GetTokenAsync(OdcTestHost.ClientName);

        Assert.Equal("token-1", token.Value);
        Assert.Equal(1, _server.TokenRequests);
    }

    [Fact]
    public async Task InvalidateToken_OnlyDropsTheRejectedTokenIfItIsStillCached()
    {
        using var services = OdcTestHost.Build(_server);
        var provider = services.GetRequiredService<IOdcAccessTokenProvider>();
        var first = await provider.GetTokenAsync(OdcTestHost.ClientName);
        provider.InvalidateToken(OdcTestHost.ClientName, first);
        var second = await provider.GetTokenAsync(OdcTestHost.ClientName);

        provider.InvalidateToken(OdcTestHost.ClientName, first);
        var stillSecond = await provider.GetTokenAsync(OdcTestHost.ClientName);
        provider.InvalidateToken(OdcTestHost.ClientName);
        var third = await provider.GetTokenAsync(OdcTestHost.ClientName);

        Assert.Equal(["token-1", "token-2", "token-2", "token-3"], new[] { first, second, stillSecond, third }.Select(t => t.Value));
    }

    [Fact]
    public async Task GetTokenAsync_UnknownClientName_SaysHowToRegisterIt()
    {
        using var services = OdcTestHost.Build(_server);

        var failure = await Assert.ThrowsAsync<InvalidOperationException>(
            () => services.GetRequiredService<IOdcAccessTokenProvider>().GetTokenAsync("nope").AsTask());

        Assert.Contains("No ODC client named 'nope'", failure.Message, StringComparison.Ordinal);
        Assert.Contains("AddOdcAuthentication", failure.Message, StringComparison.Ordinal);
    }

    [Fact]
    public async Task BearerTokenHandler_OverASubstituteProvider_AttachesItsTokenAndInvalidatesOn401()
    {
        var provider = Substitute.For<IOdcAccessTokenProvider>();
        var rejected = new OdcAccessToken("first", DateTimeOffset.MaxValue);
        var fresh = new OdcAccessToken("second", DateTimeOffset.MaxValue);
        var handed = new Queue<OdcAccessToken>([rejected, fresh]);
#pragma warning disable CA2012 // NSubstitute configures the call; the ValueTask it returns is never consumed here.
        provider.GetTokenAsync("hand", Arg.Any<CancellationToken>()).Returns(_ => new ValueTask<OdcAccessToken>(handed.Dequeue()));
#pragma warning restore CA2012
        var options = Substitute.For<IOptionsMonitor<OdcAuthenticationOptions>>();
        options.Get("hand").Returns(new OdcAuthenticationOptions { PortalDomain = "myorg.outsystems.dev", ClientId = "id", ClientSecret = "s" });
        var seen = new List<string?>();
        var terminal = new FakeHttpMessageHandler((request, _) =>
        {
            seen.Add(request.Headers.Authorization?.ToString());
            return Task.FromResult(new HttpResponseMessage(seen.Count == 1 ? HttpStatusCode.Unauthorized : HttpStatusCode.OK));
        });
        using var handler = new BearerTokenHandler(provider, options, NullLoggerFactory.Instance, "hand") { InnerHandler = terminal };
        using var invoker = new HttpMessageInvoker(handler);

        using var response = await invoker.SendAsync(new HttpRequestMessage(HttpMethod.Get, "https://myorg.outsystems.dev/api/users"), CancellationToken.None);

        Assert.Equal(HttpStatusCode.OK, response.StatusCode);
        Assert.Equal(["Bearer first", "Bearer second"], seen);
        provider.Received(1).InvalidateToken("hand", rejected);
    }
}
