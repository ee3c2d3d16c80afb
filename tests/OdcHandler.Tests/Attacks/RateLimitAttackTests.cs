using System.Net;
using Microsoft.Extensions.Configuration;
using Microsoft.Extensions.DependencyInjection;
using Microsoft.Extensions.Time.Testing;
using OdcHandler.Tests.Fakes;
using OdcHandler.Tests.RateLimiting;

namespace OdcHandler.Tests.Attacks;

/// <summary>
/// A reviewer's attempts to break the rate-limit promises of issue 12 (AddOdcRateLimiting). Each test here failed on
/// the code it was written against, then the code was fixed.
/// </summary>
public sealed class RateLimitAttackTests
{
    private static readonly TimeSpan HangGuard = TimeSpan.FromSeconds(30);
    private readonly FakeTimeProvider _time = new(new DateTimeOffset(2026, 11, 30, 8, 0, 0, TimeSpan.Zero));
    private int _sent;

    // "Change any limit in OdcRateLimitOptions or configuration: … EndpointLimits:"POST deployments/v1/*"" and "no more
    // than the limit leave in any 60 s". A tighter cap on one endpoint that the table's "each POST under deployments/v1"
    // rule also covers is ignored: a request counts against the first rule that matches only, which is the table's 10.
    [Fact]
    public async Task SendAsync_ConfiguredCapOnAnEndpointTheTableAlsoCovers_IsKept()
    {
        var configuration = new ConfigurationBuilder().AddInMemoryCollection(new Dictionary<string, string?>
        {
            ["EndpointLimits:POST deployments/v1/deployment-operations"] = "2",
        }).Build();
        using var services = RateLimitHost.Build(_time, CountingOk, b => b.AddOdcRateLimiting(configuration));
        var client = services.Client(RateLimitHost.ClientName);

        var posts = Enumerable.Range(0, 3).Select(_ => client.PostAsync("deployments/v1/deployment-operations", new StringContent("{}"))).ToArray();
        await RateLimitHost.SettleAsync(() => Volatile.Read(ref _sent) + services.Limiter().Queued >= 3);

        Assert.Equal(2, Volatile.Read(ref _sent));
        Assert.Equal(1, services.Limiter().Queued);
        await DrainAsync(posts);
    }

    // "Change any limit … in configuration"; the validator accepts "POST /identity/v1/users/bulk" (the parser trims the
    // slash), yet the table's own "POST identity/v1/users/bulk" = 5 stays in force next to it and wins: an organisation
    // whose bulk cap was raised to 20 still gets 5 a minute, and nothing says the setting was not used.
    [Fact]
    public async Task SendAsync_ConfiguredOverrideWithALeadingSlash_ReplacesTheTablesCap()
    {
        var configuration = new ConfigurationBuilder().AddInMemoryCollection(new Dictionary<string, string?>
        {
            ["EndpointLimits:POST /identity/v1/users/bulk"] = "20",
        }).Build();
        using var services = RateLimitHost.Build(_time, CountingOk, b => b.AddOdcRateLimiting(configuration));
        var client = services.Client(RateLimitHost.ClientName);

        var posts = Enumerable.Range(0, 6).Select(_ => client.PostAsync("identity/v1/users/bulk", new StringContent("[]"))).ToArray();
        await RateLimitHost.SettleAsync(() => Volatile.Read(ref _sent) + services.Limiter().Queued >= 6);

        Assert.Equal(6, Volatile.Read(ref _sent));
        await DrainAsync(posts);
    }

    /// <summary>
    /// A <see cref="FakeTimeProvider"/> fires a minute of replenishment ticks back to back in one Advance, faster than the
    /// granted waiters run again: without care, the permits of two windows reach the server at one instant. 100 requests
    /// at t = 0, 200 more waiting, one Advance of 125 s: the server must never see more than 100 within 60 s.
    /// </summary>
    [Fact]
    public async Task SendAsync_OneAdvanceOverTwoWindows_NeverMoreThanTheLimitInAnyWindowOnTheServersClock()
    {
        var api = new LimitEnforcingApi(_time);
        using var services = RateLimitHost.Build(_time, api.CreateHandler, b => b.AddOdcRateLimiting(o => o.MaxWait = TimeSpan.FromMinutes(5)));
        var client = services.Client(RateLimitHost.ClientName);
        for (var i = 0; i < 100; i++)
        {
            (await client.GetAsync("identity/v1/users")).Dispose();
        }

        var waiting = Enumerable.Range(0, 200).Select(_ => client.GetAsync("identity/v1/users")).ToArray();
        await RateLimitHost.SettleAsync(() => services.Limiter().Queued == 200);

        _time.Advance(TimeSpan.FromSeconds(125));
        await DrainAsync(waiting);

        Assert.Equal(0, api.TooManyRequests);
        Assert.Equal(300, api.Accepted);
        Assert.True(api.MostInAnyWindow["domain identity"] <= 100, $"{api.MostInAnyWindow["domain identity"]} identity requests reached the API within 60 s");
    }

    /// <summary>
    /// The limiter finds a request's organisation by the start of its address when it is written the usual way. Written
    /// otherwise (upper case, default port spelled out) it must still count against that organisation's pool, and a
    /// look-alike host or another port must not share it.
    /// </summary>
    [Fact]
    public async Task SendAsync_SameHostWrittenDifferently_SharesOnePool_LookAlikeHostsDoNot()
    {
        using var services = RateLimitHost.Build(_time, CountingOk, b => b.AddOdcRateLimiting(o => o.DomainLimits["identity"] = 2));
        var client = services.Client(RateLimitHost.ClientName);

        (await client.GetAsync("https://acme.outsystems.dev/api/identity/v1/users")).Dispose();
        (await client.GetAsync("https://ACME.outsystems.dev:443/api/identity/v1/users")).Dispose();
        var third = client.GetAsync("https://Acme.OutSystems.dev/API/Identity/v1/users");
        await RateLimitHost.SettleAsync(() => services.Limiter().Queued == 1);
        Assert.Equal(2, Volatile.Read(ref _sent));

        (await client.GetAsync("https://acme.outsystems.dev.other.test/api/identity/v1/users")).Dispose();
        (await client.GetAsync("https://acme.outsystems.dev:8443/api/identity/v1/users")).Dispose();
        (await client.GetAsync("http://acme.outsystems.dev/api/identity/v1/users")).Dispose();
        Assert.Equal(5, Volatile.Read(ref _sent));
        Assert.False(third.IsCompleted);

        await DrainAsync([third]);
        Assert.Equal(6, Volatile.Read(ref _sent));
    }

    /// <summary>One organisation whose host is written in Unicode by one caller and in punycode by another has one pool.</summary>
    [Fact]
    public async Task SendAsync_UnicodeAndPunycodeSpellingsOfOneHost_ShareOnePool()
    {
        using var services = RateLimitHost.Build(_time, CountingOk, b => b.AddOdcRateLimiting(o => o.DomainLimits["identity"] = 2));
        var client = services.Client(RateLimitHost.ClientName);

        (await client.GetAsync("https://bücher.outsystems.dev/api/identity/v1/users")).Dispose();
        (await client.GetAsync("https://xn--bcher-kva.outsystems.dev/api/identity/v1/users")).Dispose();
        var third = client.GetAsync("https://BÜCHER.outsystems.dev/api/identity/v1/users");
        await RateLimitHost.SettleAsync(() => services.Limiter().Queued == 1);

        Assert.Equal(2, Volatile.Read(ref _sent));
        await DrainAsync([third]);
        Assert.Equal(3, Volatile.Read(ref _sent));
    }

    /// <summary>
    /// A fully qualified host (<c>acme.outsystems.dev.</c>, the trailing dot DNS allows) names the same organisation,
    /// so it shares its pool, whichever spelling is seen first.
    /// </summary>
    [Theory]
    [InlineData("https://acme.outsystems.dev./api/identity/v1/users", "https://acme.outsystems.dev/api/identity/v1/users")]
    [InlineData("https://acme.outsystems.dev/api/identity/v1/users", "https://ACME.outsystems.dev.:443/api/identity/v1/users")]
    public async Task SendAsync_TrailingDotSpellingOfOneHost_SharesOnePool(string first, string second)
    {
        using var services = RateLimitHost.Build(_time, CountingOk, b => b.AddOdcRateLimiting(o => o.DomainLimits["identity"] = 2));
        var client = services.Client(RateLimitHost.ClientName);

        (await client.GetAsync(first)).Dispose();
        (await client.GetAsync(second)).Dispose();
        var third = client.GetAsync(first);
        var fourth = client.GetAsync(second);
        await RateLimitHost.SettleAsync(() => services.Limiter().Queued == 2);

        Assert.Equal(2, Volatile.Read(ref _sent));
        await DrainAsync([third, fourth]);
        Assert.Equal(4, Volatile.Read(ref _sent));
    }

    private FakeHttpMessageHandler CountingOk() => new FakeHttpMessageHandler((_, _) =>
    {
        Interlocked.Increment(ref _sent);
        return Task.FromResult(new HttpResponseMessage(HttpStatusCode.OK) { Content = new StringContent("{}") });
    });

    // Lets queued requests finish so the provider disposes cleanly; fake time moves, the wall clock only guards a hang.
    private async Task DrainAsync(Task[] pending)
    {
        var all = Task.WhenAll(pending);
        var guard = Task.Delay(HangGuard);
        for (var i = 0; i < 200 && !all.IsCompleted && !guard.IsCompleted; i++)
        {
            _time.Advance(TimeSpan.FromSeconds(1));
            await Task.WhenAny(all, Task.Delay(5));
        }

        await all.WaitAsync(HangGuard);
    }
}
