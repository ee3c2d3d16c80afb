using System.Collections.Concurrent;
using System.Net;
using Microsoft.AspNetCore.DataProtection;
using Microsoft.Extensions.DependencyInjection;
using OdcHandler.Internal;
using OdcHandler.Testing;

namespace OdcHandler.Redis.Tests;

/// <summary>A fleet of instances serving many organisations through one real Redis: one token per organisation for the fleet.</summary>
public sealed class RedisOrganizationsTests(RedisServer redis) : IClassFixture<RedisServer>
{
    private static readonly IDataProtectionProvider s_sharedKeyRing = new EphemeralDataProtectionProvider();

    [Fact]
    public async Task ThreeInstancesFiveOrganisations_OneTokenRequestPerOrganisation_OneStoreForAllOrganisations()
    {
        var run = Guid.NewGuid().ToString("N")[..8];
        var orgs = Enumerable.Range(0, 5).Select(i =>
        {
            var server = new FakeOdcServer(new Uri($"https://org{i}-{run}.outsystems.dev")) { RateLimits = null };
            server.Clients.Add($"org{i}-client", $"org{i} secret");
            server.MapGet("/api/whoami", r => new { client = r.ClientId });
            return server;
        }).ToArray();
        var source = new Source(orgs.ToDictionary(o => o.PortalUri.Authority, o => new OdcOrganizationCredentials($"{o.PortalUri.Host.Split('-')[0]}-client", $"{o.PortalUri.Host.Split('-')[0]} secret")));
        var instances = Enumerable.Range(0, 3).Select(_ => Instance(orgs, source, run)).ToArray();
        try
        {
            foreach (var instance in instances)
            {
                foreach (var org in orgs)
                {
                    using var response = await instance.GetRequiredService<IHttpClientFactory>().CreateClient("orgs").GetAsync(new Uri(org.PortalUri, "/api/whoami"));
                    Assert.Equal(HttpStatusCode.OK, response.StatusCode);
                }
            }

            Assert.All(orgs, o => Assert.Equal(1, o.TokenRequests));

            // Evicting one organisation lets its manager go without closing the store the others use.
            var cache = instances[0].GetRequiredService<OdcOrganizationDirectory>().Get("orgs");
            cache.Cache.Remove(orgs[0].PortalUri.Host);
            Assert.True(SpinWait.SpinUntil(() => cache.LiveManagers == 4, TimeSpan.FromSeconds(10)));
            orgs[1].RevokeAllTokens();
            using var afterEviction = await instances[0].GetRequiredService<IHttpClientFactory>().CreateClient("orgs").GetAsync(new Uri(orgs[1].PortalUri, "/api/whoami"));
            Assert.Equal(HttpStatusCode.OK, afterEviction.StatusCode);
            Assert.Equal(2, orgs[1].TokenRequests);

            // Instance 0 wrote the new token through the store it still has open: instance 1, rejected too, takes it from there.
            using var shared = await instances[1].GetRequiredService<IHttpClientFactory>().CreateClient("orgs").GetAsync(new Uri(orgs[1].PortalUri, "/api/whoami"));
            Assert.Equal(HttpStatusCode.OK, shared.StatusCode);
            Assert.Equal(2, orgs[1].TokenRequests);
        }
        finally
        {
            foreach (var instance in instances)
            {
                await instance.DisposeAsync();
            }
        }
    }

    private ServiceProvider Instance(FakeOdcServer[] orgs, Source source, string run)
    {
        var services = new ServiceCollection();
        services.AddSingleton(s_sharedKeyRing);
        services.AddSingleton(source);
        services.AddHttpClient("orgs")
            .AddOdcAuthentication<Source>()
            .UseRedisTokenCache(o =>
            {
                o.Configuration = redis.Configuration;
                o.KeyPrefix = $"orgs-{run}:";
                o.OperationTimeout = TimeSpan.FromSeconds(5);
            })
            .UseFakeOdc(orgs);
        return services.BuildServiceProvider();
    }

    private sealed class Source(Dictionary<string, OdcOrganizationCredentials> organizations) : IOdcCredentialSource
    {
        private readonly ConcurrentDictionary<string, OdcOrganizationCredentials> _organizations = new(organizations);

        public ValueTask<OdcOrganizationCredentials?> GetCredentialsAsync(string portalHost, CancellationToken cancellationToken) =>
            ValueTask.FromResult(_organizations.GetValueOrDefault(portalHost));
    }
}
