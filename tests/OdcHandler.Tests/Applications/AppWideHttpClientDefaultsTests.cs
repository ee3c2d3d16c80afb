using System.Net;
using Microsoft.Extensions.DependencyInjection;
using OdcHandler.Tests.Fakes;

namespace OdcHandler.Tests.Applications;

/// <summary>
/// The .NET Aspire service defaults put a standard resilience handler and service discovery on every HttpClient
/// (<c>ConfigureHttpClientDefaults</c>). The identity calls keep their own budget all the same.
/// </summary>
public sealed class AppWideHttpClientDefaultsTests
{
    private readonly FakeIdentityServer _server = new();

    /// <summary>What the Aspire template's <c>AddServiceDefaults</c> does to HttpClients.</summary>
    private static void AspireServiceDefaults(IServiceCollection services)
    {
        // A host provides IConfiguration; service discovery reads its endpoints from it.
        services.AddSingleton<Microsoft.Extensions.Configuration.IConfiguration>(new Microsoft.Extensions.Configuration.ConfigurationBuilder().Build());
        services.AddServiceDiscovery();
        services.ConfigureHttpClientDefaults(http =>
        {
            http.AddStandardResilienceHandler();
            http.AddServiceDiscovery();
        });
    }

    [Fact]
    public async Task TokenEndpointDown_OneAcquisitionKeepsTheLibrarysOwnBudget()
    {
        _server.TokenResponder = _ => new HttpResponseMessage(HttpStatusCode.ServiceUnavailable);
        using var services = OdcTestHost.Build(_server, services: AspireServiceDefaults, waitBetweenRetries: true);
        var started = _server.Time.GetUtcNow();

        var failure = await Assert.ThrowsAsync<OdcAuthenticationException>(() => services.GetRequiredService<IOdcAccessTokenProvider>()
            .GetTokenAsync(OdcTestHost.ClientName).AsTask().DriveAsync(_server.Time));

        Assert.Equal(HttpStatusCode.ServiceUnavailable, failure.StatusCode);
        Assert.Equal(OdcTestHost.BackchannelAttempts, _server.TokenRequests);
        // BackchannelTimeout (30 s), plus at most one step of the driver that moves fake time.
        Assert.True(_server.Time.GetUtcNow() - started <= TimeSpan.FromSeconds(30.25), $"the acquisition took {_server.Time.GetUtcNow() - started}");
    }

    [Fact]
    public async Task AspireDefaults_TokensStillFlow()
    {
        using var services = OdcTestHost.Build(_server, services: AspireServiceDefaults);

        // Fake time stands still: the application's own attempt timeout (10 s on the same TimeProvider) cannot fire
        // however slowly a busy machine runs this.
        using var response = await services.Client().GetAsync("users");

        Assert.Equal(HttpStatusCode.OK, response.StatusCode);
        Assert.Equal(1, _server.TokenRequests);
        Assert.Equal(1, _server.DiscoveryRequests);
    }

    [Theory]
    [InlineData(true)]
    [InlineData(false)]
    public async Task WrongSecret_ApplicationRetryDoesNotRetryIt_InvalidClientAtOnceAfterOneTokenRequest(bool onEveryClient)
    {
        _server.TokenResponder = _ => FakeIdentityServer.Json(HttpStatusCode.Unauthorized, """{"error":"invalid_client","error_description":"Invalid client credentials"}""");
        using var services = OdcTestHost.Build(_server, services: collection =>
        {
            if (onEveryClient)
            {
                AspireServiceDefaults(collection);
            }
            else
            {
                collection.AddHttpClient(OdcTestHost.ClientName).AddStandardResilienceHandler();
            }
        });

        // Fake time stands still: an application retry would wait on it for ever, so the caller only gets its answer
        // (well inside the real-time guard) if nothing retries. No fake time passes, so "under 1 s" holds exactly.
        var call = services.Client().GetAsync("users");
        var finished = await Task.WhenAny(call, Task.Delay(TimeSpan.FromSeconds(30)));

        Assert.True(finished == call, "the application's pipeline waited to retry the token failure");
        var failure = await Assert.ThrowsAsync<OdcAuthenticationException>(() => call);
        Assert.Equal("invalid_client", failure.Error);
        Assert.Equal(1, _server.TokenRequests);
        Assert.Equal(0, _server.ApiRequests);
    }

    [Fact]
    public async Task IdentityOutage_ApplicationRetryCostsNoSecondAcquisition()
    {
        _server.TokenResponder = _ => new HttpResponseMessage(HttpStatusCode.ServiceUnavailable);
        using var services = OdcTestHost.Build(
            _server,
            o => o.FailureCooldown = TimeSpan.FromSeconds(5),
            services: collection => collection.AddHttpClient(OdcTestHost.ClientName).AddStandardResilienceHandler(o =>
            {
                // Generous per-attempt time, so what is measured is the retry predicate, not the attempt timeout.
                o.Retry.MaxRetryAttempts = 6;
                o.AttemptTimeout.Timeout = TimeSpan.FromMinutes(1);
                o.CircuitBreaker.SamplingDuration = TimeSpan.FromMinutes(2);
                o.TotalRequestTimeout.Timeout = TimeSpan.FromMinutes(5);
            }),
            waitBetweenRetries: true);

        var failure = await Assert.ThrowsAsync<OdcAuthenticationException>(() => services.Client().GetAsync("users").DriveAsync(_server.Time));

        Assert.Equal(HttpStatusCode.ServiceUnavailable, failure.StatusCode);
        Assert.Equal(OdcTestHost.BackchannelAttempts, _server.TokenRequests);
        Assert.Equal(0, _server.ApiRequests);
    }

    /// <summary>
    /// OdcHandler's settings are found by client name, and the defaults builder has none: called there they would apply
    /// to no client, silently. Each is refused at registration, saying where to call it instead.
    /// </summary>
    [Theory]
    [InlineData("AddOdcAuthentication")]
    [InlineData("AddOdcAuthentication(configuration)")]
    [InlineData("AddOdcAuthentication<TCredentialSource>")]
    [InlineData("AddOdcRateLimiting")]
    [InlineData("AddOdcRateLimiting(configure)")]
    [InlineData("AddOdcRateLimiting(configuration)")]
    [InlineData("UseRateLimitStore")]
    [InlineData("UseSharedTokenStore")]
    public void CalledInConfigureHttpClientDefaults_IsRefusedSayingWhereToCallIt(string method)
    {
        var services = new ServiceCollection();
        var configuration = new Microsoft.Extensions.Configuration.ConfigurationBuilder().Build();
        Action<IHttpClientBuilder> add = method switch
        {
            "AddOdcAuthentication" => b => b.AddOdcAuthentication(o => o.PortalDomain = "acme.outsystems.dev"),
            "AddOdcAuthentication(configuration)" => b => b.AddOdcAuthentication(configuration),
            "AddOdcAuthentication<TCredentialSource>" => b => b.AddOdcAuthentication<NoOrganizations>(),
            "AddOdcRateLimiting" => b => b.AddOdcRateLimiting(),
            "AddOdcRateLimiting(configure)" => b => b.AddOdcRateLimiting(o => o.DomainLimits["identity"] = 2),
            "AddOdcRateLimiting(configuration)" => b => b.AddOdcRateLimiting(configuration),
            "UseRateLimitStore" => b => b.UseRateLimitStore(_ => throw new InvalidOperationException("not created")),
            _ => b => b.UseSharedTokenStore(_ => throw new InvalidOperationException("not created")),
        };

        var failure = Assert.Throws<InvalidOperationException>(() => services.ConfigureHttpClientDefaults(add));

        Assert.Contains("ConfigureHttpClientDefaults", failure.Message, StringComparison.Ordinal);
        Assert.Contains("AddHttpClient", failure.Message, StringComparison.Ordinal);
        Assert.StartsWith(method.Split('(')[0], failure.Message, StringComparison.Ordinal);
    }

    private sealed class NoOrganizations : IOdcCredentialSource
    {
        public ValueTask<OdcOrganizationCredentials?> GetCredentialsAsync(string portalHost, CancellationToken cancellationToken) =>
            ValueTask.FromResult<OdcOrganizationCredentials?>(null);
    }
}
