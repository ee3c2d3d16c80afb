using System.Net;
using Microsoft.Extensions.DependencyInjection;
using OdcHandler.Internal;
using OdcHandler.Tests.Fakes;
using Xunit.Abstractions;

namespace OdcHandler.Tests.Lifecycle;

/// <summary>
/// 20 instances of an application, 48 hours of steady traffic on fake time, 12-hour tokens: with a shared
/// token store the fleet fetches about one token per token lifetime instead of one per instance.
/// </summary>
public sealed class FleetSimulationTests(ITestOutputHelper output)
{
    private const int Instances = 20;

    [Fact]
    public async Task TwentyInstancesOverFortyEightHours_ShareTheirTokens()
    {
        var withStore = await SimulateAsync(shared: true);
        var withoutStore = await SimulateAsync(shared: false);
        output.WriteLine($"48 h, {Instances} instances, 12 h tokens: {withStore} token requests with a shared store, {withoutStore} without");

        // One at the start and one per 12-hour lifetime (each refreshed 5 to 7 minutes early): 5.
        Assert.InRange(withStore, 4, 6);
        Assert.InRange(withoutStore, 80, 120);
    }

    private static async Task<int> SimulateAsync(bool shared)
    {
        var server = new FakeIdentityServer();
        var store = new InMemorySharedTokenStore(server.Time, leaseWait: TimeSpan.Zero);
        var instances = Enumerable.Range(0, Instances).Select(instance => OdcTestHost.Build(server, services: collection =>
        {
            collection.AddSingleton(new JitterSource(new Random(instance).NextDouble));
            if (shared)
            {
                collection.AddHttpClient(OdcTestHost.ClientName).UseSharedTokenStore(_ => store);
            }
        })).ToList();
        var clients = instances.Select(i => i.Client()).ToList();
        var managers = instances.Select(i => i.GetRequiredService<OdcAccessTokenProvider>().GetManager(OdcTestHost.ClientName)).ToList();

        for (var minute = 0; minute < 48 * 60; minute += 5)
        {
            for (var i = 0; i < Instances; i++)
            {
                using var response = await clients[i].GetAsync("users");
                Assert.Equal(HttpStatusCode.OK, response.StatusCode);
                await managers[i].WhenFetchSettled();
            }

            server.Time.Advance(TimeSpan.FromMinutes(5));
        }

        instances.ForEach(i => i.Dispose());
        return server.TokenRequests;
    }
}
