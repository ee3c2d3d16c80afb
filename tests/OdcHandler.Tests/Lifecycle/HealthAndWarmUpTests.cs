using System.Net;
using Microsoft.Extensions.DependencyInjection;
using Microsoft.Extensions.Diagnostics.HealthChecks;
using Microsoft.Extensions.Hosting;
using Microsoft.Extensions.Logging;
using OdcHandler.Tests.Fakes;

namespace OdcHandler.Tests.Lifecycle;

public sealed class HealthAndWarmUpTests : IDisposable
{
    private readonly FakeIdentityServer _server = new();
    private readonly CapturingLoggerProvider _logs = new();

    public void Dispose() => _logs.Dispose();

    private ServiceProvider BuildWithHealthCheck(Action<OdcAuthenticationOptions>? configure = null) =>
        OdcTestHost.Build(_server, configure, services: s => s.AddHealthChecks().AddOdcAuthentication(OdcTestHost.ClientName));

    private static async Task<HealthReportEntry> CheckAsync(IServiceProvider services) =>
        (await services.GetRequiredService<HealthCheckService>().CheckHealthAsync()).Entries[$"odc-{OdcTestHost.ClientName}"];

    [Fact]
    public async Task HealthCheck_AcquiresWhenNothingIsCachedAndThenAnswersFromTheCache()
    {
        using var services = BuildWithHealthCheck();

        for (var poll = 0; poll < 60; poll++)
        {
            Assert.Equal(HealthStatus.Healthy, (await CheckAsync(services)).Status);
            _server.Time.Advance(TimeSpan.FromSeconds(1));
        }

        Assert.Equal(1, _server.TokenRequests);
    }

    [Fact]
    public async Task HealthCheck_RefreshFailingWhileTokenValid_IsDegraded()
    {
        using var services = BuildWithHealthCheck(o => o.RefreshJitter = TimeSpan.Zero);
        (await services.Client().GetAsync("users")).Dispose();
        _server.TokenResponder = _ => new HttpResponseMessage(HttpStatusCode.BadGateway);
        _server.Time.Advance(TimeSpan.FromHours(12) - TimeSpan.FromMinutes(2));
        (await services.Client().GetAsync("users")).Dispose();
        await services.GetRequiredService<OdcHandler.Internal.OdcAccessTokenProvider>().GetManager(OdcTestHost.ClientName).WhenFetchSettled();

        var entry = await CheckAsync(services);

        Assert.Equal(HealthStatus.Degraded, entry.Status);
        Assert.Contains("HTTP 502", entry.Description, StringComparison.Ordinal);
        Assert.Equal(502, entry.Data["status"]);
    }

    [Fact]
    public async Task HealthCheck_PolledEverySecondDuringAnOutage_IsUnhealthyWithTheOAuthErrorAndCallsOncePerCooldown()
    {
        _server.TokenResponder = _ => FakeIdentityServer.Json(HttpStatusCode.Unauthorized, """{"error":"invalid_client"}""");
        using var services = BuildWithHealthCheck(o => o.FailureCooldown = TimeSpan.FromSeconds(5));

        for (var poll = 0; poll < 60; poll++)
        {
            var entry = await CheckAsync(services);
            Assert.Equal(HealthStatus.Unhealthy, entry.Status);
            Assert.Equal("invalid_client", entry.Data["error"]);
            _server.Time.Advance(TimeSpan.FromSeconds(1));
        }

        Assert.Equal(12, _server.TokenRequests);
    }

    [Fact]
    public async Task HealthCheck_NoCooldown_StillReportsTheOAuthErrorOfTheLastFailureUntilASuccess()
    {
        _server.TokenResponder = _ => FakeIdentityServer.Json(HttpStatusCode.Unauthorized, """{"error":"invalid_client","error_description":"Invalid client credentials"}""");
        using var services = BuildWithHealthCheck(o => o.FailureCooldown = TimeSpan.Zero);

        for (var poll = 0; poll < 3; poll++)
        {
            var entry = await CheckAsync(services);
            Assert.Equal(HealthStatus.Unhealthy, entry.Status);
            Assert.Equal("invalid_client", entry.Data["error"]);
            Assert.Equal(401, entry.Data["status"]);
            Assert.Contains("invalid_client", entry.Description, StringComparison.Ordinal);
        }

        // Without a cool-down every poll asks again; the error reported is always the latest one.
        Assert.Equal(3, _server.TokenRequests);
        _server.TokenResponder = _ => new HttpResponseMessage(HttpStatusCode.BadGateway);
        var outage = await CheckAsync(services);
        Assert.Equal(HealthStatus.Unhealthy, outage.Status);
        Assert.Equal(502, outage.Data["status"]);
        Assert.False(outage.Data.ContainsKey("error"));

        _server.TokenResponder = null;
        var recovered = await CheckAsync(services);
        Assert.Equal(HealthStatus.Healthy, recovered.Status);
        Assert.Empty(recovered.Data);
    }

    private IHost BuildHost(Action<OdcAuthenticationOptions> configure)
    {
        var builder = Host.CreateApplicationBuilder();
        builder.Logging.AddProvider(_logs);
        builder.Services.AddSingleton<TimeProvider>(_server.Time);
        builder.Services.AddHttpClient(OdcAuthenticationDefaults.BackchannelHttpClientName).ConfigurePrimaryHttpMessageHandler(_server.CreateHandler);
        builder.Services.AddHttpClient("warm").AddOdcAuthentication(o =>
        {
            o.PortalDomain = "myorg.outsystems.dev";
            o.ClientId = FakeIdentityServer.ClientId;
            o.ClientSecret = FakeIdentityServer.Secret;
            configure(o);
        });
        builder.Services.PostConfigure<Microsoft.Extensions.Http.Resilience.HttpStandardResilienceOptions>(
            OdcAuthenticationDefaults.BackchannelResiliencePipelineName, o => o.Retry.Delay = TimeSpan.Zero);
        return builder.Build();
    }

    [Theory]
    [InlineData(true)]
    [InlineData(false)]
    public async Task WarmUpOnStart_AcquiresTheTokenAtStartAndAFailureIsOnlyLogged(bool identityAccepts)
    {
        if (!identityAccepts)
        {
            _server.TokenResponder = _ => FakeIdentityServer.Json(HttpStatusCode.Unauthorized, """{"error":"invalid_client"}""");
        }

        using var host = BuildHost(o => o.WarmUpOnStart = true);

        await host.StartAsync();
        var manager = host.Services.GetRequiredService<OdcHandler.Internal.OdcAccessTokenProvider>().GetManager("warm");
        await manager.WhenFetchSettled();

        Assert.Equal(1, _server.TokenRequests);
        Assert.Equal(identityAccepts, manager.Current is not null);
        Assert.Equal(!identityAccepts, _logs.Entries.Any(e => e.EventId.Name == "WarmUpFailed"));
        await host.StopAsync();
    }

    [Fact]
    public async Task RequireTokenOnStart_FailsTheStartWithTheReason()
    {
        _server.TokenResponder = _ => FakeIdentityServer.Json(HttpStatusCode.Unauthorized, """{"error":"invalid_client"}""");
        using var host = BuildHost(o => o.RequireTokenOnStart = true);

        var failure = await Assert.ThrowsAsync<OdcAuthenticationException>(() => host.StartAsync());

        Assert.Equal("invalid_client", failure.Error);
    }

    [Fact]
    public async Task NoWarmUp_NothingIsFetchedAtStart()
    {
        using var host = BuildHost(_ => { });

        await host.StartAsync();

        Assert.Equal(0, _server.TokenRequests);
        await host.StopAsync();
    }
}
