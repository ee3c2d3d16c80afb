using System.Net;
using Microsoft.Extensions.Time.Testing;
using OdcHandler.Testing;
using OdcHandler.Tests.Organizations;

namespace OdcHandler.Tests.Attacks;

/// <summary>
/// Review 13b: attacks on the "Many organisations" promises after the change that lets OdcHandler's own full cache make
/// room (MakeRoom), touches the cache at most once a touch interval and probes it once a minute. Each test names the
/// promise it holds the library to, and fails while that promise does not hold. Fake time; real time only as a hang
/// guard (and to let MemoryCache's thread-pool eviction callbacks land).
/// </summary>
public sealed class OrganizationsReview2Tests
{
    private static readonly TimeSpan HangGuard = TimeSpan.FromSeconds(10);

    private readonly FakeTimeProvider _time = new();
    private readonly TestCredentialSource _source = new();
    private readonly FakeOdcServer _acme;
    private readonly FakeOdcServer _globex;
    private readonly RecordingRouter _router;

    public OrganizationsReview2Tests()
    {
        _acme = OrganizationsTestHost.Organization(_time, _source, "acme");
        _globex = OrganizationsTestHost.Organization(_time, _source, "globex");
        _router = new RecordingRouter([_acme, _globex]);
    }

    /// <summary>
    /// Promise (README "Many organisations", Cache): "An organisation is let go no sooner than IdleExpiration after its
    /// last request and at most a second later … An evicted organisation's timers stop"; the commit adds "a probe once a
    /// minute lets the cache find idle entries without requests". The probe only calls TryGetValue, and MemoryCache scans
    /// for expired entries only when more than ExpirationScanFrequency (1 minute, strictly) has passed since its last scan:
    /// a probe every minute exactly finds that exactly a minute has passed and scans nothing. acme, idle after one request
    /// with IdleExpiration 10 s, is still held (manager, refresh timer, health-check count) 61 s later, 50 s after the
    /// promised 11 s; it goes only at the second probe (120 s), and in general every other probe.
    /// </summary>
    [Fact]
    public async Task IdleOrganisation_WithoutFurtherRequests_IsLetGoByTheFirstProbeAfterItsIdleExpiration()
    {
        using var services = OrganizationsTestHost.Build(_time, _source, _router, o => o.IdleExpiration = TimeSpan.FromSeconds(10));
        var client = services.Client();
        var organizations = services.Organizations();
        using (var response = await client.GetAsync(_acme.WhoAmI()))
        {
            Assert.Equal(HttpStatusCode.OK, response.StatusCode);
        }

        Assert.Equal(1, organizations.LiveManagers);

        // Time flows: one second at a time up to a second past the first probe.
        for (var second = 1; second <= 61; second++)
        {
            _time.Advance(TimeSpan.FromSeconds(1));
        }

        Assert.True(
            SpinWait.SpinUntil(() => organizations.LiveManagers == 0 && organizations.Entries.Count == 0, TimeSpan.FromSeconds(3)),
            $"acme, idle since 61 s with IdleExpiration 10 s, still has {organizations.Entries.Count} entry and {organizations.LiveManagers} live manager");
    }

    /// <summary>
    /// Promise (README "Many organisations"): "No credentials for the host: the request is not sent"; "An organisation is
    /// let go no sooner than IdleExpiration after its last request and at most a second later … its next request asks
    /// the source again". acme is deprovisioned (the source no longer knows it) and sends nothing for 12 s with
    /// IdleExpiration 10 s. Its next request finds the stale entry in OdcHandler's own dictionary (the cache entry has
    /// expired but nothing has evicted it yet: the touch that discovers the expiry does not stop this request), is sent
    /// with the cached token, and the source is never asked.
    /// </summary>
    [Fact]
    public async Task OrganisationIdlePastItsExpiration_ThenDeprovisioned_NextRequestAsksTheSourceAndIsNotSent()
    {
        using var services = OrganizationsTestHost.Build(_time, _source, _router, o => o.IdleExpiration = TimeSpan.FromSeconds(10));
        var client = services.Client();
        var acmeHost = _acme.PortalUri.Authority;
        using (var response = await client.GetAsync(_acme.WhoAmI()))
        {
            Assert.Equal(HttpStatusCode.OK, response.StatusCode);
        }

        Assert.True(_source.Organizations.TryRemove(acmeHost, out _));
        _time.Advance(TimeSpan.FromSeconds(12));
        var apiBefore = _acme.ApiRequests;

        var outcome = "refused";
        try
        {
            using var response = await client.GetAsync(_acme.WhoAmI());
            outcome = response.StatusCode.ToString();
        }
        catch (OdcAuthenticationException)
        {
        }

        Assert.Equal(2, _source.Asked(acmeHost));
        Assert.Equal("refused", outcome);
        Assert.Equal(apiBefore, _acme.ApiRequests);
    }

    /// <summary>
    /// Promise (README "Many organisations", Cache): "When OdcHandler's own cache is full, the organisation whose last
    /// request is oldest makes room for the new one (MemoryCache alone would refuse the newcomer …)"; "The source is asked
    /// once per new host". MakeRoom puts the newcomer in its own candidate list (<c>_live</c>) before choosing, with its
    /// LastUsed set to now; when the oldest organisation's last request was in the same clock tick (a millisecond of
    /// Environment.TickCount64 in production, an unmoved fake clock here) the order among them is the dictionary's, and
    /// about every other time the newcomer is "removed" (a no-op: it is not in the cache yet) and then refused by the full
    /// MemoryCache. Its second request asks the source again and fetches a second token. SizeLimit 1, 16 newcomers one
    /// after the other, each allowed to settle.
    /// </summary>
    [Fact]
    public async Task FullCache_NewcomerInTheSameTickAsTheOldest_IsKeptNotRefused()
    {
        var newcomers = Enumerable.Range(0, 16).Select(i => OrganizationsTestHost.Organization(_time, _source, $"tick{i:D2}")).ToArray();
        var router = new RecordingRouter(newcomers);
        using var services = OrganizationsTestHost.Build(_time, _source, router, o => o.SizeLimit = 1);
        var client = services.Client();
        var organizations = services.Organizations();
        var askedTwice = new List<string>();
        foreach (var newcomer in newcomers)
        {
            var host = newcomer.PortalUri.Authority;
            using (var first = await client.GetAsync(newcomer.WhoAmI()))
            {
                Assert.Equal(HttpStatusCode.OK, first.StatusCode);
            }

            // MemoryCache's eviction callbacks run on the thread pool: let them land before the second request.
            Assert.True(SpinWait.SpinUntil(() => organizations.Entries.Count <= 1, HangGuard), "the cache did not settle");
            using (var second = await client.GetAsync(newcomer.WhoAmI()))
            {
                Assert.Equal(HttpStatusCode.OK, second.StatusCode);
            }

            Assert.True(SpinWait.SpinUntil(() => organizations.Entries.Count <= 1, HangGuard), "the cache did not settle");
            if (_source.Asked(host) != 1 || newcomer.TokenRequests != 1)
            {
                askedTwice.Add($"{host} (asked {_source.Asked(host)}, tokens {newcomer.TokenRequests})");
            }
        }

        Assert.Empty(askedTwice);
    }

    /// <summary>
    /// Promise (README "Many organisations", Cache): "When OdcHandler's own cache is full, the organisation whose last
    /// request is oldest makes room for the new one (MemoryCache alone would refuse the newcomer …)". MakeRoom skips
    /// candidates "already on their way out", but <c>IsEvicted</c> is set only by the eviction callback, which MemoryCache
    /// runs on the thread pool: an organisation MakeRoom itself removed a moment ago is still the oldest candidate, is
    /// "removed" again (a no-op), and the newcomer is refused by the full cache (its next request asks the source and
    /// fetches again). A sweep over 40 tenants started back to back, a clock millisecond apart (no ties), SizeLimit 2:
    /// right after its creation each newcomer should be in the cache.
    /// </summary>
    [Fact]
    public async Task FullCache_NewcomersBackToBack_EachIsInTheCacheRightAfterItsCreation()
    {
        var newcomers = Enumerable.Range(0, 40).Select(i => OrganizationsTestHost.Organization(_time, _source, $"sweep{i:D2}")).ToArray();
        foreach (var newcomer in newcomers)
        {
            // Each request yields right after its organisation is created (at discovery), so the next one follows at once.
            newcomer.Latency = TimeSpan.FromSeconds(1);
        }

        var router = new RecordingRouter(newcomers);
        using var services = OrganizationsTestHost.Build(_time, _source, router, o => o.SizeLimit = 2);
        var client = services.Client();
        var cache = services.Organizations().Cache;

        // The source answers synchronously, so each creation (and its MakeRoom) has run when GetAsync returns its task.
        var requests = new List<Task<HttpResponseMessage>>();
        var refused = new List<string>();
        foreach (var newcomer in newcomers)
        {
            _time.Advance(TimeSpan.FromMilliseconds(1));
            requests.Add(client.GetAsync(newcomer.WhoAmI()));
            if (!cache.TryGetValue(newcomer.PortalUri.Host, out _))
            {
                refused.Add(newcomer.PortalUri.Host);
            }
        }

        // Let the requests finish (each waits for fake latency at discovery, token and API), within the hang guard.
        var all = Task.WhenAll(requests);
        var guard = System.Diagnostics.Stopwatch.StartNew();
        while (!all.IsCompleted && guard.Elapsed < HangGuard)
        {
            _time.Advance(TimeSpan.FromMilliseconds(250));
            await Task.Delay(5);
        }

        foreach (var request in requests.Where(r => r.IsCompletedSuccessfully))
        {
            (await request).Dispose();
        }

        Assert.Empty(refused);
    }
}
