using System.Diagnostics.Metrics;
using System.Net;
using Microsoft.Extensions.Configuration;
using Microsoft.Extensions.DependencyInjection;
using Microsoft.Extensions.Diagnostics.HealthChecks;
using Microsoft.Extensions.Diagnostics.Metrics.Testing;
using Microsoft.Extensions.Logging;
using OdcHandler.Internal;
using OdcHandler.Tests.Fakes;

namespace OdcHandler.Tests.Lifecycle;

/// <summary>
/// <see cref="OdcAuthenticationOptions.ClientSecretExpiresAt"/>: the date the ODC Portal shows, read from configuration
/// as users write it, reported by the health check, a daily warning and a gauge, and followed across reloads at once.
/// The fake clock starts on 2026-11-30 at 08:00 UTC.
/// </summary>
public sealed class ClientSecretExpiryTests : IDisposable
{
    private const string ClientName = "rotating";
    private const string NewSecret = "n3w+secret/after=rotation";

    private readonly FakeIdentityServer _server = new();
    private readonly ReloadableConfiguration _source = new();
    private readonly CapturingLoggerProvider _logs = new();

    public void Dispose() => _logs.Dispose();

    private ServiceProvider Build(Dictionary<string, string?> settings)
    {
        _source.Replace(settings);
        var configuration = new ConfigurationBuilder().Add(_source).Build();
        return OdcTestHost.Build(_server, logs: _logs, services: collection =>
        {
            collection.AddHttpClient(ClientName, c => c.BaseAddress = new Uri(_server.PortalUri, "/api/"))
                .AddOdcAuthentication(configuration.GetSection("Odc"))
                .ConfigurePrimaryHttpMessageHandler(_server.CreateHandler);
            collection.AddHealthChecks().AddOdcAuthentication(ClientName);
        });
    }

    private static Dictionary<string, string?> Settings(string? expiresAt, string secret = FakeIdentityServer.Secret)
    {
        var settings = new Dictionary<string, string?>
        {
            ["Odc:PortalDomain"] = FakeIdentityServer.Portal,
            ["Odc:ClientId"] = FakeIdentityServer.ClientId,
            ["Odc:ClientSecret"] = secret,
        };
        if (expiresAt is not null)
        {
            settings["Odc:ClientSecretExpiresAt"] = expiresAt;
        }

        return settings;
    }

    private static async Task<HealthReportEntry> CheckAsync(IServiceProvider services) =>
        (await services.GetRequiredService<HealthCheckService>().CheckHealthAsync()).Entries[$"odc-{ClientName}"];

    private List<CapturingLoggerProvider.LogEntry> ExpiryWarnings() =>
        _logs.Entries.Where(e => e.EventId.Id is 30 or 31).ToList();

    private static double? SecondsLeft(IServiceProvider services)
    {
        using var gauge = new MetricCollector<double>(services.GetRequiredService<IMeterFactory>(), OdcTelemetry.Name, "odc.client_secret.time_to_expiry");
        gauge.RecordObservableInstruments();
        var measurement = gauge.GetMeasurementSnapshot().SingleOrDefault(m => m.Tags["odc.client.id"] as string == FakeIdentityServer.ClientId);
        return measurement?.Value;
    }

    [Fact]
    public void ClientSecretExpiresAt_BindsFromTheDateAsTheOdcPortalShowsIt()
    {
        var configuration = new ConfigurationBuilder().AddInMemoryCollection(Settings("2027-03-01")).Build();

        var options = configuration.GetSection("Odc").Get<OdcAuthenticationOptions>()!;

        Assert.Equal(new DateOnly(2027, 3, 1), options.ClientSecretExpiresAt);
        Assert.True(new OdcAuthenticationOptionsValidator().Validate(ClientName, options).Succeeded);
    }

    [Fact]
    public async Task HealthCheck_FromFourteenDaysBefore2359Utc_IsDegradedNamingTheClientAndTheDate()
    {
        // Expires 2026-12-15 at 23:59 UTC, so the reminder period starts 2026-12-01 at 23:59 UTC.
        using var services = Build(Settings("2026-12-15"));
        (await services.Client(ClientName).GetAsync("users")).Dispose();

        var early = await CheckAsync(services);
        _server.Time.SetUtcNow(new DateTimeOffset(2026, 12, 1, 23, 58, 59, TimeSpan.Zero));
        (await services.Client(ClientName).GetAsync("users")).Dispose();
        var lastHealthySecond = await CheckAsync(services);
        _server.Time.SetUtcNow(new DateTimeOffset(2026, 12, 1, 23, 59, 0, TimeSpan.Zero));
        var reminder = await CheckAsync(services);

        Assert.Equal(HealthStatus.Healthy, early.Status);
        Assert.Equal(HealthStatus.Healthy, lastHealthySecond.Status);
        Assert.Equal(HealthStatus.Degraded, reminder.Status);
        Assert.Contains($"'{FakeIdentityServer.ClientId}'", reminder.Description, StringComparison.Ordinal);
        Assert.Contains($"'{ClientName}'", reminder.Description, StringComparison.Ordinal);
        Assert.Contains("2026-12-15", reminder.Description, StringComparison.Ordinal);
        Assert.Contains("23:59 UTC", reminder.Description, StringComparison.Ordinal);
        Assert.Equal(new DateTimeOffset(2026, 12, 15, 23, 59, 0, TimeSpan.Zero), reminder.Data["client_secret_expires_at"]);
        Assert.DoesNotContain(FakeIdentityServer.Secret, reminder.Description, StringComparison.Ordinal);
    }

    [Fact]
    public async Task HealthCheck_DatePassedWhileTokensStillCome_StaysDegradedAndAFailingAcquisitionIsUnhealthy()
    {
        // A date in the past is allowed: it only reports. Tokens still coming means the date is stale, not the secret.
        using var services = Build(Settings("2026-11-01"));

        var stillWorking = await CheckAsync(services);
        _server.RevokeAll();
        _server.TokenResponder = _ => FakeIdentityServer.Json(HttpStatusCode.Unauthorized, """{"error":"invalid_client"}""");
        services.GetRequiredService<IOdcAccessTokenProvider>().InvalidateToken(ClientName);
        var refused = await CheckAsync(services);

        Assert.Equal(HealthStatus.Degraded, stillWorking.Status);
        Assert.Contains("expired on 2026-11-01", stillWorking.Description, StringComparison.Ordinal);
        Assert.Equal(HealthStatus.Unhealthy, refused.Status);
        Assert.Equal("invalid_client", refused.Data["error"]);
        Assert.Contains("expired on 2026-11-01", refused.Description, StringComparison.Ordinal);
    }

    [Fact]
    public async Task HealthCheck_NoDateConfigured_NeverMentionsTheSecret()
    {
        using var services = Build(Settings(expiresAt: null));
        _server.Time.Advance(TimeSpan.FromDays(400));

        var entry = await CheckAsync(services);

        Assert.Equal(HealthStatus.Healthy, entry.Status);
        Assert.Empty(entry.Data);
        Assert.Null(SecondsLeft(services));
    }

    [Fact]
    public async Task Warning_LoggedOnceADayInTheReminderPeriodOnlyAndNamesTheClientAndTheDate()
    {
        // Reminder period from 2026-12-01 23:59 UTC; the clock starts 2026-11-30 08:00.
        using var services = Build(Settings("2026-12-15"));
        (await services.Client(ClientName).GetAsync("users")).Dispose();
        var beforeThePeriod = ExpiryWarnings().Count;

        // Four days in half-hour steps, with traffic and health polls: the first warning at the period's start
        // (2026-12-01 23:59), then one a day (2026-12-02 and 2026-12-03 23:59) until the clock stops on 2026-12-04 08:00.
        for (var step = 0; step < 8 * 24; step++)
        {
            _server.Time.Advance(TimeSpan.FromMinutes(30));
            if (step % 4 == 0)
            {
                (await services.Client(ClientName).GetAsync("users")).Dispose();
                await CheckAsync(services);
            }
        }

        var warnings = ExpiryWarnings();
        Assert.Equal(0, beforeThePeriod);
        Assert.Equal(3, warnings.Count);
        Assert.All(warnings, w => Assert.Equal(LogLevel.Warning, w.Level));
        Assert.All(warnings, w => Assert.Equal(30, w.EventId.Id));
        Assert.Contains(FakeIdentityServer.ClientId, warnings[0].Message, StringComparison.Ordinal);
        Assert.Contains(ClientName, warnings[0].Message, StringComparison.Ordinal);
        Assert.Contains("2026-12-15", warnings[0].Message, StringComparison.Ordinal);
        Assert.DoesNotContain(_logs.AllText(), text => text.Contains(FakeIdentityServer.Secret, StringComparison.Ordinal));
    }

    [Fact]
    public async Task Gauge_ReportsTheSecondsUntil2359UtcOnTheDate()
    {
        using var services = Build(Settings("2026-12-15"));
        (await services.Client(ClientName).GetAsync("users")).Dispose();

        var left = SecondsLeft(services);

        var expected = (new DateTimeOffset(2026, 12, 15, 23, 59, 0, TimeSpan.Zero) - _server.Time.GetUtcNow()).TotalSeconds;
        Assert.Equal(expected, left);
    }

    [Fact]
    public async Task Reload_NewSecretAndDate_HealthWarningAndGaugeFollowAtOnce()
    {
        using var services = Build(Settings("2026-12-10"));
        var client = services.Client(ClientName);
        (await client.GetAsync("users")).Dispose();
        Assert.Equal(HealthStatus.Degraded, (await CheckAsync(services)).Status);
        Assert.Single(ExpiryWarnings());

        // Rotated: a new secret that expires 90 days later. No request is sent before the checks.
        _source.Replace(Settings("2027-03-10", NewSecret));
        var afterReload = await CheckAsync(services);
        var left = SecondsLeft(services);
        _server.Time.Advance(TimeSpan.FromDays(3));
        using var response = await client.GetAsync("users");

        Assert.Equal(HealthStatus.Healthy, afterReload.Status);
        Assert.Equal((new DateTimeOffset(2027, 3, 10, 23, 59, 0, TimeSpan.Zero) - new DateTimeOffset(2026, 11, 30, 8, 0, 0, TimeSpan.Zero)).TotalSeconds, left);
        Assert.Single(ExpiryWarnings());
        Assert.Equal(HttpStatusCode.OK, response.StatusCode);
        var tokenRequests = _server.Requests.Where(r => r.Uri == _server.TokenEndpoint).ToList();
        Assert.Contains("client_secret=n3w%2Bsecret%2Fafter%3Drotation", tokenRequests[^1].Body, StringComparison.Ordinal);
    }

    [Fact]
    public async Task Reload_DateMovedIntoThePeriod_WarnsAtOnceWithoutARequest()
    {
        using var services = Build(Settings("2027-06-30"));
        (await services.Client(ClientName).GetAsync("users")).Dispose();
        Assert.Empty(ExpiryWarnings());

        _source.Replace(Settings("2026-12-05"));

        var warning = Assert.Single(ExpiryWarnings());
        Assert.Contains("2026-12-05", warning.Message, StringComparison.Ordinal);
        Assert.Equal(HealthStatus.Degraded, (await CheckAsync(services)).Status);
    }
}
