using System.Net;
using System.Net.Http.Json;
using Microsoft.Extensions.DependencyInjection;
using Microsoft.Extensions.Time.Testing;

namespace OdcHandler.Testing.Tests;

/// <summary>Several fake organisations behind one client, as a multi-tenant application tests its code.</summary>
public sealed class UseFakeOdcOrganizationsTests
{
    private sealed class Tenants(Dictionary<string, OdcOrganizationCredentials> byHost) : IOdcCredentialSource
    {
        public ValueTask<OdcOrganizationCredentials?> GetCredentialsAsync(string portalHost, CancellationToken cancellationToken) =>
            ValueTask.FromResult(byHost.GetValueOrDefault(portalHost));
    }

    [Fact]
    public async Task UseFakeOdc_SeveralOrganisations_EachRequestReachesItsOwnWithItsOwnClient()
    {
        var time = new FakeTimeProvider();
        var acme = new FakeOdcServer(new Uri("https://acme.outsystems.dev"), time);
        var globex = new FakeOdcServer(new Uri("https://globex.outsystems.dev"), time);
        acme.Clients.Add("acme-client", "acme secret");
        globex.Clients.Add("globex-client", "globex secret");
        foreach (var org in new[] { acme, globex })
        {
            org.MapGet("/api/whoami", r => new { client = r.ClientId });
        }

        var services = new ServiceCollection();
        services.AddSingleton<TimeProvider>(time);
        services.AddSingleton(new Tenants(new()
        {
            ["acme.outsystems.dev"] = new("acme-client", "acme secret"),
            ["globex.outsystems.dev"] = new("globex-client", "globex secret"),
        }));
        services.AddHttpClient("tenants").AddOdcAuthentication<Tenants>().UseFakeOdc(acme, globex);
        await using var provider = services.BuildServiceProvider();
        var client = provider.GetRequiredService<IHttpClientFactory>().CreateClient("tenants");

        var one = await client.GetFromJsonAsync<Dictionary<string, string>>("https://acme.outsystems.dev/api/whoami");
        var two = await client.GetFromJsonAsync<Dictionary<string, string>>("https://globex.outsystems.dev/api/whoami");

        Assert.Equal("acme-client", one!["client"]);
        Assert.Equal("globex-client", two!["client"]);
        Assert.Equal((1, 1), (acme.TokenRequests, globex.TokenRequests));
    }

    [Fact]
    public async Task UseFakeOdc_AddressOfNoOrganisation_FailsAsAnUnknownHost()
    {
        var acme = new FakeOdcServer(new Uri("https://acme.outsystems.dev"));
        var services = new ServiceCollection();
        services.AddHttpClient("plain").UseFakeOdc(acme, new FakeOdcServer(new Uri("https://globex.outsystems.dev")));
        await using var provider = services.BuildServiceProvider();

        var error = await Assert.ThrowsAsync<HttpRequestException>(() => provider.GetRequiredService<IHttpClientFactory>().CreateClient("plain").GetAsync(new Uri("https://initech.outsystems.dev/api/x")));

        Assert.Contains("initech.outsystems.dev", error.Message, StringComparison.Ordinal);
        Assert.Equal(0, acme.ApiRequests);
    }

    [Fact]
    public void UseFakeOdc_TwoServersWithOnePortal_AreRefused()
    {
        var services = new ServiceCollection();

        Assert.Throws<ArgumentException>(() => services.AddHttpClient("twice").UseFakeOdc(new FakeOdcServer(), new FakeOdcServer()));
    }
}
