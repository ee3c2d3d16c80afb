using System.Net;
using Microsoft.Extensions.DependencyInjection;
using Microsoft.Extensions.Time.Testing;
using OdcHandler.Demo;
using Xunit.Abstractions;

namespace OdcHandler.Tests.RateLimiting;

/// <summary>
/// Issue 12 item 6, measured on fake time against <see cref="LimitEnforcingApi"/> (an in-test stand-in for ODC's
/// limits until FakeOdcServer enforces them): 1,000 GETs on the identity domain and 50 deployment POSTs from 20
/// concurrent workers of one instance. Time moves straight to the next timer that is due, once every worker is
/// waiting: a replenishment second, a retry delay or a timeout.
/// </summary>
public sealed class RateLimitMeasurementTests(ITestOutputHelper output)
{
    private const int Workers = 20;
    private const int Gets = 1000;
    private const int Posts = 50;

    /// <summary>With at most 100 in any 60 s, the 1,000th GET cannot leave before 9 minutes have passed.</summary>
    private static readonly TimeSpan PhysicalMinimum = TimeSpan.FromMinutes(9);

    private readonly SteppingTimeProvider _time = new(new FakeTimeProvider(new DateTimeOffset(2026, 11, 30, 8, 0, 0, TimeSpan.Zero)));

    [Fact]
    public async Task Limiter_1000GetsAnd50DeploymentPostsFrom20Workers_No429AndWithin105PercentOfTheMinimum()
    {
        var api = new LimitEnforcingApi(_time);
        using var services = RateLimitHost.Build(_time, api.CreateHandler, b => b.AddOdcRateLimiting());
        var limiter = services.Limiter();

        var result = await RunAsync(services, api, settled: done => limiter.Queued + done == Workers);

        Report("AddOdcRateLimiting", api, result);
        Assert.Equal(0, api.TooManyRequests);
        Assert.Equal(0, result.Failed);
        Assert.Equal(Gets + Posts, api.Accepted);
        Assert.True(api.MostInAnyWindow["domain identity"] <= 100);
        Assert.True(api.MostInAnyWindow.Where(p => p.Key.StartsWith("POST", StringComparison.Ordinal)).All(p => p.Value <= 10));
        Assert.True(result.Elapsed >= PhysicalMinimum, $"done in {result.Elapsed}: faster than ODC's limits allow, so the fake does not enforce them");
        Assert.True(result.Elapsed <= PhysicalMinimum * 1.05, $"done in {result.Elapsed}, more than 1.05 x {PhysicalMinimum}");
    }

    [Fact]
    public async Task StandardResilienceHandlerAlone_SameLoad_Collects429sAndFails()
    {
        var api = new LimitEnforcingApi(_time);
        using var services = RateLimitHost.Build(_time, api.CreateHandler, b => b.AddStandardResilienceHandler());

        var result = await RunAsync(services, api, settled: null);

        Report("AddStandardResilienceHandler alone", api, result);
        Assert.True(api.TooManyRequests > 0);
        Assert.True(result.Failed > 0);
    }

    private async Task<Outcome> RunAsync(IServiceProvider services, LimitEnforcingApi api, Func<int, bool>? settled)
    {
        var client = services.GetRequiredService<IHttpClientFactory>().CreateClient(RateLimitHost.ClientName);
        var jobs = new System.Collections.Concurrent.ConcurrentQueue<bool>(
            Enumerable.Range(0, Gets + Posts).Select(i => i % 21 == 20));
        var start = _time.GetUtcNow();
        var done = 0;
        var failed = 0;
        var progress = 0;

        async Task Work()
        {
            await Task.Yield();
            while (jobs.TryDequeue(out var post))
            {
                try
                {
                    using var response = post
                        ? await client.PostAsync("deployments/v1/deployment-operations", new ByteArrayContent("{\"operation\":\"Deploy\"}"u8.ToArray()))
                        : await client.GetAsync("identity/v1/users?limit=100");
                    if (response.StatusCode != HttpStatusCode.OK)
                    {
                        Interlocked.Increment(ref failed);
                    }
                }
                catch (HttpRequestException)
                {
                    Interlocked.Increment(ref failed);
                }
                catch (Polly.ExecutionRejectedException)
                {
                    Interlocked.Increment(ref failed);
                }

                Interlocked.Increment(ref progress);
            }

            Interlocked.Increment(ref done);
        }

        var all = Task.WhenAll(Enumerable.Range(0, Workers).Select(_ => Work()));
        var steps = 0;
        while (!all.IsCompleted)
        {
            if (settled is not null)
            {
                await RateLimitHost.SettleAsync(() => all.IsCompleted || settled(Volatile.Read(ref done)));
            }
            else
            {
                // Nothing to ask the standard handler whether every worker waits: settle until nothing moves.
                var last = -1;
                for (var quiet = 0; quiet < 3 && !all.IsCompleted;)
                {
                    await Task.Delay(1);
                    var now = Volatile.Read(ref progress) + api.TooManyRequests + api.Accepted;
                    quiet = now == last && ThreadPool.PendingWorkItemCount == 0 ? quiet + 1 : 0;
                    last = now;
                }
            }

            if (!all.IsCompleted)
            {
                _time.AdvanceToNext(TimeSpan.FromMinutes(1));
                steps++;
            }
        }

        await all;
        return new Outcome(_time.GetUtcNow() - start, failed, steps);


    }

    private void Report(string contender, LimitEnforcingApi api, Outcome result) =>
        output.WriteLine(
            $"| {contender} | {api.Accepted} | {api.TooManyRequests} | {result.Failed} | {result.Elapsed.TotalMinutes:0.00} | {result.Elapsed / PhysicalMinimum:0.000} | {result.Steps} |");

    private sealed record Outcome(TimeSpan Elapsed, int Failed, int Steps);
}
