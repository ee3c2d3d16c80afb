using System.Collections.Concurrent;
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
        var store = new InMemorySharedTokenStore(server.Time);
        var instances = Enumerable.Range(0, Instances).Select(instance => OdcTestHost.Build(server, services: collection =>
        {
            collection.AddSingleton(new JitterSource(new Random(instance).NextDouble));
            if (shared)
            {
                collection.AddSingleton(new SharedTokenStoreRegistration(OdcTestHost.ClientName, _ => store));
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

    /// <summary>What Redis does for the fleet, in memory and on fake time: entries that expire, and a set-if-absent lease.</summary>
    private sealed class InMemorySharedTokenStore(TimeProvider time) : ISharedTokenStore
    {
        private readonly ConcurrentDictionary<string, SharedToken> _tokens = new();
        private readonly ConcurrentDictionary<string, (string Owner, DateTimeOffset Until)> _leases = new();

        public TimeSpan LeaseWait => TimeSpan.Zero;

        public TimeSpan PollInterval => TimeSpan.FromMilliseconds(100);

        public Task<SharedToken?> ReadAsync(string key, CancellationToken cancellationToken) =>
            Task.FromResult(_tokens.TryGetValue(key, out var token) && token.ExpiresAt > time.GetUtcNow() ? token : null);

        public Task WriteAsync(string key, SharedToken token, CancellationToken cancellationToken)
        {
            _tokens[key] = token;
            return Task.CompletedTask;
        }

        public Task<bool> TryTakeLeaseAsync(string key, string owner, CancellationToken cancellationToken)
        {
            var now = time.GetUtcNow();
            if (_leases.TryGetValue(key, out var lease) && lease.Until > now)
            {
                return Task.FromResult(false);
            }

            _leases[key] = (owner, now + TimeSpan.FromSeconds(10));
            return Task.FromResult(true);
        }

        public Task ReleaseLeaseAsync(string key, string owner, CancellationToken cancellationToken)
        {
            if (_leases.TryGetValue(key, out var lease) && lease.Owner == owner)
            {
                _leases.TryRemove(key, out _);
            }

            return Task.CompletedTask;
        }
    }
}
