using System.Net;
using Microsoft.Extensions.DependencyInjection;
using Microsoft.Extensions.Time.Testing;

namespace OdcHandler.Testing.Tests;

/// <summary>
/// The client-side limiter (<c>AddOdcRateLimiting</c>) and the fake's server-side limits
/// (<see cref="OdcRateLimitTable.Published"/>) are written apart from each other; here they meet. Both run on
/// the same fake clock, so "no 429" does not depend on how fast the machine moves that clock.
/// </summary>
public sealed class RateLimiterAgainstFakeOdcTests
{
    [Fact]
    public async Task Limiter_OverTheDomainPoolAndAnEndpointCap_TheFakeRefusesNothing()
    {
        var time = new FakeTimeProvider(new DateTimeOffset(2026, 11, 30, 8, 0, 0, TimeSpan.Zero));
        var odc = new FakeOdcServer(time) { TokenLifetime = TimeSpan.FromDays(1) };
        odc.MapGet("/api/identity/v1/users", _ => new { results = Array.Empty<object>() });
        odc.MapPost("/api/deployments/v1/deployments", _ => new { key = Guid.NewGuid() });
        var services = new ServiceCollection();
        services.AddSingleton<TimeProvider>(time);
        services.AddHttpClient("odc", c => c.BaseAddress = new Uri(odc.PortalUri, "/api/"))
            .AddOdcAuthentication(o =>
            {
                o.PortalDomain = odc.PortalDomain;
                o.ClientId = FakeOdcServer.DefaultClientId;
                o.ClientSecret = FakeOdcServer.DefaultClientSecret;
            })
            .AddOdcRateLimiting()
            .UseFakeOdc(odc);
        await using var provider = services.BuildServiceProvider();
        var client = provider.GetRequiredService<IHttpClientFactory>().CreateClient("odc");

        // 250 GETs (2.5 windows of the identity pool) and 25 POSTs (2.5 windows of the deployment cap), 10 at a time.
        var calls = Enumerable.Range(0, 250).Select(_ => (Func<Task<HttpResponseMessage>>)(() => client.GetAsync("identity/v1/users")))
            .Concat(Enumerable.Range(0, 25).Select(_ => (Func<Task<HttpResponseMessage>>)(() => client.PostAsync("deployments/v1/deployments", null))))
            .ToList();
        var queue = new System.Collections.Concurrent.ConcurrentQueue<Func<Task<HttpResponseMessage>>>(calls);
        var statuses = new System.Collections.Concurrent.ConcurrentBag<HttpStatusCode>();
        var workers = Enumerable.Range(0, 10).Select(_ => Task.Run(async () =>
        {
            while (queue.TryDequeue(out var call))
            {
                using var response = await call();
                statuses.Add(response.StatusCode);
            }
        })).ToArray();
        var all = Task.WhenAll(workers);
        for (var step = 0; step < 2000 && !all.IsCompleted; step++)
        {
            await Task.WhenAny(all, Task.Delay(5));
            time.Advance(TimeSpan.FromSeconds(1));
        }

        await all.WaitAsync(TimeSpan.FromSeconds(30));
        Assert.Equal(0, odc.ThrottledApiRequests);
        Assert.Equal(275, statuses.Count);
        Assert.All(statuses, status => Assert.Equal(HttpStatusCode.OK, status));
    }
}
