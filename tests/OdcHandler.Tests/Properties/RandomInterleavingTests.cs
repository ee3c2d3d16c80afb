using System.Net;
using Microsoft.Extensions.DependencyInjection;
using OdcHandler.Internal;
using OdcHandler.Tests.Fakes;

namespace OdcHandler.Tests.Properties;

/// <summary>
/// Seeded random schedules of concurrent requests, revocations, token endpoint failures and jumps in time
/// (across refresh windows and expiry). Whatever the interleaving, three invariants hold: at most one token
/// request in flight per client, no request reaches the API without a token, no request is sent more than twice.
/// </summary>
public sealed class RandomInterleavingTests(Xunit.Abstractions.ITestOutputHelper output)
{
    private const int Seeds = 25;
    private const int StepsPerSeed = 60;

    [Fact]
    public async Task RandomSchedules_KeepTheInvariants()
    {
        for (var seed = 1; seed <= Seeds; seed++)
        {
            await RunScheduleAsync(seed);
        }
    }

    private async Task RunScheduleAsync(int seed)
    {
        var random = new Random(seed);
        var server = new FakeIdentityServer();
        var inFlight = 0;
        var maxInFlight = 0;
        var tokenMode = 0;
        server.TokenResponder = _ =>
        {
            var now = Interlocked.Increment(ref inFlight);
            InterlockedMax(ref maxInFlight, now);
            try
            {
                // Stay "in flight" a moment so overlapping fetches would be seen.
                Thread.SpinWait(2000);
                return Volatile.Read(ref tokenMode) switch
                {
                    1 => new HttpResponseMessage(HttpStatusCode.ServiceUnavailable),
                    2 => FakeIdentityServer.Json(HttpStatusCode.Unauthorized, """{"error":"invalid_client"}"""),
                    _ => server.IssueToken(),
                };
            }
            finally
            {
                Interlocked.Decrement(ref inFlight);
            }
        };
        var rejectEvery = 0;
        server.ApiResponder = request =>
        {
            if (request.Authorization is null)
            {
                return Task.FromResult(FakeIdentityServer.Json(HttpStatusCode.Unauthorized, "{}"));
            }

            var token = request.Authorization["Bearer ".Length..];
            // Rejections are drawn from the request id, not from the schedule's Random, which only the schedule uses.
            var every = Volatile.Read(ref rejectEvery);
            var valid = server.ValidTokens.ContainsKey(token) && (every == 0 || (request.RequestId ?? string.Empty).Sum(c => c) % every != 0);
            return Task.FromResult(FakeIdentityServer.Json(valid ? HttpStatusCode.OK : HttpStatusCode.Unauthorized, "{}"));
        };

        using var services = OdcTestHost.Build(server);
        var client = services.Client();
        var manager = services.GetRequiredService<OdcAccessTokenProvider>().GetManager(OdcTestHost.ClientName);
        var requestNumber = 0;

        for (var step = 0; step < StepsPerSeed; step++)
        {
            switch (random.Next(6))
            {
                case 0:
                    server.Time.Advance(TimeSpan.FromMinutes(random.Next(0, 12 * 60 + 30)));
                    break;
                case 1:
                    server.RevokeAll();
                    break;
                case 2:
                    Volatile.Write(ref tokenMode, random.Next(3) == 0 ? random.Next(1, 3) : 0);
                    break;
                case 3:
                    Volatile.Write(ref rejectEvery, random.Next(3) == 0 ? random.Next(2, 6) : 0);
                    break;
                default:
                    var batch = Enumerable.Range(0, random.Next(1, 12)).Select(_ => $"{seed}-{Interlocked.Increment(ref requestNumber)}").ToArray();
                    await Task.WhenAll(batch.Select(id => Task.Run(async () =>
                    {
                        using var request = new HttpRequestMessage(HttpMethod.Get, "users");
                        request.Headers.Add("X-Request-Id", id);
                        try
                        {
                            (await client.SendAsync(request)).Dispose();
                        }
                        catch (OdcAuthenticationException)
                        {
                            // Allowed: no token could be had; the invariants below say what must still hold.
                        }
                    })));
                    break;
            }
        }

        await manager.WhenFetchSettled();

        var apiRequests = server.Requests.Where(r => r.Uri.AbsolutePath.StartsWith("/api/", StringComparison.Ordinal)).ToList();
        Assert.True(maxInFlight <= 1, $"seed {seed}: {maxInFlight} token requests were in flight at once");
        Assert.All(apiRequests, r => Assert.True(r.Authorization?.StartsWith("Bearer token-", StringComparison.Ordinal) == true, $"seed {seed}: a request reached the API without a token"));
        Assert.True(apiRequests.Count > 0, $"seed {seed}: no request reached the API, the schedule proved nothing");
        var mostSends = apiRequests.GroupBy(r => r.RequestId).Max(g => g.Count());
        Assert.True(mostSends <= 2, $"seed {seed}: a request was sent {mostSends} times");
        output.WriteLine($"seed {seed}: {requestNumber} requests, {apiRequests.Count} API sends ({apiRequests.GroupBy(r => r.RequestId).Count(g => g.Count() == 2)} retried), {server.TokenRequests} token requests, at most {maxInFlight} in flight");
    }

    private static void InterlockedMax(ref int target, int value)
    {
        int current;
        while ((current = Volatile.Read(ref target)) < value && Interlocked.CompareExchange(ref target, value, current) != current)
        {
        }
    }
}
