using System.Diagnostics.Metrics;
using System.Net;
using Microsoft.Extensions.DependencyInjection;
using Microsoft.Extensions.Diagnostics.HealthChecks;
using Microsoft.Extensions.Diagnostics.Metrics.Testing;
using Microsoft.Extensions.Time.Testing;
using OdcHandler.Internal;
using OdcHandler.Testing;

namespace OdcHandler.Tests.Organizations;

/// <summary>Metrics without one time series per tenant unless asked for; one health check for all tenants.</summary>
public sealed class OrganizationTelemetryTests
{
    private readonly FakeTimeProvider _time = new();
    private readonly TestCredentialSource _source = new();
    private readonly FakeOdcServer[] _orgs;
    private readonly RecordingRouter _router;

    public OrganizationTelemetryTests()
    {
        _orgs = new[] { "acme", "globex", "initech", "umbrella" }.Select(n => OrganizationsTestHost.Organization(_time, _source, n)).ToArray();
        _router = new RecordingRouter(_orgs);
    }

    [Theory]
    [InlineData(false)]
    [InlineData(true)]
    public async Task Metrics_TagTheOrganisationOnlyWhenOptedIn(bool tagOrganization)
    {
        using var services = OrganizationsTestHost.Build(_time, _source, _router, o => o.TagOrganizationInMetrics = tagOrganization);
        var meters = services.GetRequiredService<IMeterFactory>();
        using var acquisitions = new MetricCollector<long>(meters, OdcTelemetry.Name, "odc.token.acquisitions");
        using var lookups = new MetricCollector<long>(meters, OdcTelemetry.Name, "odc.token.cache.lookups");
        using var retries = new MetricCollector<long>(meters, OdcTelemetry.Name, "odc.request.unauthorized_retries");
        var client = services.Client();
        foreach (var org in _orgs)
        {
            (await client.GetAsync(org.WhoAmI())).Dispose();
            (await client.GetAsync(org.WhoAmI())).Dispose();
            org.RevokeAllTokens();
            (await client.GetAsync(org.WhoAmI())).Dispose();
        }

        var clientIds = acquisitions.GetMeasurementSnapshot().Concat(lookups.GetMeasurementSnapshot())
            .Select(m => (string)m.Tags["odc.client.id"]!).Distinct().Order().ToArray();
        var addresses = retries.GetMeasurementSnapshot().Select(m => (string)m.Tags["server.address"]!).Distinct().Order().ToArray();
        Assert.Equal(8, acquisitions.GetMeasurementSnapshot().Count);
        Assert.Equal(4, retries.GetMeasurementSnapshot().Count);
        if (tagOrganization)
        {
            Assert.Equal(["acme-client", "globex-client", "initech-client", "umbrella-client"], clientIds);
            Assert.Equal(["acme.outsystems.dev", "globex.outsystems.dev", "initech.outsystems.dev", "umbrella.outsystems.dev"], addresses);
        }
        else
        {
            Assert.Equal([OdcOrganizationCache.UntaggedOrganization], clientIds);
            Assert.Equal([OdcOrganizationCache.UntaggedOrganization], addresses);
        }
    }

    [Fact]
    public async Task HealthCheck_OneAggregate_SaysHowManyOrganisationsFailAndWhich()
    {
        using var services = OrganizationsTestHost.Build(_time, _source, _router, o => o.FailureCooldown = TimeSpan.FromMinutes(1), s => s.AddHealthChecks().AddOdcOrganizations(OrganizationsTestHost.ClientName));
        var health = services.GetRequiredService<HealthCheckService>();
        var client = services.Client();
        _orgs[1].SuspendClient("globex-client");
        _orgs[3].SuspendClient("umbrella-client");
        foreach (var org in _orgs)
        {
            try
            {
                (await client.GetAsync(org.WhoAmI())).Dispose();
            }
            catch (OdcAuthenticationException)
            {
                // Two of them; the check reports it.
            }
        }

        var report = await health.CheckHealthAsync();
        var tokenRequests = _orgs.Sum(o => o.TokenRequests);
        var again = await health.CheckHealthAsync();

        var entry = Assert.Single(report.Entries);
        Assert.Equal($"odc-organizations-{OrganizationsTestHost.ClientName}", entry.Key);
        Assert.Equal(HealthStatus.Degraded, entry.Value.Status);
        Assert.Equal(4, entry.Value.Data["organizations"]);
        Assert.Equal(2, entry.Value.Data["failing"]);
        Assert.Equal(["globex.outsystems.dev", "umbrella.outsystems.dev"], (string[])entry.Value.Data["failing_hosts"]);
        Assert.Contains("2 of 4", entry.Value.Description, StringComparison.Ordinal);
        Assert.Equal(tokenRequests, _orgs.Sum(o => o.TokenRequests)); // polling it never fetches
        Assert.Equal(HealthStatus.Degraded, again.Status);

        foreach (var org in _orgs)
        {
            org.SuspendClient($"{org.PortalUri.Host.Split('.')[0]}-client");
            org.RevokeAllTokens();
            try
            {
                (await client.GetAsync(org.WhoAmI())).Dispose();
            }
            catch (OdcAuthenticationException)
            {
                // All of them now.
            }
        }

        var down = await health.CheckHealthAsync();
        Assert.Equal(HealthStatus.Unhealthy, down.Status);
        Assert.Equal(4, down.Entries.Single().Value.Data["failing"]);
    }

    [Fact]
    public void Registration_SingleAndMultiOrganisationOnOneClient_IsRefused()
    {
        var services = new ServiceCollection();
        var builder = services.AddHttpClient("both").AddOdcAuthentication(o => o.PortalDomain = "acme.outsystems.dev");

        var error = Assert.Throws<InvalidOperationException>(() => builder.AddOdcAuthentication<TestCredentialSource>());

        Assert.Contains("'both'", error.Message, StringComparison.Ordinal);
    }

    [Fact]
    public void OrganisationsOptions_OutOfRange_FailWithOneLinePerProblem()
    {
        var result = new OdcOrganizationsOptionsValidator().Validate("orgs", new OdcOrganizationsOptions { SizeLimit = 0, FailureCooldown = TimeSpan.FromHours(1) });

        Assert.True(result.Failed);
        Assert.Contains(result.Failures!, f => f.StartsWith("OdcOrganizations for HttpClient 'orgs': SizeLimit", StringComparison.Ordinal));
        Assert.Contains(result.Failures!, f => f.StartsWith("OdcOrganizations for HttpClient 'orgs': FailureCooldown", StringComparison.Ordinal));
    }

    [Fact]
    public void Credentials_ToString_NeverShowsTheSecret()
    {
        var credentials = new OdcOrganizationCredentials("acme-client", "Sup3rS3cret!") { AdditionalApiHosts = ["api.acme.example"] };

        Assert.DoesNotContain("Sup3rS3cret!", credentials.ToString(), StringComparison.Ordinal);
        Assert.Contains("acme-client", credentials.ToString(), StringComparison.Ordinal);
    }
}
