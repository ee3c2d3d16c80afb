using System.Collections.Concurrent;
using System.Net;
using Microsoft.AspNetCore.DataProtection;
using Microsoft.Extensions.DependencyInjection;
using Microsoft.Extensions.Logging;
using Microsoft.Extensions.Time.Testing;
using OdcHandler.Internal;
using OdcHandler.Testing;
using StackExchange.Redis;

namespace OdcHandler.Redis.Tests;

/// <summary>Several independent service providers ("instances") sharing one token through a real Redis.</summary>
public sealed class RedisTokenCacheTests(RedisServer redis) : IClassFixture<RedisServer>
{
    private static readonly IDataProtectionProvider s_sharedKeyRing = new Microsoft.AspNetCore.DataProtection.EphemeralDataProtectionProvider();

    private readonly FakeOdcServer _odc = CreateOdc();
    private readonly ConcurrentQueue<string> _warnings = new();

    internal static FakeOdcServer CreateOdc()
    {
        var odc = new FakeOdcServer();
        odc.MapGet("/api/identity/v1/users", _ => new { results = Array.Empty<object>() });
        return odc;
    }

    internal static ServiceProvider Instance(FakeOdcServer odc, string redisConfiguration, string clientId, ConcurrentQueue<string> warnings, Action<OdcRedisTokenCacheOptions>? configure = null, bool dataProtection = true, TimeProvider? time = null)
    {
        var services = new ServiceCollection();
        if (time is not null)
        {
            services.AddSingleton(time);
        }
        if (dataProtection)
        {
            services.AddSingleton(s_sharedKeyRing);
        }

        services.AddLogging(logging => logging.AddProvider(new WarningCollector(warnings)));
        services.AddHttpClient("odc", c => c.BaseAddress = new Uri(odc.PortalUri, "/api/"))
            .AddOdcAuthentication(o =>
            {
                o.PortalDomain = odc.PortalDomain;
                o.ClientId = clientId;
                o.ClientSecret = "fleet-secret";
            })
            .UseRedisTokenCache(o =>
            {
                o.Configuration = redisConfiguration;
                o.KeyPrefix = "test-" + clientId + ":";

                // Connections open lazily, twenty at once in one test, on a loaded 2-core machine: room enough that
                // the tests are about sharing and single flight, not about the 1-second default timeout.
                o.OperationTimeout = TimeSpan.FromSeconds(5);
                configure?.Invoke(o);
            })
            .UseFakeOdc(odc);
        return services.BuildServiceProvider();
    }

    private ServiceProvider Instance(string clientId, Action<OdcRedisTokenCacheOptions>? configure = null, string? redisConfiguration = null, bool dataProtection = true, TimeProvider? time = null) =>
        Instance(_odc, redisConfiguration ?? redis.Configuration, clientId, _warnings, configure, dataProtection, time);

    internal static async Task<HttpStatusCode> CallAsync(ServiceProvider instance)
    {
        using var response = await instance.GetRequiredService<IHttpClientFactory>().CreateClient("odc").GetAsync("identity/v1/users");
        return response.StatusCode;
    }

    internal static string NewClient(FakeOdcServer odc)
    {
        var id = "fleet-" + Guid.NewGuid().ToString("N");
        odc.Clients.Add(id, "fleet-secret");
        return id;
    }

    [Fact]
    public async Task ThreeInstances_ShareOneToken()
    {
        var client = NewClient(_odc);
        var instances = Enumerable.Range(0, 3).Select(_ => Instance(client)).ToList();

        foreach (var instance in instances)
        {
            Assert.Equal(HttpStatusCode.OK, await CallAsync(instance));
        }

        Assert.Equal(1, _odc.TokenRequests);
        instances.ForEach(i => i.Dispose());
    }

    [Fact]
    public async Task TwentyInstancesStartingTogether_CauseOneTokenRequest()
    {
        var client = NewClient(_odc);
        var instances = Enumerable.Range(0, 20).Select(_ => Instance(client)).ToList();

        var statuses = await Task.WhenAll(instances.Select(i => Task.Run(() => CallAsync(i))));

        Assert.All(statuses, s => Assert.Equal(HttpStatusCode.OK, s));
        Assert.Equal(1, _odc.TokenRequests);
        instances.ForEach(i => i.Dispose());
    }

    [Fact]
    public async Task TokenRevoked_TheFirstInstanceReplacesItInRedisAndTheOthersPickUpTheReplacement()
    {
        var client = NewClient(_odc);
        using var first = Instance(client);
        using var second = Instance(client);
        Assert.Equal(HttpStatusCode.OK, await CallAsync(first));
        Assert.Equal(HttpStatusCode.OK, await CallAsync(second));
        _odc.RevokeAllTokens();

        Assert.Equal(HttpStatusCode.OK, await CallAsync(first));
        Assert.Equal(HttpStatusCode.OK, await CallAsync(second));

        // One token at first, one replacement for both: the revoked token never came back from Redis.
        Assert.Equal(2, _odc.TokenRequests);
        Assert.Equal(2, _odc.RejectedApiRequests);
    }

    [Fact]
    public async Task LeaseHolderDied_OthersFetchThemselvesAfterTheBoundedWait()
    {
        var client = NewClient(_odc);
        using var instance = Instance(client, o => o.LeaseWait = TimeSpan.FromMilliseconds(600));
        var key = instance.GetRequiredService<OdcAccessTokenProvider>().GetManager("odc").Settings.CacheKey.SharedName();
        using var connection = await ConnectionMultiplexer.ConnectAsync(redis.Configuration);

        // A holder that took the lease and crashed: the lease is there, no token ever comes.
        await connection.GetDatabase().StringSetAsync($"test-{client}:lease:{key}", "crashed-instance", TimeSpan.FromSeconds(30));
        var watch = System.Diagnostics.Stopwatch.StartNew();

        Assert.Equal(HttpStatusCode.OK, await CallAsync(instance));

        Assert.Equal(1, _odc.TokenRequests);
        Assert.InRange(watch.Elapsed, TimeSpan.FromMilliseconds(500), TimeSpan.FromSeconds(10));
    }

    [Fact]
    public async Task TokensAreEncryptedAtRestUnderOpaqueKeys()
    {
        var client = NewClient(_odc);
        using var instance = Instance(client);
        Assert.Equal(HttpStatusCode.OK, await CallAsync(instance));
        var token = await instance.GetRequiredService<IOdcAccessTokenProvider>().GetTokenAsync("odc");
        using var connection = await ConnectionMultiplexer.ConnectAsync(redis.Configuration + ",allowAdmin=true");
        var server = connection.GetServer(redis.Configuration);

        var keys = server.Keys(pattern: $"test-{client}:*").Select(k => (string)k!).ToList();
        var tokenKey = Assert.Single(keys, k => k.Contains(":token:", StringComparison.Ordinal));
        var raw = (string)(await connection.GetDatabase().StringGetAsync(tokenKey))!;

        Assert.DoesNotContain(token.Value, raw, StringComparison.Ordinal);
        Assert.DoesNotContain(token.Value.Split('.')[1], raw, StringComparison.Ordinal);
        Assert.DoesNotContain("fleet-secret", tokenKey[$"test-{client}:".Length..], StringComparison.Ordinal);
        Assert.DoesNotContain(client, tokenKey[$"test-{client}:".Length..], StringComparison.Ordinal);
    }

    [Fact]
    public async Task GarbageInRedis_IsIgnoredAndReplaced()
    {
        var client = NewClient(_odc);
        using var instance = Instance(client);
        var key = instance.GetRequiredService<OdcAccessTokenProvider>().GetManager("odc").Settings.CacheKey.SharedName();
        using var connection = await ConnectionMultiplexer.ConnectAsync(redis.Configuration);
        await connection.GetDatabase().StringSetAsync($"test-{client}:token:{key}", "not a protected token {", TimeSpan.FromMinutes(5));

        Assert.Equal(HttpStatusCode.OK, await CallAsync(instance));

        Assert.Equal(1, _odc.TokenRequests);
        var stored = (string)(await connection.GetDatabase().StringGetAsync($"test-{client}:token:{key}"))!;
        Assert.NotEqual("not a protected token {", stored);
    }

    [Theory]
    [InlineData(true)]
    [InlineData(false)]
    public async Task EntryCopiedToAnotherClientsKey_IsRejectedAndThatClientFetchesItsOwn(bool dataProtection)
    {
        var clientA = NewClient(_odc);
        var clientB = NewClient(_odc);
        void Configure(OdcRedisTokenCacheOptions o)
        {
            o.KeyPrefix = "test-copy:";
            o.AllowUnprotectedTokens = !dataProtection;
        }

        using var a = Instance(clientA, Configure, dataProtection: dataProtection);
        using var b = Instance(clientB, Configure, dataProtection: dataProtection);
        Assert.Equal(HttpStatusCode.OK, await CallAsync(a));
        var tokenOfA = await a.GetRequiredService<IOdcAccessTokenProvider>().GetTokenAsync("odc");
        var keyOfA = "test-copy:token:" + a.GetRequiredService<OdcAccessTokenProvider>().GetManager("odc").Settings.CacheKey.SharedName();
        var keyOfB = "test-copy:token:" + b.GetRequiredService<OdcAccessTokenProvider>().GetManager("odc").Settings.CacheKey.SharedName();

        // Someone with write access to Redis (but not to the key ring) plants A's entry under B's key.
        using var connection = await ConnectionMultiplexer.ConnectAsync(redis.Configuration);
        var database = connection.GetDatabase();
        var raw = await database.StringGetAsync(keyOfA);
        Assert.False(raw.IsNullOrEmpty);
        await database.StringSetAsync(keyOfB, raw, TimeSpan.FromMinutes(30));

        Assert.Equal(HttpStatusCode.OK, await CallAsync(b));

        var tokenOfB = await b.GetRequiredService<IOdcAccessTokenProvider>().GetTokenAsync("odc");
        Assert.NotEqual(tokenOfA.Value, tokenOfB.Value);
        Assert.Equal(2, _odc.TokenRequests);
    }

    [Fact]
    public async Task RedisUnreachable_RequestsStillWorkWithAWarning()
    {
        var client = NewClient(_odc);
        using var instance = Instance(client, o => o.OperationTimeout = TimeSpan.FromSeconds(1), "127.0.0.1:1");

        Assert.Equal(HttpStatusCode.OK, await CallAsync(instance));
        Assert.Equal(HttpStatusCode.OK, await CallAsync(instance));

        Assert.Equal(1, _odc.TokenRequests);
        Assert.Contains(_warnings, w => w.Contains("shared token store failed", StringComparison.Ordinal));
    }

    [Fact]
    public async Task RedisUnreachable_TheTokenRequestStartsAtOnceWithoutWaitingForALease()
    {
        var time = new FakeTimeProvider();
        var leaseWait = TimeSpan.FromSeconds(5);
        var client = NewClient(_odc);
        using var instance = Instance(client, o => (o.OperationTimeout, o.LeaseWait) = (TimeSpan.FromSeconds(1), leaseWait), "127.0.0.1:1", time: time);

        var call = instance.GetRequiredService<IOdcAccessTokenProvider>().GetTokenAsync("odc").AsTask();

        // Fake time stands still: a caller that took the failed lease for another instance's and waited
        // LeaseWait for its token would never get there. The 30 s only stop a broken build from hanging.
        var fetchedWithoutWaiting = await Task.WhenAny(call, Task.Delay(TimeSpan.FromSeconds(30))) == call;
        var requestsBeforeLeaseWait = _odc.TokenRequests;
        time.Advance(leaseWait + TimeSpan.FromSeconds(1));
        await call;

        Assert.True(fetchedWithoutWaiting, "The token request waited for fake time to pass LeaseWait although Redis was down.");
        Assert.Equal(1, requestsBeforeLeaseWait);
        Assert.Equal(1, _odc.TokenRequests);
    }

    [Theory]
    [InlineData(30)]
    [InlineData(-30)]
    public async Task ReaderClockSkewedFromWritersBy30Seconds_UsesTheSharedTokenUntilItsRealExpiryAndNoLonger(int skewSeconds)
    {
        // 50-second tokens: refreshed 25 to 37.5 s before expiry, so a reader 30 s ahead that judged the
        // writer's expiry by its own clock would refuse the token, and one 30 s behind would keep it 30 s too long.
        _odc.TokenLifetime = TimeSpan.FromSeconds(50);
        var writerTime = new FakeTimeProvider();
        var readerTime = new FakeTimeProvider(writerTime.GetUtcNow() + TimeSpan.FromSeconds(skewSeconds));
        var client = NewClient(_odc);
        using var writer = Instance(client, time: writerTime);
        using var reader = Instance(client, time: readerTime);

        Assert.Equal(HttpStatusCode.OK, await CallAsync(writer));

        // The entry lives in Redis as long as the token does, by the writer's injected clock (fake, years off the wall clock).
        var key = $"test-{client}:token:" + writer.GetRequiredService<OdcAccessTokenProvider>().GetManager("odc").Settings.CacheKey.SharedName();
        using var connection = await ConnectionMultiplexer.ConnectAsync(redis.Configuration);
        var timeToLive = await connection.GetDatabase().KeyTimeToLiveAsync(key);
        Assert.NotNull(timeToLive);
        Assert.InRange(timeToLive.Value, TimeSpan.FromSeconds(40), TimeSpan.FromSeconds(50));

        Assert.Equal(HttpStatusCode.OK, await CallAsync(reader));
        var token = await reader.GetRequiredService<IOdcAccessTokenProvider>().GetTokenAsync("odc");

        Assert.Equal(1, _odc.TokenRequests);
        var left = token.ExpiresAt - readerTime.GetUtcNow();
        Assert.InRange(left, TimeSpan.FromSeconds(40), TimeSpan.FromSeconds(50));
    }

    [Fact]
    public async Task NoDataProtection_IsRefusedWithAMessageSayingWhatToRegister()
    {
        var services = new ServiceCollection();
        services.AddHttpClient("odc").AddOdcAuthentication(o =>
        {
            o.PortalDomain = _odc.PortalDomain;
            o.ClientId = FakeOdcServer.DefaultClientId;
            o.ClientSecret = FakeOdcServer.DefaultClientSecret;
        }).UseRedisTokenCache(o => o.Configuration = redis.Configuration).UseFakeOdc(_odc);
        using var provider = services.BuildServiceProvider();

        var failure = Assert.Throws<InvalidOperationException>(() => provider.GetRequiredService<IHttpClientFactory>().CreateClient("odc"));

        Assert.Contains("AddDataProtection", failure.Message, StringComparison.Ordinal);
    }

    internal sealed class WarningCollector(ConcurrentQueue<string> warnings) : ILoggerProvider
    {
        public ILogger CreateLogger(string categoryName) => new Logger(warnings);

        public void Dispose()
        {
        }

        private sealed class Logger(ConcurrentQueue<string> warnings) : ILogger
        {
            public IDisposable? BeginScope<TState>(TState state)
                where TState : notnull => null;

            public bool IsEnabled(LogLevel logLevel) => logLevel >= LogLevel.Warning;

            public void Log<TState>(LogLevel logLevel, EventId eventId, TState state, Exception? exception, Func<TState, Exception?, string> formatter)
            {
                if (IsEnabled(logLevel))
                {
                    warnings.Enqueue(formatter(state, exception));
                }
            }
        }
    }
}
