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
        Assert.True(_server.Time.GetUtcNow() - started <= TimeSpan.FromSeconds(30), $"the acquisition took {_server.Time.GetUtcNow() - started}");
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
}
