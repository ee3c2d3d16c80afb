using System.Net;
using Microsoft.Extensions.Configuration;
using Microsoft.Extensions.DependencyInjection;
using Microsoft.Extensions.Options;
using OdcHandler.Tests.Fakes;

namespace OdcHandler.Tests;

public sealed class OdcAuthenticationHttpClientBuilderExtensionsTests
{
    private readonly FakeIdentityServer _server = new();

    [Fact]
    public async Task AddOdcAuthentication_FromConfiguration_BindsEverySetting()
    {
        var configuration = new ConfigurationBuilder().AddInMemoryCollection(new Dictionary<string, string?>
        {
            ["Odc:PortalDomain"] = "myorg.outsystems.dev",
            ["Odc:ClientId"] = FakeIdentityServer.ClientId,
            ["Odc:ClientSecret"] = FakeIdentityServer.Secret,
            ["Odc:RefreshBeforeExpiry"] = "00:10:00",
            ["Odc:CredentialStyle"] = "BasicAuthHeader",
            ["Odc:AdditionalApiHosts:0"] = "api.example.com",
        }).Build();
        var services = new ServiceCollection();
        services.AddSingleton<TimeProvider>(_server.Time);
        services.AddHttpClient(OdcAuthenticationDefaults.BackchannelHttpClientName).ConfigurePrimaryHttpMessageHandler(_server.CreateHandler);
        services.AddHttpClient("configured").AddOdcAuthentication(configuration.GetSection("Odc")).ConfigurePrimaryHttpMessageHandler(_server.CreateHandler);
        using var provider = services.BuildServiceProvider();

        var options = provider.GetRequiredService<IOptionsMonitor<OdcAuthenticationOptions>>().Get("configured");
        Assert.Equal(TimeSpan.FromMinutes(10), options.RefreshBeforeExpiry);
        Assert.Equal(ClientCredentialStyle.BasicAuthHeader, options.CredentialStyle);
        Assert.Equal(["api.example.com"], options.AdditionalApiHosts);

        using var response = await provider.Client("configured").GetAsync(new Uri("https://myorg.outsystems.dev/api/users"));
        Assert.Equal(HttpStatusCode.OK, response.StatusCode);
        Assert.StartsWith("Basic ", Assert.Single(_server.Requests, r => r.Uri == _server.TokenEndpoint).Authorization, StringComparison.Ordinal);
    }

    [Fact]
    public void AddOdcAuthentication_InvalidOptions_FailsWhenTheClientIsCreatedWithAMessageNamingTheSetting()
    {
        var services = new ServiceCollection();
        services.AddHttpClient("broken").AddOdcAuthentication(o => o.PortalDomain = "myorg.outsystems.dev");
        using var provider = services.BuildServiceProvider();

        var failure = Assert.Throws<OptionsValidationException>(() => provider.Client("broken"));

        Assert.Contains("HttpClient 'broken'", failure.Message, StringComparison.Ordinal);
        Assert.Contains("ClientId is required", failure.Message, StringComparison.Ordinal);
    }

    [Fact]
    public async Task TwoNamedClients_KeepSeparateTokensAndCredentials()
    {
        var other = new FakeIdentityServer("https://other.outsystems.dev");
        using var services = OdcTestHost.Build(_server, services: collection =>
        {
            collection.AddHttpClient("second", c => c.BaseAddress = new Uri("https://other.outsystems.dev/api/"))
                .AddOdcAuthentication(o =>
                {
                    o.PortalDomain = "other.outsystems.dev";
                    o.ClientId = "second-client";
                    o.ClientSecret = "second-secret";
                })
                .ConfigurePrimaryHttpMessageHandler(other.CreateHandler);
            collection.AddHttpClient(OdcAuthenticationDefaults.BackchannelHttpClientName)
                .ConfigurePrimaryHttpMessageHandler(() => new FakeHttpMessageHandler((request, ct) =>
                    request.RequestUri!.Host == "other.outsystems.dev"
                        ? new HttpMessageInvoker(other.CreateHandler()).SendAsync(request, ct)
                        : new HttpMessageInvoker(_server.CreateHandler()).SendAsync(request, ct)));
        });

        (await services.Client().GetAsync("users")).Dispose();
        (await services.Client("second").GetAsync("users")).Dispose();
        (await services.Client().GetAsync(new Uri("https://other.outsystems.dev/api/users"))).Dispose();

        Assert.Equal(1, _server.TokenRequests);
        Assert.Equal(1, other.TokenRequests);
        Assert.Contains("client_id=second-client", Assert.Single(other.Requests, r => r.Uri == other.TokenEndpoint).Body, StringComparison.Ordinal);
        Assert.Equal("Bearer token-1", Assert.Single(other.Requests, r => r.Uri.AbsolutePath == "/api/users").Authorization);
        Assert.Equal("Bearer token-1", _server.Requests.Single(r => r.Uri.AbsolutePath == "/api/users" && r.Uri.Host == "myorg.outsystems.dev").Authorization);

        // The first client's token never goes to the second organisation's host.
        Assert.Null(_server.Requests.Single(r => r.Uri.Host == "other.outsystems.dev").Authorization);
    }

    [Fact]
    public async Task BackchannelCircuitBreaker_OnePortalsOutageOpensItOnlyForThatPortal()
    {
        var other = new FakeIdentityServer("https://other.outsystems.dev");
        _server.TokenResponder = _ => new HttpResponseMessage(HttpStatusCode.ServiceUnavailable);
        using var services = OdcTestHost.Build(_server, o => o.FailureCooldown = TimeSpan.Zero, services: collection =>
        {
            collection.AddHttpClient("second").AddOdcAuthentication(o =>
            {
                o.PortalDomain = "other.outsystems.dev";
                o.ClientId = "second-client";
                o.ClientSecret = "second-secret";
            });
            collection.AddHttpClient(OdcAuthenticationDefaults.BackchannelHttpClientName)
                .ConfigurePrimaryHttpMessageHandler(() => new FakeHttpMessageHandler((request, ct) =>
                    request.RequestUri!.Host == "other.outsystems.dev"
                        ? new HttpMessageInvoker(other.CreateHandler()).SendAsync(request, ct)
                        : new HttpMessageInvoker(_server.CreateHandler()).SendAsync(request, ct)));
        });
        var tokens = services.GetRequiredService<IOdcAccessTokenProvider>();

        // The standard breaker opens at 10% failures over at least 100 calls in 30 s: 30 acquisitions of 4 tries.
        OdcAuthenticationException? failure = null;
        for (var attempt = 0; attempt < 30 && failure?.InnerException is not Polly.CircuitBreaker.BrokenCircuitException; attempt++)
        {
            failure = await Assert.ThrowsAsync<OdcAuthenticationException>(() => tokens.GetTokenAsync(OdcTestHost.ClientName).AsTask());
        }

        Assert.IsType<Polly.CircuitBreaker.BrokenCircuitException>(failure!.InnerException, exactMatch: false);
        var callsToTheFailingPortal = _server.TokenRequests;

        var token = await tokens.GetTokenAsync("second");

        Assert.Equal("token-1", token.Value);
        Assert.Equal(1, other.TokenRequests);
        Assert.Equal(callsToTheFailingPortal, _server.TokenRequests);
        await Assert.ThrowsAsync<OdcAuthenticationException>(() => tokens.GetTokenAsync(OdcTestHost.ClientName).AsTask());
        Assert.Equal(callsToTheFailingPortal, _server.TokenRequests);
    }

    [Fact]
    public async Task AddOdcAuthentication_CalledTwice_AddsOneHandler()
    {
        using var services = OdcTestHost.Build(_server, services: collection =>
            collection.AddHttpClient(OdcTestHost.ClientName).AddOdcAuthentication(_ => { }));

        using var response = await services.Client().GetAsync("users");

        Assert.Equal(HttpStatusCode.OK, response.StatusCode);
        Assert.Equal("Bearer token-1", Assert.Single(_server.Requests, r => r.Uri.AbsolutePath == "/api/users").Authorization);
    }

    [Fact]
    public void BackchannelPrimaryHandler_DoesNotFollowRedirects()
    {
        var services = new ServiceCollection();
        services.AddHttpClient("x").AddOdcAuthentication(o =>
        {
            o.PortalDomain = "myorg.outsystems.dev";
            o.ClientId = "id";
            o.ClientSecret = "s";
        });
        using var provider = services.BuildServiceProvider();

        var handler = provider.GetRequiredService<IHttpMessageHandlerFactory>().CreateHandler(OdcAuthenticationDefaults.BackchannelHttpClientName);
        while (handler is DelegatingHandler delegating)
        {
            handler = delegating.InnerHandler!;
        }

        var primary = Assert.IsAssignableFrom<HttpMessageHandler>(handler);
        Assert.False(primary switch
        {
            SocketsHttpHandler sockets => sockets.AllowAutoRedirect,
            HttpClientHandler client => client.AllowAutoRedirect,
            _ => true,
        });
    }

    [Fact]
    public async Task OuterRetryHandler_EveryAttemptCarriesACurrentTokenAndSeesNoneItself()
    {
        var seenByOuter = new List<string?>();
        var apiCalls = 0;
        _server.ApiResponder = request => Task.FromResult(FakeIdentityServer.Json(
            Interlocked.Increment(ref apiCalls) == 1 ? HttpStatusCode.ServiceUnavailable : HttpStatusCode.OK, "{}"));
        using var services = OdcTestHost.Build(_server, services: collection =>
            collection.AddHttpClient(OdcTestHost.ClientName).AddHttpMessageHandler(() => new RetryOnceHandler(seenByOuter)));

        using var response = await services.Client().GetAsync("users");

        Assert.Equal(HttpStatusCode.OK, response.StatusCode);
        Assert.Equal(["Bearer token-1", "Bearer token-1"], _server.Requests.Where(r => r.Uri.AbsolutePath == "/api/users").Select(r => r.Authorization));
        Assert.Equal([null, null], seenByOuter);
    }

    [Fact]
    public async Task BearerTokenHandler_ComposedByHand_UsesTheRegisteredOptionsAndCache()
    {
        using var services = OdcTestHost.Build(_server);
        using var handler = ActivatorUtilities.CreateInstance<BearerTokenHandler>(services, OdcTestHost.ClientName);
        handler.InnerHandler = _server.CreateHandler();
        using var client = new HttpClient(handler);

        using var response = await client.GetAsync(new Uri("https://myorg.outsystems.dev/api/users"));
        (await services.Client().GetAsync("users")).Dispose();

        Assert.Equal(HttpStatusCode.OK, response.StatusCode);
        Assert.Equal(1, _server.TokenRequests);
    }

    private sealed class RetryOnceHandler(List<string?> seen) : DelegatingHandler
    {
        protected override async Task<HttpResponseMessage> SendAsync(HttpRequestMessage request, CancellationToken cancellationToken)
        {
            seen.Add(request.Headers.Authorization?.ToString());
            var response = await base.SendAsync(request, cancellationToken);
            if (response.StatusCode != HttpStatusCode.ServiceUnavailable)
            {
                return response;
            }

            response.Dispose();
            seen.Add(request.Headers.Authorization?.ToString());
            return await base.SendAsync(request, cancellationToken);
        }
    }
}
