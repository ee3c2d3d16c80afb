using System.Collections.Concurrent;
using System.Net;
using Microsoft.Extensions.DependencyInjection;
using Microsoft.Extensions.Time.Testing;
using OdcHandler.Tests.Fakes;
using OdcHandler.Tests.RateLimiting;

namespace OdcHandler.Tests.Attacks;

/// <summary>
/// Review 12b: a second outside attempt on the README's rate-limit promises (section "Rate limits"), aimed at the
/// endpoint hold (RateLimit.Hold), the permit handoffs, host and path matching, and the fleet path. Each test fails
/// while the promise it names does not hold. Time is fake; the wall clock only guards against a hang.
/// </summary>
public sealed class RateLimitReview2Tests
{
    private const string Operations = "deployments/v1/deployment-operations";
    private static readonly TimeSpan HangGuard = TimeSpan.FromSeconds(60);
    private static readonly DateTimeOffset Start = new(2026, 11, 30, 8, 0, 0, TimeSpan.Zero);
    private readonly FakeTimeProvider _time = new(Start);
    private readonly ConcurrentQueue<(HttpMethod Method, string Path, TimeSpan At)> _sent = new();

    /// <summary>
    /// README: "A request waits at most MaxWait (2 minutes), then fails unsent". On the fleet path a request refused by
    /// the store sleeps until the store says a permit can be free; when the store then fails, the request falls back to
    /// the local limiter with a fresh MaxWait. Refused at t = 0 with "ask again in 119 s", it finds the local pool spent
    /// at 119 (100 permits the store granted at 118, mirrored locally) and leaves at 179: 179 s after it was sent.
    /// </summary>
    [Fact]
    public async Task Fleet_StoreFailsAfterARefusal_RequestWaitsAtMostMaxWaitInAll()
    {
        var store = new ScriptedStore { Refusal = TimeSpan.FromSeconds(119) };
        using var services = RateLimitHost.Build(_time, Recording, b => b.AddOdcRateLimiting().UseRateLimitStore(_ => store));
        var client = services.Client(RateLimitHost.ClientName);

        var late = client.GetAsync("identity/v1/users?late");
        var pending = new List<Task<HttpResponseMessage>> { late };
        await SettleAsync(pending, services);
        Assert.Equal(1, services.Limiter().Queued);

        await AdvanceToAsync(TimeSpan.FromSeconds(118), pending, services);
        store.Refusal = TimeSpan.Zero;
        for (var i = 0; i < 100; i++)
        {
            (await client.GetAsync("identity/v1/users")).Dispose();
        }

        store.Fails = true;
        await AdvanceToAsync(TimeSpan.FromSeconds(300), pending, services);

        var outcome = await Record.ExceptionAsync(() => late.WaitAsync(HangGuard));
        var sentAt = _sent.Where(s => s.Path.Contains("late", StringComparison.Ordinal)).Select(s => (TimeSpan?)s.At).SingleOrDefault();
        Assert.True(
            sentAt is null || sentAt <= TimeSpan.FromMinutes(2),
            $"the request reached the server {sentAt} after it was sent (MaxWait 2 min); outcome: {outcome?.GetType().Name ?? "sent"}");
    }

    private HttpMessageHandler Recording() => new FakeHttpMessageHandler((request, _) =>
    {
        _sent.Enqueue((request.Method, request.RequestUri!.PathAndQuery, _time.GetUtcNow() - Start));
        return Task.FromResult(new HttpResponseMessage(HttpStatusCode.OK) { Content = new StringContent("{}") });
    });

    private IEnumerable<TimeSpan> PostsSent() => _sent.Where(s => s.Method == HttpMethod.Post).Select(s => s.At);

    private static Task SettleAsync(List<Task<HttpResponseMessage>> pending, IServiceProvider services) =>
        RateLimitHost.SettleAsync(() => services.Limiter().Queued == pending.Count(t => !t.IsCompleted));

    // Moves fake time one second at a time, letting released work run before the next second.
    private async Task AdvanceToAsync(TimeSpan at, List<Task<HttpResponseMessage>> pending, IServiceProvider services)
    {
        while (_time.GetUtcNow() - Start < at)
        {
            _time.Advance(TimeSpan.FromSeconds(1));
            await SettleAsync(pending, services);
        }
    }

    /// <summary>A fleet store that grants, refuses with a fixed wait, or fails, as the test says.</summary>
    private sealed class ScriptedStore : IOdcRateLimitStore
    {
        public TimeSpan Refusal { get; set; }

        public bool Fails { get; set; }

        public ValueTask<(TimeSpan Wait, int RefusedBy)> TryAcquireAsync(IReadOnlyList<(string Key, int Limit)> limits, DateTimeOffset now, TimeSpan window, CancellationToken cancellationToken) =>
            Fails ? throw new InvalidOperationException("store down") : ValueTask.FromResult((Refusal, 0));
    }
}
