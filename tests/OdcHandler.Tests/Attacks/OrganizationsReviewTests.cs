using System.Net;
using Microsoft.Extensions.DependencyInjection;
using Microsoft.Extensions.Diagnostics.HealthChecks;
using Microsoft.Extensions.Http.Resilience;
using Microsoft.Extensions.Logging;
using Microsoft.Extensions.Time.Testing;
using OdcHandler.Testing;
using OdcHandler.Tests.Organizations;

namespace OdcHandler.Tests.Attacks;

/// <summary>
/// Review 13: attacks on the "Many organisations" promises from the outside. Each test names the promise it holds the
/// library to, and fails while that promise does not hold. Fake time throughout; real time only as a hang guard.
/// </summary>
public sealed class OrganizationsReviewTests
{
    private static readonly TimeSpan HangGuard = TimeSpan.FromSeconds(10);

    private readonly FakeTimeProvider _time = new();
    private readonly TestCredentialSource _source = new();
    private readonly FakeOdcServer _acme;
    private readonly FakeOdcServer _globex;
    private readonly FakeOdcServer _initech;
    private readonly RecordingRouter _router;

    public OrganizationsReviewTests()
    {
        _acme = OrganizationsTestHost.Organization(_time, _source, "acme");
        _globex = OrganizationsTestHost.Organization(_time, _source, "globex");
        _initech = OrganizationsTestHost.Organization(_time, _source, "initech");
        _router = new RecordingRouter([_acme, _globex, _initech]);
    }

    /// <summary>
    /// Promise (OdcOrganizationsOptions.SizeLimit): "Beyond the limit the least recently used organisations are evicted
    /// (their timers stop; their next request asks the credential source and fetches a new token)"; README: "one token
    /// fetch however many callers", "The source is asked once per new host". The validator accepts any SizeLimit from 1,
    /// but MemoryCache's over-capacity compaction removes (long)(size × CompactionPercentage 5 %) entries, which is 0 below
    /// 20: once two organisations fill a SizeLimit of 2, nothing is ever evicted and a third organisation is refused by the
    /// cache on every request, so each of its requests asks the source and fetches a new token.
    /// </summary>
    [Fact]
    public async Task SizeLimitBelowTwenty_OrganisationBeyondTheLimit_IsCachedInsteadOfFetchingATokenPerRequest()
    {
        using var services = OrganizationsTestHost.Build(_time, _source, _router, o => o.SizeLimit = 2);
        var client = services.Client();
        var organizations = services.Organizations();
        var initechHost = _initech.PortalUri.Authority;
        (await client.GetAsync(_acme.WhoAmI())).Dispose();
        _time.Advance(TimeSpan.FromSeconds(1));
        (await client.GetAsync(_globex.WhoAmI())).Dispose();

        for (var i = 0; i < 5; i++)
        {
            _time.Advance(TimeSpan.FromSeconds(1));
            using (var response = await client.GetAsync(_initech.WhoAmI()))
            {
                Assert.Equal(HttpStatusCode.OK, response.StatusCode);
            }

            // MemoryCache evicts on the thread pool: let the eviction (of initech, or of the least recently used) land.
            Assert.True(SpinWait.SpinUntil(() => organizations.Entries.Count <= 2, HangGuard), "the cache did not settle");
        }

        Assert.Equal(1, _initech.TokenRequests);
        Assert.Equal(1, _source.Asked(initechHost));
    }

    /// <summary>
    /// Promise (OdcOrganizationsOptions.SizeLimit, README "Many organisations"): "Beyond the limit the least recently used
    /// organisations are evicted"; "The source is asked once per new host"; "one token fetch however many callers". With
    /// a cache exactly full, MemoryCache refuses the newcomer's entry outright and compacts on the side: the organisation
    /// just served (the most recently used) is evicted along with the least recently used one, and its very next request
    /// asks the source again and fetches a second token. Every organisation that arrives at a full cache pays twice.
    /// </summary>
    [Fact]
    public async Task FullCache_Newcomer_IsKeptAndItsSecondRequestNeitherAsksTheSourceNorFetchesAgain()
    {
        var fillers = Enumerable.Range(0, 20).Select(i => OrganizationsTestHost.Organization(_time, _source, $"filler{i:D2}")).ToArray();
        var router = new RecordingRouter([.. fillers, _initech]);
        using var services = OrganizationsTestHost.Build(_time, _source, router, o => o.SizeLimit = 20);
        var client = services.Client();
        var organizations = services.Organizations();
        var initechHost = _initech.PortalUri.Authority;
        foreach (var filler in fillers)
        {
            (await client.GetAsync(filler.WhoAmI())).Dispose();
            _time.Advance(TimeSpan.FromSeconds(1));
        }

        using (var first = await client.GetAsync(_initech.WhoAmI()))
        {
            Assert.Equal(HttpStatusCode.OK, first.StatusCode);
        }

        // MemoryCache evicts on the thread pool: let the eviction (of initech, or of the least recently used) land.
        Assert.True(SpinWait.SpinUntil(() => organizations.Entries.Count <= 20, HangGuard), "the cache did not settle");
        _time.Advance(TimeSpan.FromSeconds(1));
        using (var second = await client.GetAsync(_initech.WhoAmI()))
        {
            Assert.Equal(HttpStatusCode.OK, second.StatusCode);
        }

        Assert.Equal(1, _source.Asked(initechHost));
        Assert.Equal(1, _initech.TokenRequests);
    }

    /// <summary>
    /// Promise (OdcOrganizationsOptions.SizeLimit): "Beyond the limit the least recently used organisations are evicted".
    /// The warm path touches the cache entry at most once a second, so an organisation in constant use looks older to the
    /// cache than ones idle since: acme is touched at 0.1 s and used until 0.9 s, 19 others were last used at 0.2 s; a
    /// newcomer at 0.95 s makes the cache evict one, and it evicts acme.
    /// </summary>
    [Fact]
    public async Task SizePressure_EvictsAnIdleOrganisation_NotTheOneInConstantUse()
    {
        var others = Enumerable.Range(0, 19).Select(i => OrganizationsTestHost.Organization(_time, _source, $"idle{i:D2}")).ToArray();
        var router = new RecordingRouter([.. others, _acme, _initech]);
        using var services = OrganizationsTestHost.Build(_time, _source, router, o => o.SizeLimit = 20);
        var client = services.Client();
        var organizations = services.Organizations();
        var acmeHost = _acme.PortalUri.Authority;

        (await client.GetAsync(_acme.WhoAmI())).Dispose();                                  // t = 0
        _time.Advance(TimeSpan.FromMilliseconds(100));
        (await client.GetAsync(_acme.WhoAmI())).Dispose();                                  // t = 0.1 (touches)
        _time.Advance(TimeSpan.FromMilliseconds(100));
        foreach (var other in others)
        {
            (await client.GetAsync(other.WhoAmI())).Dispose();                              // t = 0.2, their last use
        }

        for (var i = 0; i < 7; i++)
        {
            _time.Advance(TimeSpan.FromMilliseconds(100));
            (await client.GetAsync(_acme.WhoAmI())).Dispose();                              // t = 0.3 … 0.9, acme busy
        }

        _time.Advance(TimeSpan.FromMilliseconds(50));
        (await client.GetAsync(_initech.WhoAmI())).Dispose();                               // t = 0.95, the 21st

        var before = others.Select(o => o.PortalUri.Authority).Append(acmeHost).ToHashSet(StringComparer.Ordinal);
        Assert.True(
            SpinWait.SpinUntil(() => organizations.Entries.Count(e => before.Contains(e.PortalHost)) < 20, HangGuard),
            "the cache never made room");
        Assert.Contains(organizations.Entries, e => e.PortalHost == acmeHost);
    }

    /// <summary>
    /// Promise (OdcOrganizationsOptions.IdleExpiration): "How long an organisation that sends no request keeps its cache
    /// entry (sliding)"; README: "The source is asked once per new host … requests with a cached token never ask it".
    /// With IdleExpiration = 1.5 s (the validator accepts any positive value) and a request every 0.9 s, acme is never idle
    /// for more than 0.9 s, yet the once-a-second touch lets its entry slide out: the cache expires it and its next request
    /// asks the source again and fetches a second token.
    /// </summary>
    [Fact]
    public async Task OrganisationUsedEvery900Milliseconds_WithIdleExpiration1500Milliseconds_IsNeverExpiredAsIdle()
    {
        using var services = OrganizationsTestHost.Build(_time, _source, _router, o => o.IdleExpiration = TimeSpan.FromMilliseconds(1500));
        var client = services.Client();
        var organizations = services.Organizations();

        for (var i = 0; i < 8; i++)
        {
            using var response = await client.GetAsync(_acme.WhoAmI());
            Assert.Equal(HttpStatusCode.OK, response.StatusCode);

            // An eviction's callback runs on the thread pool: give it the chance to land before the next request.
            SpinWait.SpinUntil(() => organizations.Entries.Count == 0, TimeSpan.FromMilliseconds(100));
            _time.Advance(TimeSpan.FromMilliseconds(900));
        }

        Assert.Equal(1, _source.Asked(_acme.PortalUri.Authority));
        Assert.Equal(1, _acme.TokenRequests);
    }

    /// <summary>
    /// Promise (README "Rate limits", which "Every single-organisation guarantee holds per organisation" extends to this
    /// client): "The limiter sits directly in front of the network handler (inside the bearer handler), so … each 401
    /// resend takes its own permits", and "no more than the limit leave in any 60 s". The filter that places the limiter
    /// recognises only BearerTokenHandler: when AddOdcRateLimiting() is called before AddOdcAuthentication&lt;T&gt;(), the
    /// limiter ends up outside the organisations handler and its 401 resend goes out without a permit.
    /// </summary>
    [Fact]
    public async Task RateLimitingAddedBeforeOrganisations_The401ResendStillTakesAPermit()
    {
        using var services = Build(before: b => b.AddOdcRateLimiting(o =>
        {
            o.DefaultDomainLimit = 2;
            o.MaxWait = TimeSpan.Zero;
            o.MaxRateLimitedResends = 0;
        }));
        var client = services.Client();
        (await client.GetAsync(_acme.WhoAmI())).Dispose();                 // permit 1
        _acme.RevokeAllTokens();

        try
        {
            (await client.GetAsync(_acme.WhoAmI())).Dispose();             // permit 2, answered 401; its resend needs a 3rd
        }
        catch (OdcRateLimitExceededException)
        {
            // What the limit asks for: the resend waits for a permit (here MaxWait is 0, so it fails unsent).
        }

        Assert.True(_acme.ApiRequests <= 2, $"{_acme.ApiRequests} requests reached acme's API within one window with a limit of 2");
    }

    /// <summary>
    /// Promise (README "Many organisations"): the source is asked "again when that organisation needs a new token after
    /// expiry … so a rotated secret is used by the next token request"; "When it fails at that point, requests within
    /// FailureCooldown fail at once without asking it again, and the health check counts the organisation as failing
    /// until the source answers again". After acme's token expired, its source answers credentials OdcHandler refuses (an
    /// AdditionalApiHosts entry with user info). The first request fails; the ask is marked done before the credentials
    /// are checked, so the next requests skip the source and fetch a token with the credentials it no longer gives, and the
    /// health check never hears of it.
    /// </summary>
    [Fact]
    public async Task SourceGivesInvalidCredentialsAfterExpiry_NoTokenIsFetchedWithTheReplacedOnes_AndTheOrganisationCountsAsFailing()
    {
        using var services = Build(
            configure: o =>
            {
                o.IdleExpiration = TimeSpan.FromDays(2);
                o.FailureCooldown = TimeSpan.FromSeconds(30);
            },
            services: s => s.AddHealthChecks().AddOdcOrganizations(OrganizationsTestHost.ClientName));
        var client = services.Client();
        var acmeHost = _acme.PortalUri.Authority;
        (await client.GetAsync(_acme.WhoAmI())).Dispose();
        (await client.GetAsync(_globex.WhoAmI())).Dispose();

        _time.Advance(_acme.TokenLifetime + TimeSpan.FromMinutes(1));
        _source.Organizations[acmeHost] = new OdcOrganizationCredentials("acme-client", "acme-secret+/=&%")
        {
            AdditionalApiHosts = ["admin:Pw0rd@api.acme.dev"],
        };
        var outcomes = new List<string>();
        for (var i = 0; i < 5; i++)
        {
            try
            {
                using var response = await client.GetAsync(_acme.WhoAmI());
                outcomes.Add(response.StatusCode.ToString());
            }
            catch (OdcAuthenticationException)
            {
                outcomes.Add("refused");
            }
        }

        using (var served = await client.GetAsync(_globex.WhoAmI()))
        {
            Assert.Equal(HttpStatusCode.OK, served.StatusCode);
        }

        var report = await services.GetRequiredService<HealthCheckService>().CheckHealthAsync();
        var entry = report.Entries[$"odc-organizations-{OrganizationsTestHost.ClientName}"];

        Assert.Equal(1, _acme.TokenRequests);
        Assert.All(outcomes, o => Assert.Equal("refused", o));
        Assert.Equal(HealthStatus.Degraded, entry.Status);
        Assert.Contains(acmeHost, (string[])entry.Data["failing_hosts"]);
        Assert.Equal(2, _source.Asked(acmeHost));
    }

    /// <summary>
    /// Promise (README guarantee "A rotated secret is used by the next token request; old credentials are let go", held per
    /// organisation by "Every single-organisation guarantee holds per organisation"). The first request for acme is
    /// cancelled while the source is being asked; the entry is created anyway, with a lease for its creator that nobody
    /// takes. When acme's secret is later rotated, the old state is retired but that orphaned lease keeps its manager
    /// (and the old secret) alive until the organisation is evicted, which for a busy organisation is never.
    /// </summary>
    [Fact]
    public async Task FirstRequestCancelledWhileTheSourceIsAsked_LaterRotation_StillLetsTheOldManagerGo()
    {
        using var services = Build(configure: o => o.IdleExpiration = TimeSpan.FromDays(2));
        var client = services.Client();
        var organizations = services.Organizations();
        var acmeHost = _acme.PortalUri.Authority;

        var gate = new TaskCompletionSource(TaskCreationOptions.RunContinuationsAsynchronously);
        _source.Gate = gate;
        using (var cancel = new CancellationTokenSource())
        {
            var first = client.GetAsync(_acme.WhoAmI(), cancel.Token);
            Assert.True(SpinWait.SpinUntil(() => _source.Asked(acmeHost) == 1, HangGuard));
            await cancel.CancelAsync();
            await Assert.ThrowsAnyAsync<OperationCanceledException>(() => first);
        }

        _source.Gate = null;
        gate.SetResult();
        Assert.True(SpinWait.SpinUntil(() => organizations.Entries.Count == 1, HangGuard), "acme's entry was never created");
        using (var served = await client.GetAsync(_acme.WhoAmI()))
        {
            Assert.Equal(HttpStatusCode.OK, served.StatusCode);
        }

        Assert.Equal(1, organizations.LiveManagers);

        // The secret is rotated; the token runs out; the next request asks the source and gets the new credentials.
        _acme.Clients.Add("acme-client-2", "rotated-secret");
        _source.Organizations[acmeHost] = new OdcOrganizationCredentials("acme-client-2", "rotated-secret");
        _time.Advance(_acme.TokenLifetime + TimeSpan.FromMinutes(1));
        using (var served = await client.GetAsync(_acme.WhoAmI()))
        {
            Assert.Equal(HttpStatusCode.OK, served.StatusCode);
        }

        Assert.Equal(2, _source.Asked(acmeHost));
        Assert.Equal(1, organizations.LiveManagers);
    }

    private ServiceProvider Build(
        Action<OdcOrganizationsOptions>? configure = null,
        Action<IServiceCollection>? services = null,
        Action<IHttpClientBuilder>? before = null) =>
        OrganizationsTestHost.Build(_time, _source, _router, configure, services, before);
}
