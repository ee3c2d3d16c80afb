using System.Net;
using Microsoft.Extensions.Caching.Memory;
using Microsoft.Extensions.DependencyInjection;
using Microsoft.Extensions.Time.Testing;
using OdcHandler.Testing;
using OdcHandler.Tests.Fakes;

namespace OdcHandler.Tests.Organizations;

/// <summary>Every guarantee of the single-organisation path, per organisation; eviction and reloaded credentials.</summary>
public sealed class OrganizationTokenLifecycleTests
{
    private readonly FakeTimeProvider _time = new();
    private readonly TestCredentialSource _source = new();
    private readonly FakeOdcServer _acme;
    private readonly FakeOdcServer _globex;
    private readonly RecordingRouter _router;

    public OrganizationTokenLifecycleTests()
    {
        _acme = OrganizationsTestHost.Organization(_time, _source, "acme");
        _globex = OrganizationsTestHost.Organization(_time, _source, "globex");
        _router = new RecordingRouter([_acme, _globex]);
    }

    [Fact]
    public async Task Unauthorized_DropsOnlyThatOrganisationsToken_AndRetriesOnce()
    {
        using var services = OrganizationsTestHost.Build(_time, _source, _router);
        var client = services.Client();
        (await client.GetAsync(_acme.WhoAmI())).Dispose();
        (await client.GetAsync(_globex.WhoAmI())).Dispose();
        _acme.RevokeAllTokens();

        using var acme = await client.GetAsync(_acme.WhoAmI());
        using var globex = await client.GetAsync(_globex.WhoAmI());

        Assert.Equal(HttpStatusCode.OK, acme.StatusCode);
        Assert.Equal(HttpStatusCode.OK, globex.StatusCode);
        Assert.Equal(2, _acme.TokenRequests);
        Assert.Equal(1, _globex.TokenRequests);
        Assert.Equal(1, _acme.RejectedApiRequests);
        var globexTokens = _router.Sent.Where(s => s.Address.Host == "globex.outsystems.dev" && s.Address.AbsolutePath == "/api/whoami").Select(s => s.Authorization).Distinct();
        Assert.Single(globexTokens);
    }

    [Fact]
    public async Task RefreshAhead_EachOrganisationRefreshesOnItsOwnTokensTimeline()
    {
        _acme.TokenLifetime = TimeSpan.FromHours(1);
        using var services = OrganizationsTestHost.Build(_time, _source, _router);
        var client = services.Client();
        (await client.GetAsync(_acme.WhoAmI())).Dispose();
        (await client.GetAsync(_globex.WhoAmI())).Dispose();

        _time.Advance(TimeSpan.FromMinutes(56)); // inside acme's 5-minute refresh window, far from globex's
        using var acme = await client.GetAsync(_acme.WhoAmI());
        using var globex = await client.GetAsync(_globex.WhoAmI());
        var manager = services.Organizations().Entries.Single(e => e.PortalHost == "acme.outsystems.dev").State.Manager;
        await manager.WhenFetchSettled();

        Assert.Equal(HttpStatusCode.OK, acme.StatusCode);
        Assert.Equal(2, _acme.TokenRequests);
        Assert.Equal(1, _globex.TokenRequests);
        Assert.Equal(2, _source.Asked("acme.outsystems.dev") + _source.Asked("globex.outsystems.dev"));
    }

    [Fact]
    public async Task RefreshFails_TheOldTokenIsKeptForThatOrganisation()
    {
        _acme.TokenLifetime = TimeSpan.FromHours(1);
        using var services = OrganizationsTestHost.Build(_time, _source, _router);
        var client = services.Client();
        (await client.GetAsync(_acme.WhoAmI())).Dispose();
        _acme.FailNextTokenRequests(100, HttpStatusCode.ServiceUnavailable);

        _time.Advance(TimeSpan.FromMinutes(56));
        using var first = await client.GetAsync(_acme.WhoAmI());
        await services.Organizations().Entries.Single().State.Manager.WhenFetchSettled();
        using var second = await client.GetAsync(_acme.WhoAmI());

        Assert.Equal(HttpStatusCode.OK, first.StatusCode);
        Assert.Equal(HttpStatusCode.OK, second.StatusCode);
        Assert.Single(_router.Sent.Where(s => s.Address.AbsolutePath == "/api/whoami").Select(s => s.Authorization).Distinct());
    }

    [Fact]
    public async Task IdleOrganisation_IsEvicted_ItsManagerDisposed_AndItsNextRequestStartsAfresh()
    {
        using var services = OrganizationsTestHost.Build(_time, _source, _router, o => o.IdleExpiration = TimeSpan.FromMinutes(10));
        var client = services.Client();
        var organizations = services.Organizations();
        (await client.GetAsync(_acme.WhoAmI())).Dispose();
        var manager = organizations.Entries.Single().State.Manager;

        _time.Advance(TimeSpan.FromMinutes(11));
        (await client.GetAsync(_globex.WhoAmI())).Dispose(); // any access lets MemoryCache notice what expired
        Assert.False(organizations.Cache.TryGetValue("acme.outsystems.dev", out _));
        Assert.True(SpinWait.SpinUntil(() => manager.IsDisposed, TimeSpan.FromSeconds(10)), "the evicted organisation's manager was not disposed");
        (await client.GetAsync(_acme.WhoAmI())).Dispose();

        Assert.Equal(2, _acme.TokenRequests);
        Assert.Equal(2, _source.Asked("acme.outsystems.dev"));
        Assert.True(SpinWait.SpinUntil(() => organizations.LiveManagers == 2, TimeSpan.FromSeconds(10)), $"live managers: {organizations.LiveManagers}");
    }

    /// <summary>
    /// Warm requests touch MemoryCache at most once a second (its clock costs more than the rest of the path). An
    /// organisation used every 6 minutes with a 10-minute idle expiration must never be evicted; once idle it goes
    /// without any further request.
    /// </summary>
    [Fact]
    public async Task BusyOrganisation_IsNeverEvictedWhileUsed_AndGoesOnceIdle()
    {
        using var services = OrganizationsTestHost.Build(_time, _source, _router, o => o.IdleExpiration = TimeSpan.FromMinutes(10));
        var client = services.Client();
        var organizations = services.Organizations();
        (await client.GetAsync(_acme.WhoAmI())).Dispose();
        var entry = organizations.Entries.Single();

        for (var i = 0; i < 10; i++)
        {
            _time.Advance(TimeSpan.FromMinutes(6));
            (await client.GetAsync(_acme.WhoAmI())).Dispose();
        }

        Assert.False(entry.IsEvicted);
        Assert.True(organizations.Cache.TryGetValue("acme.outsystems.dev", out _));
        Assert.Equal(1, _source.Asked("acme.outsystems.dev"));
        Assert.Equal(1, _acme.TokenRequests);

        for (var i = 0; i < 12; i++)
        {
            _time.Advance(TimeSpan.FromMinutes(1));
        }

        Assert.True(SpinWait.SpinUntil(() => entry.IsEvicted, TimeSpan.FromSeconds(10)), "the idle organisation was not evicted");
        Assert.True(SpinWait.SpinUntil(() => organizations.LiveManagers == 0, TimeSpan.FromSeconds(10)), $"live managers: {organizations.LiveManagers}");
    }

    [Fact]
    public async Task CredentialSourceReloaded_TheNextAcquisitionUsesTheNewSecret_AndTheOldManagerIsLetGo()
    {
        // Idle expiration beyond the token's life: the entry stays, and only asking the source again can see the new secret.
        using var services = OrganizationsTestHost.Build(_time, _source, _router, o => o.IdleExpiration = TimeSpan.FromDays(1));
        var client = services.Client();
        (await client.GetAsync(_acme.WhoAmI())).Dispose();
        var old = services.Organizations().Entries.Single().State.Manager;

        // The secret is regenerated in the ODC Portal and in the application's store; the old token still works until it expires.
        _acme.Clients.Add("acme-client", "rotated secret&=+");
        _source.Organizations["acme.outsystems.dev"] = new OdcOrganizationCredentials("acme-client", "rotated secret&=+");
        (await client.GetAsync(_acme.WhoAmI())).Dispose();
        Assert.Equal(1, _source.Asked("acme.outsystems.dev")); // a cached token never asks the source

        _time.Advance(TimeSpan.FromHours(12));
        using var response = await client.GetAsync(_acme.WhoAmI());

        Assert.Equal(HttpStatusCode.OK, response.StatusCode);
        Assert.Equal(2, _source.Asked("acme.outsystems.dev"));
        Assert.Equal(2, _acme.TokenRequests);
        Assert.True(old.IsDisposed);
        Assert.Equal(1, services.Organizations().LiveManagers);
    }

    [Fact]
    public async Task CredentialSourceReloaded_A401RetryAsksTheSourceAgain()
    {
        using var services = OrganizationsTestHost.Build(_time, _source, _router);
        var client = services.Client();
        (await client.GetAsync(_acme.WhoAmI())).Dispose();

        // The client was deleted and re-created with a new id and secret: its tokens stop working at once.
        _acme.Clients.Remove("acme-client");
        _acme.Clients.Add("acme-client-2", "new");
        _source.Organizations["acme.outsystems.dev"] = new OdcOrganizationCredentials("acme-client-2", "new");
        using var response = await client.GetAsync(_acme.WhoAmI());

        Assert.Equal(HttpStatusCode.OK, response.StatusCode);
        Assert.Equal(2, _source.Asked("acme.outsystems.dev"));
        Assert.Equal(2, _acme.TokenRequests);
    }

    [Fact]
    public async Task ApplicationsOwnMemoryCacheWithASizeLimit_HoldsTheOrganisations()
    {
        using var services = OrganizationsTestHost.Build(_time, _source, _router, services: s => s.AddMemoryCache(o => o.SizeLimit = 50));
        (await services.Client().GetAsync(_acme.WhoAmI())).Dispose();

        var cache = (MemoryCache)services.GetRequiredService<IMemoryCache>();
        Assert.Same(cache, services.Organizations().Cache);
        Assert.Equal(1, cache.Count);
        Assert.Null(services.Organizations().CachedCount);
    }

    [Fact]
    public async Task ApplicationsOwnMemoryCacheWithoutASizeLimit_IsNotUsed()
    {
        using var services = OrganizationsTestHost.Build(_time, _source, _router, services: s => s.AddMemoryCache());
        (await services.Client().GetAsync(_acme.WhoAmI())).Dispose();

        Assert.NotSame(services.GetRequiredService<IMemoryCache>(), services.Organizations().Cache);
        Assert.Equal(1, services.Organizations().CachedCount);
    }
}
