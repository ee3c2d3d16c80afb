using System.Diagnostics.Metrics;
using System.Net;
using Microsoft.Extensions.Configuration;
using Microsoft.Extensions.DependencyInjection;
using Microsoft.Extensions.Diagnostics.Metrics.Testing;
using Microsoft.Extensions.Options;
using OdcHandler.Internal;
using OdcHandler.Tests.Fakes;

namespace OdcHandler.Tests.Guarantees;

/// <summary>
/// A configuration reload applies to the very next request of handler chains that already exist (an
/// HttpClient held by a singleton never gets a new chain), and credentials no longer configured are let go.
/// </summary>
public sealed class OptionsReloadTests
{
    private const string NewSecret = "n3w+secret/after=rotation";

    private readonly FakeIdentityServer _server = new();
    private readonly ReloadableConfiguration _source = new();

    private ServiceProvider Build(Dictionary<string, string?> settings)
    {
        _source.Replace(settings);
        var configuration = new ConfigurationBuilder().Add(_source).Build();
        return OdcTestHost.Build(_server, services: collection =>
            collection.AddHttpClient("reloading", c => c.BaseAddress = new Uri(_server.PortalUri, "/api/"))
                .AddOdcAuthentication(configuration.GetSection("Odc"))
                .ConfigurePrimaryHttpMessageHandler(_server.CreateHandler));
    }

    private static Dictionary<string, string?> Settings(string secret = FakeIdentityServer.Secret, params (string Key, string? Value)[] more)
    {
        var settings = new Dictionary<string, string?>
        {
            ["Odc:PortalDomain"] = FakeIdentityServer.Portal,
            ["Odc:ClientId"] = FakeIdentityServer.ClientId,
            ["Odc:ClientSecret"] = secret,
        };
        foreach (var (key, value) in more)
        {
            settings["Odc:" + key] = value;
        }

        return settings;
    }

    private string? AuthorizationSentTo(string host) =>
        _server.Requests.Last(r => r.Uri.Host == host).Authorization;

    [Fact]
    public async Task Reload_HostRemovedFromAdditionalApiHosts_StopsTheTokenOnTheNextRequestOfTheSameClient()
    {
        using var services = Build(Settings(more: ("AdditionalApiHosts:0", "files.example.com")));
        var client = services.Client("reloading");
        (await client.GetAsync(new Uri("https://files.example.com/api/blob"))).Dispose();
        Assert.Equal("Bearer token-1", AuthorizationSentTo("files.example.com"));

        _source.Replace(Settings());
        (await client.GetAsync(new Uri("https://files.example.com/api/blob"))).Dispose();

        Assert.Null(AuthorizationSentTo("files.example.com"));
        using var portal = await client.GetAsync("users");
        Assert.Equal(HttpStatusCode.OK, portal.StatusCode);
        Assert.Equal(1, _server.TokenRequests);
    }

    [Fact]
    public async Task Reload_RequireHttpsTurnedOn_StopsTheTokenOverPlainHttpOnTheNextRequest()
    {
        using var services = Build(Settings(more: [("RequireHttps", "false"), ("AdditionalApiHosts:0", "files.example.com")]));
        var client = services.Client("reloading");
        (await client.GetAsync(new Uri("http://files.example.com/api/blob"))).Dispose();
        Assert.Equal("Bearer token-1", AuthorizationSentTo("files.example.com"));

        _source.Replace(Settings(more: [("RequireHttps", "true"), ("AdditionalApiHosts:0", "files.example.com")]));
        (await client.GetAsync(new Uri("http://files.example.com/api/blob"))).Dispose();

        Assert.Null(AuthorizationSentTo("files.example.com"));
    }

    [Fact]
    public async Task Reload_NewClientSecret_IsUsedByTheNextTokenRequestAndTheOldCredentialsAreReleased()
    {
        using var services = Build(Settings());
        var provider = services.GetRequiredService<OdcAccessTokenProvider>();
        var client = services.Client("reloading");
        (await client.GetAsync("users")).Dispose();
        var before = provider.GetManager("reloading");

        _source.Replace(Settings(NewSecret));

        // Released at the reload itself, before any request: its timer stops and the gauge forgets it.
        Assert.True(before.IsDisposed);
        Assert.DoesNotContain(before, provider.Managers);

        using var response = await client.GetAsync("users");
        Assert.Equal(HttpStatusCode.OK, response.StatusCode);
        var tokenRequests = _server.Requests.Where(r => r.Uri == _server.TokenEndpoint).ToList();
        Assert.Equal(2, tokenRequests.Count);
        Assert.Contains("client_secret=n3w%2Bsecret%2Fafter%3Drotation", tokenRequests[1].Body, StringComparison.Ordinal);
        Assert.Equal("Bearer token-2", _server.Requests.Last(r => r.Uri.AbsolutePath == "/api/users").Authorization);
    }

    [Fact]
    public async Task Reload_NewClientSecret_TheTimeToExpiryGaugeReportsOnlyTheLiveToken()
    {
        using var services = Build(Settings());
        var client = services.Client("reloading");
        (await client.GetAsync("users")).Dispose();
        _source.Replace(Settings(NewSecret));
        (await client.GetAsync("users")).Dispose();
        using var gauge = new MetricCollector<double>(services.GetRequiredService<IMeterFactory>(), OdcTelemetry.Name, "odc.token.time_to_expiry");

        gauge.RecordObservableInstruments();

        Assert.Equal(2, _server.TokenRequests);
        var measurement = Assert.Single(gauge.GetMeasurementSnapshot());
        Assert.Equal(43200, measurement.Value);
    }

    [Fact]
    public async Task Reload_FailureCooldownChanged_AppliesToTheNextAcquisition()
    {
        _server.TokenResponder = _ => FakeIdentityServer.Json(HttpStatusCode.BadRequest, """{"error":"invalid_client"}""");
        using var services = Build(Settings(more: ("FailureCooldown", "00:00:05")));
        var client = services.Client("reloading");
        await Assert.ThrowsAsync<OdcAuthenticationException>(() => client.GetAsync("users"));
        await Assert.ThrowsAsync<OdcAuthenticationException>(() => client.GetAsync("users"));
        Assert.Equal(1, _server.TokenRequests);

        _source.Replace(Settings(more: ("FailureCooldown", "00:00:00")));
        await Assert.ThrowsAsync<OdcAuthenticationException>(() => client.GetAsync("users"));

        Assert.Equal(2, _server.TokenRequests);
    }

    [Fact]
    public async Task Reload_InvalidOptions_FailTheNextRequestInsteadOfKeepingTheOldHosts()
    {
        using var services = Build(Settings(more: ("AdditionalApiHosts:0", "files.example.com")));
        var client = services.Client("reloading");
        (await client.GetAsync("users")).Dispose();

        // The options monitor itself throws the validation failure into whoever raised the reload; the handler must not
        // carry on with the hosts of the last valid options.
        var reload = Record.Exception(() => _source.Replace(Settings(more: [("AdditionalApiHosts:0", "files.example.com"), ("ClientId", "")])));
        Assert.IsType<OptionsValidationException>(reload?.InnerException?.InnerException ?? reload);
        var failure = await Assert.ThrowsAsync<OptionsValidationException>(() => client.GetAsync(new Uri("https://files.example.com/api/blob")));

        Assert.Contains("ClientId is required", failure.Message, StringComparison.Ordinal);
        Assert.DoesNotContain(_server.Requests, r => r.Uri.Host == "files.example.com");

        _source.Replace(Settings());
        using var recovered = await client.GetAsync("users");
        Assert.Equal(HttpStatusCode.OK, recovered.StatusCode);
    }
}
