using System.Collections.Concurrent;
using System.Net;

namespace OdcHandler.Redis.Tests;

/// <summary>Redis killed in the middle of the test and started again: API calls never fail because of it.</summary>
public sealed class RedisOutageTests(RedisServer redis) : IClassFixture<RedisServer>
{
    [Fact]
    public async Task RedisKilledAndRestarted_RequestsKeepWorkingAndSharingResumes()
    {
        var odc = RedisTokenCacheTests.CreateOdc();
        var warnings = new ConcurrentQueue<string>();
        var client = RedisTokenCacheTests.NewClient(odc);
        using var first = RedisTokenCacheTests.Instance(odc, redis.Configuration, client, warnings);
        Assert.Equal(HttpStatusCode.OK, await RedisTokenCacheTests.CallAsync(first));
        Assert.Equal(1, odc.TokenRequests);

        redis.Kill();
        try
        {
            using var duringOutage = RedisTokenCacheTests.Instance(odc, redis.Configuration, client, warnings, o => o.OperationTimeout = TimeSpan.FromSeconds(1));
            Assert.Equal(HttpStatusCode.OK, await RedisTokenCacheTests.CallAsync(duringOutage));
            Assert.Equal(HttpStatusCode.OK, await RedisTokenCacheTests.CallAsync(first));
            Assert.Equal(2, odc.TokenRequests);
            Assert.Contains(warnings, w => w.Contains("shared token store failed", StringComparison.Ordinal));
        }
        finally
        {
            await redis.StartAsync();
        }

        // A fresh Redis is empty: one instance fetches and shares, the next one reuses it.
        using var afterRestart = RedisTokenCacheTests.Instance(odc, redis.Configuration, client, warnings);
        using var another = RedisTokenCacheTests.Instance(odc, redis.Configuration, client, warnings);
        Assert.Equal(HttpStatusCode.OK, await RedisTokenCacheTests.CallAsync(afterRestart));
        Assert.Equal(HttpStatusCode.OK, await RedisTokenCacheTests.CallAsync(another));
        Assert.Equal(3, odc.TokenRequests);
    }
}
