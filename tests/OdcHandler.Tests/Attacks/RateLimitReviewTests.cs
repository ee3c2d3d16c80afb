using System.Net;
using Microsoft.Extensions.DependencyInjection;
using Microsoft.Extensions.Http.Resilience;
using Microsoft.Extensions.Logging;
using Microsoft.Extensions.Time.Testing;
using OdcHandler.Internal;
using OdcHandler.Testing;
using OdcHandler.Tests.Fakes;
using OdcHandler.Tests.Organizations;
using OdcHandler.Tests.RateLimiting;

namespace OdcHandler.Tests.Attacks;

/// <summary>
/// Review 12: attempts from the outside to break the README's rate-limit promises (section "Rate limits"). Each test
/// fails while the promise it names does not hold. Time is fake; the wall clock only guards against a hang.
/// </summary>
public sealed class RateLimitReviewTests
{
    private const string Operations = "deployments/v1/deployment-operations";
    private static readonly TimeSpan HangGuard = TimeSpan.FromSeconds(60);
    private readonly FakeTimeProvider _time = new(new DateTimeOffset(2026, 11, 30, 8, 0, 0, TimeSpan.Zero));

    /// <summary>
    /// README: "A request to /api/{domain}/… takes one permit from its endpoint cap (if it has one) and one from its
    /// domain's pool, and leaves only when both are free, so no more than the limit leave in any 60 s."
    /// A POST whose endpoint permit is free but whose domain pool is spent takes the endpoint permit at once and then
    /// waits a minute for the domain. The endpoint permit is counted at t = 0, the request reaches the server at t = 61,
    /// when that permit is already back: the next 10 POSTs to the endpoint leave with it. A plain workload (100 GETs
    /// and 20 POSTs on deployments at t = 0) puts 20 deployment POSTs on the server in one second; ODC caps them at 10.
    /// </summary>
    [Fact]
    public async Task SendAsync_EndpointPermitHeldWhileWaitingForTheDomain_NeverMoreThanTheEndpointCapInAnyWindow()
    {
        var api = new LimitEnforcingApi(_time);
        using var services = RateLimitHost.Build(_time, api.CreateHandler, b => b.AddOdcRateLimiting(o => o.MaxWait = TimeSpan.FromMinutes(10)));
        var client = services.Client(RateLimitHost.ClientName);
        for (var i = 0; i < 100; i++)
        {
            (await client.GetAsync($"{Operations}/{Guid.NewGuid()}")).Dispose();
        }

        var posts = Enumerable.Range(0, 20).Select(_ => client.PostAsync(Operations, new StringContent("{}"))).ToArray();
        await RateLimitHost.SettleAsync(() => services.Limiter().Queued == 20);
        Assert.Equal(20, services.Limiter().Queued);

        await DrainAsync(posts, services);

        Assert.True(api.TooManyRequests == 0, $"{api.TooManyRequests} × 429: 20 POSTs to {Operations} left within one second, its cap is 10 a minute");
        Assert.Equal(120, api.Accepted);
    }

    /// <summary>
    /// README: "so no more than the limit leave in any 60 s" and "A 429 that arrives anyway … is sent again after … a whole
    /// window". A request whose first attempt found both permits free (the usual case when another application spent the
    /// organisation's quota) is resent after a 429 without taking an endpoint permit: the handler still believes it holds
    /// the one it used for the first attempt. The resend at t = 60 s is invisible to the endpoint cap, whose 10 permits
    /// (the first attempt's and the 9 drained) come back at t = 61 s: 11 POSTs to one endpoint reach ODC within 1 s.
    /// </summary>
    [Fact]
    public async Task SendAsync_ResendAfterA429OnTheFreePermitPath_TakesItsOwnEndpointPermit()
    {
        var api = new LimitEnforcingApi(_time);
        using var services = RateLimitHost.Build(_time, api.CreateHandler, b => b.AddOdcRateLimiting(o => o.MaxWait = TimeSpan.FromMinutes(10)));
        var client = services.Client(RateLimitHost.ClientName);

        // Another application of the organisation spends the endpoint's cap at t = 0.
        for (var i = 0; i < 10; i++)
        {
            using var other = new HttpRequestMessage(HttpMethod.Post, RateLimitHost.Portal + Operations);
            Assert.Equal(HttpStatusCode.OK, api.Answer(other).StatusCode);
        }

        var refused = client.PostAsync(Operations, new StringContent("{}"));
        await RateLimitHost.SettleAsync(() => api.TooManyRequests == 1 && services.Limiter().Queued == 1);
        Assert.Equal(1, api.TooManyRequests);

        // The resend sleeps one window (60 s): it leaves at t = 60 s.
        _time.Advance(TimeSpan.FromSeconds(59));
        _time.Advance(TimeSpan.FromSeconds(1));
        await RateLimitHost.SettleAsync(() => refused.IsCompleted || services.Limiter().Queued == 1);
        _time.Advance(TimeSpan.FromSeconds(1));
        await RateLimitHost.SettleAsync(() => refused.IsCompleted);
        Assert.True(refused.IsCompleted, "the resend had not left by t = 61 s");
        var more = Enumerable.Range(0, 10).Select(_ => client.PostAsync(Operations, new StringContent("{}"))).ToArray();
        await RateLimitHost.SettleAsync(() => api.Accepted + api.TooManyRequests + services.Limiter().Queued >= 21);

        await DrainAsync([refused, .. more], services);
        Assert.Equal(1, api.TooManyRequests);
    }

    /// <summary>
    /// README: "The limiter sits directly in front of the network handler (inside the bearer handler), so … each 401 resend
    /// takes its own permits." On a multi-organisation client (AddOdcAuthentication&lt;TSource&gt;) with AddOdcRateLimiting
    /// called first, the limiter ends up outside the organisations handler: its 401 resend takes no permit. With a pool of
    /// 2, a first call and a call answered 401 put 3 requests on the server at one instant.
    /// </summary>
    [Fact]
    public async Task MultiOrganisationClient_RateLimitingAddedFirst_The401ResendTakesItsOwnPermit()
    {
        var source = new TestCredentialSource();
        var acme = OrganizationsTestHost.Organization(_time, source, "acme");
        acme.MapGet("/api/identity/v1/users", _ => new { results = Array.Empty<object>() });
        var router = new RecordingRouter([acme]);
        using var services = OrganizationsTestHost.Build(
            _time, source, router, before: b => b.AddOdcRateLimiting(o => o.DomainLimits["identity"] = 2));
        var client = services.Client();
        var users = new Uri(acme.PortalUri, "/api/identity/v1/users");

        Assert.Equal(HttpStatusCode.OK, (await client.GetAsync(users)).StatusCode);
        acme.RevokeAllTokens();
        var second = client.GetAsync(users);
        await RateLimitHost.SettleAsync(() => second.IsCompleted || acme.ApiRequests >= 3 || services.GetRequiredService<OdcRateLimiterRegistry>().Get(OrganizationsTestHost.ClientName).Queued == 1);

        try
        {
            Assert.True(acme.ApiRequests <= 2, $"{acme.ApiRequests} identity requests reached acme at one instant; its pool is 2 a minute");
        }
        finally
        {
            for (var i = 0; i < 70 && !second.IsCompleted; i++)
            {
                _time.Advance(TimeSpan.FromSeconds(1));
                await Task.WhenAny(second, Task.Delay(10));
            }
        }

        Assert.Equal(HttpStatusCode.OK, (await second.WaitAsync(HangGuard)).StatusCode);
    }

    // Lets queued requests finish, one second of fake time after another; the wall clock only guards a hang.
    private async Task DrainAsync(Task[] pending, IServiceProvider services)
    {
        var all = Task.WhenAll(pending);
        var guard = Task.Delay(HangGuard);
        for (var i = 0; i < 600 && !all.IsCompleted && !guard.IsCompleted; i++)
        {
            _time.Advance(TimeSpan.FromSeconds(1));
            await RateLimitHost.SettleAsync(() => all.IsCompleted || services.Limiter().Queued == pending.Count(t => !t.IsCompleted));
            await Task.WhenAny(all, Task.Delay(2));
        }

        await all.WaitAsync(HangGuard);
    }
}
