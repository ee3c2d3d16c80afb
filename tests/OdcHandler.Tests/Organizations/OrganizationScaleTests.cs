using System.Net;
using Microsoft.Extensions.Time.Testing;
using OdcHandler.Testing;
using Xunit.Abstractions;

namespace OdcHandler.Tests.Organizations;

/// <summary>A thousand organisations: one token each however many callers, a bounded cache, the memory each one costs.</summary>
public sealed class OrganizationScaleTests(ITestOutputHelper output)
{
    private readonly FakeTimeProvider _time = new();
    private readonly TestCredentialSource _source = new();

    [Fact]
    public async Task ThousandOrganisations_TenConcurrentRequestsEach_ColdCache_ExactlyOneTokenRequestPerOrganisation()
    {
        var orgs = Organizations(1000);
        using var services = OrganizationsTestHost.Build(_time, _source, new RecordingRouter(orgs));
        var client = services.Client();

        var requests = orgs.SelectMany(org => Enumerable.Range(0, 10).Select(_ => Task.Run(() => client.GetAsync(org.WhoAmI())))).ToList();
        var responses = await Task.WhenAll(requests);

        Assert.All(responses, r => Assert.Equal(HttpStatusCode.OK, r.StatusCode));
        Assert.Equal(1000, orgs.Sum(o => o.TokenRequests));
        Assert.All(orgs, o => Assert.Equal(1, o.TokenRequests));
        Assert.Equal(1000, _source.AskedInAll);
        Assert.Equal(1000, services.Organizations().LiveManagers);
        foreach (var response in responses)
        {
            response.Dispose();
        }
    }

    [Fact]
    public async Task SizeLimit100_ThousandOrganisationSweep_KeepsAtMostAHundredEntriesAndManagers()
    {
        var orgs = Organizations(1000);
        using var services = OrganizationsTestHost.Build(_time, _source, new RecordingRouter(orgs), o => o.SizeLimit = 100);
        var client = services.Client();
        var organizations = services.Organizations();
        var peakEntries = 0;

        foreach (var org in orgs)
        {
            using var response = await client.GetAsync(org.WhoAmI());
            Assert.Equal(HttpStatusCode.OK, response.StatusCode);
            peakEntries = Math.Max(peakEntries, organizations.CachedCount!.Value);
        }

        // MemoryCache evicts on the thread pool; what matters is where it settles, and that nothing is left running.
        Assert.True(SpinWait.SpinUntil(() => organizations.LiveManagers <= 100, TimeSpan.FromSeconds(30)), $"live managers: {organizations.LiveManagers}");
        output.WriteLine($"peak entries {peakEntries}, entries after {organizations.CachedCount}, live managers after {organizations.LiveManagers}, tracked entries {organizations.Entries.Count}");
        Assert.True(peakEntries <= 100, $"peak entries: {peakEntries}");
        Assert.True(organizations.Entries.Count <= 100, $"tracked entries: {organizations.Entries.Count}");
        Assert.All(orgs, o => Assert.Equal(1, o.TokenRequests));
    }

    [Fact]
    public async Task MemoryPerCachedOrganisation_IsMeasured()
    {
        var orgs = Organizations(1100);
        using var services = OrganizationsTestHost.Build(_time, _source, new RecordingRouter(orgs), o => o.SizeLimit = 2000);
        var client = services.Client();

        // The first 100 warm up everything shared (the JIT, the backchannel's pipelines, the factory's handler chain).
        foreach (var org in orgs.Take(100))
        {
            (await client.GetAsync(org.WhoAmI())).Dispose();
        }

        var before = GC.GetTotalMemory(forceFullCollection: true);
        foreach (var org in orgs.Skip(100))
        {
            (await client.GetAsync(org.WhoAmI())).Dispose();
        }

        var after = GC.GetTotalMemory(forceFullCollection: true);
        var perOrganisation = (after - before) / 1000.0;
        Assert.Equal(1100, services.Organizations().LiveManagers);

        // What eviction gives back is what the cache entry holds (entry, credentials, options, endpoints, manager, token,
        // timer); what stays is per host outside the cache: the discovery document, the backchannel's per-host
        // resilience pipeline, and the fake servers' own records of the tokens they issued.
        ((Microsoft.Extensions.Caching.Memory.MemoryCache)services.Organizations().Cache).Compact(1.0);
        Assert.True(SpinWait.SpinUntil(() => services.Organizations().LiveManagers == 0, TimeSpan.FromSeconds(30)));
        var evicted = GC.GetTotalMemory(forceFullCollection: true);
        var perEntry = (after - evicted) / 1100.0;
        output.WriteLine($"retained per organisation: {perOrganisation:F0} bytes ({after - before} bytes for 1000); of which the cache entry: {perEntry:F0} bytes; left after eviction: {(evicted - before) / 1000.0:F0} bytes per organisation");

        // The fake servers' own issued tokens are part of the delta; a generous bound catches a leak of handler chains or timers.
        Assert.InRange(perOrganisation, 0, 64 * 1024);
        GC.KeepAlive(client);
    }

    private FakeOdcServer[] Organizations(int count) =>
        Enumerable.Range(0, count).Select(i => OrganizationsTestHost.Organization(_time, _source, $"org{i:D4}")).ToArray();
}
