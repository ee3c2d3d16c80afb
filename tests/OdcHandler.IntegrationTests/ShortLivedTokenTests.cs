using System.Diagnostics;
using System.Net;
using Microsoft.Extensions.DependencyInjection;

namespace OdcHandler.IntegrationTests;

/// <summary>
/// 6-second tokens: refreshed half-way, which leaves 3 s for the background refresh to land even when the
/// machine is busy running the other test assemblies at the same time.
/// </summary>
public sealed class ShortLivedTokensServer() : OpenIddictServerFixture(TimeSpan.FromSeconds(6));

/// <summary>Real time, a few seconds: short-lived tokens are replaced before they expire, so the API never rejects one.</summary>
public sealed class ShortLivedTokenTests(ShortLivedTokensServer fixture) : IClassFixture<ShortLivedTokensServer>
{
    [Fact]
    public async Task ShortLivedTokens_AreRefreshedBeforeExpiryWithoutAnyRejectedCall()
    {
        var server = fixture.Server;
        await using var provider = server.CreateClientServices();
        var client = provider.GetRequiredService<IHttpClientFactory>().CreateClient(OpenIddictOdcServer.ClientName);
        var tokensBefore = server.TokenRequests;
        var rejectedBefore = server.RejectedApiRequests;

        // 7 s of calls every 100 ms: past the first token's 6 s lifetime, so it must have been replaced in time.
        var watch = Stopwatch.StartNew();
        var calls = 0;
        while (watch.Elapsed < TimeSpan.FromSeconds(7))
        {
            using var response = await client.GetAsync("identity/v1/users");
            Assert.Equal(HttpStatusCode.OK, response.StatusCode);
            calls++;
            await Task.Delay(100);
        }

        Assert.True(calls > 20, $"only {calls} calls in 7 s");
        Assert.InRange(server.TokenRequests - tokensBefore, 2, 4);
        Assert.True(server.RejectedApiRequests == rejectedBefore, $"{server.RejectedApiRequests - rejectedBefore} calls were rejected: a token was used past its expiry");
    }
}
