using System.Collections.Concurrent;
using System.Net;
using System.Net.Sockets;
using Microsoft.Extensions.DependencyInjection;
using Microsoft.Extensions.Logging;
using Microsoft.Extensions.Time.Testing;
using OdcHandler.Internal;
using OdcHandler.Testing;
using Xunit.Abstractions;

namespace OdcHandler.Redis.Tests;

/// <summary>
/// Issue 12 item 5: several instances (service providers) on one fake clock take their permits from one budget in a
/// real Redis, against a <see cref="FakeOdcServer"/> enforcing ODC's limits on the same clock. Time moves in 1-second
/// steps, each once every worker waits (for a permit, before asking Redis again, or before a resend) or is done.
/// </summary>
public sealed class RedisRateLimitTests(RedisServer redis, ITestOutputHelper output) : IClassFixture<RedisServer>
{
    private const int Instances = 5;
    private const int WorkersPerInstance = 4;
    private const int Gets = 300;
    private const string ClientName = "odc";
    private static readonly TimeSpan Window = TimeSpan.FromMinutes(1);

    private readonly FakeTimeProvider _time = new(new DateTimeOffset(2026, 11, 30, 8, 0, 0, TimeSpan.Zero));
    private readonly ConcurrentQueue<(EventId Id, LogLevel Level, string Message)> _logs = new();
    private readonly List<DateTimeOffset> _accepted = [];

    [Fact]
    public async Task FiveInstancesSharingRedis_300IdentityGets_NeverMoreThan100InAny60sAndNo429()
    {
        var odc = CreateOdc();
        var prefix = "test-" + Guid.NewGuid().ToString("N") + ":";
        var instances = Enumerable.Range(0, Instances)
            .Select(_ => Instance(odc, b => b.UseRedisRateLimits(o =>
            {
                o.Configuration = redis.Configuration;
                o.KeyPrefix = prefix;
                o.OperationTimeout = TimeSpan.FromSeconds(5);
            })))
            .ToList();

        var outcome = await RunAsync(instances, Gets);

        Report("5 instances sharing Redis", odc, outcome);
        Assert.Equal(0, odc.ThrottledApiRequests);
        Assert.Equal(0, outcome.Failed);
        Assert.Equal(Gets, _accepted.Count);
        Assert.True(MostInAnyWindow() <= 100, $"{MostInAnyWindow()} in one 60 s window");
        Assert.True(outcome.Elapsed >= TimeSpan.FromMinutes(2), $"done in {outcome.Elapsed}: faster than 100 a minute allows");
        Assert.DoesNotContain(_logs, l => l.Id.Id == 43);
        instances.ForEach(i => i.Dispose());
    }

    [Fact]
    public async Task FiveInstancesWithoutSharing_300IdentityGets_Collect429s()
    {
        var odc = CreateOdc();
        var instances = Enumerable.Range(0, Instances).Select(_ => Instance(odc, b => b.AddOdcRateLimiting())).ToList();

        var outcome = await RunAsync(instances, Gets);

        Report("5 instances, each its own limiter", odc, outcome);
        Assert.True(odc.ThrottledApiRequests > 0);
        instances.ForEach(i => i.Dispose());
    }

    [Fact]
    public async Task RedisUnreachable_EachInstanceFallsBackToItsLocalLimiter_OneWarning()
    {
        var odc = CreateOdc();
        using var instance = Instance(odc, b => b.UseRedisRateLimits(o =>
        {
            o.Configuration = $"127.0.0.1:{ClosedPort()}";
            o.OperationTimeout = TimeSpan.FromMilliseconds(300);
        }));

        // 150 GETs take more than a minute: Redis is asked again (every 30 s on the fake clock) and fails again.
        var outcome = await RunAsync([instance], 150);

        Report("1 instance, Redis unreachable", odc, outcome);
        Assert.Equal(0, odc.ThrottledApiRequests);
        Assert.Equal(0, outcome.Failed);
        Assert.Equal(150, _accepted.Count);
        Assert.True(MostInAnyWindow() <= 100, $"{MostInAnyWindow()} in one 60 s window");
        Assert.True(outcome.Elapsed >= TimeSpan.FromMinutes(1), $"done in {outcome.Elapsed}: not limited");
        Assert.Single(_logs, l => l.Id.Id == 43 && l.Level == LogLevel.Warning);
    }

    [Fact]
    public async Task RedisKilledAndRestarted_FallsBackThenSharesAgain()
    {
        var odc = CreateOdc();
        using var instance = Instance(odc, b => b.UseRedisRateLimits(o =>
        {
            o.Configuration = redis.Configuration;
            o.KeyPrefix = "test-" + Guid.NewGuid().ToString("N") + ":";
            o.OperationTimeout = TimeSpan.FromMilliseconds(500);
        }));
        var client = instance.GetRequiredService<IHttpClientFactory>().CreateClient(ClientName);
        Assert.Equal(HttpStatusCode.OK, (await client.GetAsync("identity/v1/users")).StatusCode);

        redis.Kill();
        try
        {
            Assert.Equal(HttpStatusCode.OK, (await client.GetAsync("identity/v1/users")).StatusCode);
            Assert.Equal(HttpStatusCode.OK, (await client.GetAsync("identity/v1/users")).StatusCode);
            Assert.Single(_logs, l => l.Id.Id == 43);
        }
        finally
        {
            await redis.StartAsync();
        }

        // Not asked again before the retry interval; then the first request asks, and Redis answers (reconnecting may take a moment).
        _time.Advance(FleetPermits.RetryInterval);
        for (var attempt = 0; attempt < 20 && !_logs.Any(l => l.Id.Id == 44); attempt++)
        {
            Assert.Equal(HttpStatusCode.OK, (await client.GetAsync("identity/v1/users")).StatusCode);
            _time.Advance(FleetPermits.RetryInterval);
        }

        Assert.Single(_logs, l => l.Id.Id == 44);
        Assert.Single(_logs, l => l.Id.Id == 43);
    }

    /// <summary>
    /// A request refused by the shared budget past MaxWait names the limit Redis refused it for: a spent domain pool when
    /// its endpoint cap has permits left, the cap when the pool has.
    /// </summary>
    [Theory]
    [InlineData(2, 10, "deployments")]
    [InlineData(100, 1, "POST deployments/v1/deployment-operations")]
    public async Task SharedBudgetSpent_TheExceptionNamesTheLimitRedisRefused(int domainPool, int endpointCap, string expected)
    {
        var odc = CreateOdc();
        odc.MapGet("/api/deployments/v1/deployment-operations", _ => new { results = Array.Empty<object>() });
        odc.MapPost("/api/deployments/v1/deployment-operations", _ => new { key = Guid.NewGuid() });
        var prefix = "test-" + Guid.NewGuid().ToString("N") + ":";
        using var instance = Instance(odc, b => b
            .AddOdcRateLimiting(o =>
            {
                o.DomainLimits["deployments"] = domainPool;
                o.EndpointLimits["POST deployments/v1/*"] = endpointCap;
                o.MaxWait = TimeSpan.Zero;
            })
            .UseRedisRateLimits(o =>
            {
                o.Configuration = redis.Configuration;
                o.KeyPrefix = prefix;
                o.OperationTimeout = TimeSpan.FromSeconds(5);
            }));
        var client = instance.GetRequiredService<IHttpClientFactory>().CreateClient(ClientName);
        // Spend the tighter of the two: the pool with GETs (which leave the POST cap alone), or the cap with POSTs.
        for (var i = 0; i < Math.Min(domainPool, endpointCap); i++)
        {
            using var spent = domainPool < endpointCap
                ? await client.GetAsync("deployments/v1/deployment-operations")
                : await client.PostAsync("deployments/v1/deployment-operations", new StringContent("{}"));
            spent.EnsureSuccessStatusCode();
        }

        var refused = await Assert.ThrowsAsync<OdcRateLimitExceededException>(() => client.PostAsync("deployments/v1/deployment-operations", new StringContent("{}")));

        Assert.Equal(expected, refused.LimitName);
        Assert.DoesNotContain(_logs, l => l.Id.Id == 43);
    }

    private FakeOdcServer CreateOdc()
    {
        var odc = new FakeOdcServer(_time);
        odc.MapGet("/api/identity/v1/users", _ =>
        {
            lock (_accepted)
            {
                _accepted.Add(_time.GetUtcNow());
            }

            return new { results = Array.Empty<object>() };
        });
        return odc;
    }

    private ServiceProvider Instance(FakeOdcServer odc, Action<IHttpClientBuilder> limits)
    {
        var services = new ServiceCollection();
        services.AddSingleton<TimeProvider>(_time);
        services.AddLogging(logging => logging.AddProvider(new LogCollector(_logs)));
        var client = services.AddHttpClient(ClientName, c => c.BaseAddress = new Uri(odc.PortalUri, "/api/"))
            .AddOdcAuthentication(o =>
            {
                o.PortalDomain = odc.PortalDomain;
                o.ClientId = FakeOdcServer.DefaultClientId;
                o.ClientSecret = FakeOdcServer.DefaultClientSecret;
            });
        limits(client);
        client.UseFakeOdc(odc);
        return services.BuildServiceProvider();
    }

    private async Task<Outcome> RunAsync(List<ServiceProvider> instances, int gets)
    {
        var jobs = new ConcurrentQueue<int>(Enumerable.Range(0, gets));
        var limiters = instances.Select(i => i.GetRequiredService<OdcRateLimiterRegistry>().Get(ClientName)).ToList();
        var workers = instances.Count * WorkersPerInstance;
        var start = _time.GetUtcNow();
        var done = 0;
        var failed = 0;

        async Task Work(HttpClient client)
        {
            await Task.Yield();
            while (jobs.TryDequeue(out _))
            {
                using var response = await client.GetAsync("identity/v1/users");
                if (response.StatusCode != HttpStatusCode.OK)
                {
                    Interlocked.Increment(ref failed);
                }
            }

            Interlocked.Increment(ref done);
        }

        var all = Task.WhenAll(instances.SelectMany(i => Enumerable.Range(0, WorkersPerInstance)
            .Select(_ => Work(i.GetRequiredService<IHttpClientFactory>().CreateClient(ClientName)))));
        while (!all.IsCompleted)
        {
            // Wall-clock polling only to let released work run until it waits again; the outcome never depends on it.
            for (var i = 0; i < 5000 && !all.IsCompleted && limiters.Sum(l => l.Queued) + Volatile.Read(ref done) != workers; i++)
            {
                await Task.Delay(1);
            }

            if (!all.IsCompleted)
            {
                _time.Advance(TimeSpan.FromSeconds(1));
            }
        }

        await all;
        return new Outcome(_time.GetUtcNow() - start, failed);
    }

    /// <summary>The most requests the server accepted in any 60 s (a half-open window, as ODC and the fake count).</summary>
    private int MostInAnyWindow()
    {
        var times = _accepted.Order().ToArray();
        var most = 0;
        for (int first = 0, last = 0; first < times.Length; first++)
        {
            while (last < times.Length && times[last] - times[first] < Window)
            {
                last++;
            }

            most = Math.Max(most, last - first);
        }

        return most;
    }

    private void Report(string contender, FakeOdcServer odc, Outcome outcome) =>
        output.WriteLine($"| {contender} | accepted {_accepted.Count} | 429s {odc.ThrottledApiRequests} | failed {outcome.Failed} | most in 60 s {MostInAnyWindow()} | {outcome.Elapsed.TotalMinutes:0.00} min |");

    private static int ClosedPort()
    {
        using var probe = new TcpListener(IPAddress.Loopback, 0);
        probe.Start();
        return ((IPEndPoint)probe.LocalEndpoint).Port;
    }

    private sealed record Outcome(TimeSpan Elapsed, int Failed);

    private sealed class LogCollector(ConcurrentQueue<(EventId, LogLevel, string)> logs) : ILoggerProvider
    {
        public ILogger CreateLogger(string categoryName) => new Logger(logs);

        public void Dispose()
        {
        }

        private sealed class Logger(ConcurrentQueue<(EventId, LogLevel, string)> logs) : ILogger
        {
            public IDisposable? BeginScope<TState>(TState state)
                where TState : notnull => null;

            public bool IsEnabled(LogLevel logLevel) => logLevel >= LogLevel.Information;

            public void Log<TState>(LogLevel logLevel, EventId eventId, TState state, Exception? exception, Func<TState, Exception?, string> formatter)
            {
                if (IsEnabled(logLevel))
                {
                    logs.Enqueue((eventId, logLevel, formatter(state, exception)));
                }
            }
        }
    }
}
