using Microsoft.Extensions.DependencyInjection;
using Microsoft.Extensions.Diagnostics.HealthChecks;
using Microsoft.Extensions.Options;

namespace OdcHandler.Tests;

/// <summary>
/// The health check registers as ASP.NET Core expects of a dependency check: a readiness check, never a liveness one,
/// because restarting the pod does not bring a token back.
/// </summary>
public sealed class OdcAuthenticationHealthChecksBuilderExtensionsTests
{
    private static HealthCheckRegistration Register(Action<IHealthChecksBuilder> add)
    {
        var services = new ServiceCollection();
        add(services.AddHealthChecks());
        using var provider = services.BuildServiceProvider();
        return Assert.Single(provider.GetRequiredService<IOptions<HealthCheckServiceOptions>>().Value.Registrations);
    }

    [Fact]
    public void AddOdcAuthentication_NoTags_IsTaggedReadyAndNotLive()
    {
        var registration = Register(b => b.AddOdcAuthentication("OdcApi"));

        Assert.Equal("odc-OdcApi", registration.Name);
        Assert.Equal(["ready"], registration.Tags);
        Assert.DoesNotContain("live", registration.Tags);
        Assert.Equal(HealthStatus.Unhealthy, registration.FailureStatus);
    }

    [Fact]
    public void AddOdcAuthentication_GivenTags_ReplaceTheDefault()
    {
        var registration = Register(b => b.AddOdcAuthentication("OdcApi", tags: ["odc", "startup"]));

        Assert.Equal(["odc", "startup"], registration.Tags.Order(StringComparer.Ordinal));
    }

    [Fact]
    public void AddOdcAuthentication_EmptyTags_AreKeptEmpty()
    {
        var registration = Register(b => b.AddOdcAuthentication("OdcApi", tags: []));

        Assert.Empty(registration.Tags);
    }
}
