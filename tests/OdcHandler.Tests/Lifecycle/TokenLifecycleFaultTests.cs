using System.Net;
using System.Net.Sockets;
using Microsoft.Extensions.DependencyInjection;
using Microsoft.Extensions.Http.Resilience;
using OdcHandler.Internal;
using OdcHandler.Tests.Fakes;

namespace OdcHandler.Tests.Lifecycle;

/// <summary>
/// The fault matrix: a scripted identity service misbehaves and each test asserts the exact number of
/// identity calls and what the caller saw. Retries wait on fake time, which the tests drive.
/// </summary>
public sealed class TokenLifecycleFaultTests
{
    private readonly FakeIdentityServer _server = new();

    private static HttpResponseMessage Status(HttpStatusCode status) => new(status);

    [Fact]
    public async Task ServiceUnavailableTwiceThenOk_RetriesWithBackoffAndSucceeds()
    {
        var answers = 0;
        _server.TokenResponder = _ => ++answers <= 2 ? Status(HttpStatusCode.ServiceUnavailable) : _server.IssueToken();
        using var services = OdcTestHost.Build(_server, waitBetweenRetries: true);

        using var response = await services.Client().GetAsync("users").DriveAsync(_server.Time);

        Assert.Equal(HttpStatusCode.OK, response.StatusCode);
        Assert.Equal(3, _server.TokenRequests);
        var times = _server.TokenRequestTimes.ToArray();
        Assert.True(times[1] - times[0] >= TimeSpan.FromSeconds(1), $"first back-off was {times[1] - times[0]}");
        Assert.True(times[2] - times[1] >= TimeSpan.FromSeconds(2), $"second back-off was {times[2] - times[1]}");
    }

    [Fact]
    public async Task TooManyRequestsWithRetryAfter_WaitsAsToldThenSucceeds()
    {
        var answers = 0;
        _server.TokenResponder = _ =>
        {
            if (++answers > 1)
            {
                return _server.IssueToken();
            }

            var throttled = Status(HttpStatusCode.TooManyRequests);
            throttled.Headers.RetryAfter = new System.Net.Http.Headers.RetryConditionHeaderValue(TimeSpan.FromSeconds(7));
            return throttled;
        };
        using var services = OdcTestHost.Build(_server, waitBetweenRetries: true);

        using var response = await services.Client().GetAsync("users").DriveAsync(_server.Time);

        Assert.Equal(HttpStatusCode.OK, response.StatusCode);
        Assert.Equal(2, _server.TokenRequests);
        var times = _server.TokenRequestTimes.ToArray();
        Assert.True(times[1] - times[0] >= TimeSpan.FromSeconds(7), $"waited {times[1] - times[0]} after Retry-After: 7");
    }

    [Fact]
    public async Task TokenEndpointNeverAnswers_EachAttemptTimesOutAndTheTotalIsBounded()
    {
        _server.TokenGate = new TaskCompletionSource(TaskCreationOptions.RunContinuationsAsynchronously);
        using var services = OdcTestHost.Build(_server, waitBetweenRetries: true);
        var start = _server.Time.GetUtcNow();

        var failure = await Assert.ThrowsAsync<OdcAuthenticationException>(() => services.Client().GetAsync("users").DriveAsync(_server.Time));

        // Attempts at 0 s, 11 s and 23 s (10 s each, 1 s and 2 s apart); a fourth would start after the 30 s bound.
        Assert.Equal(3, _server.TokenRequests);
        Assert.Contains("did not answer within 30 s (BackchannelTimeout)", failure.Message, StringComparison.Ordinal);
        Assert.InRange(_server.Time.GetUtcNow() - start, TimeSpan.FromSeconds(30), TimeSpan.FromSeconds(31));
        Assert.Equal(0, _server.ApiRequests);
    }

    [Fact]
    public async Task TokenEndpointNeverAnswers_ABackchannelTimeoutAboveTheMinuteIsHonouredNotCapped()
    {
        _server.TokenGate = new TaskCompletionSource(TaskCreationOptions.RunContinuationsAsynchronously);
        using var services = OdcTestHost.Build(_server, o => o.BackchannelTimeout = TimeSpan.FromMinutes(2), waitBetweenRetries: true, services: collection =>
            collection.PostConfigure<HttpStandardResilienceOptions>(OdcAuthenticationDefaults.BackchannelResiliencePipelineName, o => o.Retry.MaxRetryAttempts = 20));
        var start = _server.Time.GetUtcNow();

        var failure = await Assert.ThrowsAsync<OdcAuthenticationException>(() => services.Client().GetAsync("users").DriveAsync(_server.Time));

        // 10 s attempts, 1, 2, 4, 8 then 10 s apart: the eighth starts at 115 s and is cut off by the 2-minute bound.
        Assert.Contains("did not answer within 120 s (BackchannelTimeout)", failure.Message, StringComparison.Ordinal);
        Assert.InRange(_server.Time.GetUtcNow() - start, TimeSpan.FromMinutes(2), TimeSpan.FromMinutes(2) + TimeSpan.FromSeconds(1));
        Assert.Equal(8, _server.TokenRequests);
        Assert.Equal(0, _server.ApiRequests);
    }

    [Fact]
    public async Task ConnectionRefused_IsRetriedThenSurfacedAsOdcAuthenticationException()
    {
        _server.TokenResponder = _ => throw new HttpRequestException("Connection refused (myorg.outsystems.dev:443)", new SocketException((int)SocketError.ConnectionRefused));
        using var services = OdcTestHost.Build(_server, waitBetweenRetries: true);

        var failure = await Assert.ThrowsAsync<OdcAuthenticationException>(() => services.Client().GetAsync("users").DriveAsync(_server.Time));

        Assert.Equal(OdcTestHost.BackchannelAttempts, _server.TokenRequests);
        Assert.Contains("could not be reached", failure.Message, StringComparison.Ordinal);
        Assert.IsType<HttpRequestException>(failure.InnerException);
        Assert.Equal("connection_error", OdcTelemetry.ErrorType(failure));
    }

    [Fact]
    public async Task BadJson_IsNotRetried()
    {
        _server.TokenResponder = _ => FakeIdentityServer.Json(HttpStatusCode.OK, "{\"access_token\":");
        using var services = OdcTestHost.Build(_server, waitBetweenRetries: true);

        await Assert.ThrowsAsync<OdcAuthenticationException>(() => services.Client().GetAsync("users").DriveAsync(_server.Time));

        Assert.Equal(1, _server.TokenRequests);
    }

    [Fact]
    public async Task InvalidClient_IsNotRetriedAndIsSurfacedOnceToEveryCallerInTheCooldown()
    {
        _server.TokenResponder = _ => FakeIdentityServer.Json(HttpStatusCode.Unauthorized, """{"error":"invalid_client","error_description":"Invalid client or Invalid client credentials"}""");
        using var services = OdcTestHost.Build(_server, waitBetweenRetries: true);
        var client = services.Client();

        var first = await Assert.ThrowsAsync<OdcAuthenticationException>(() => client.GetAsync("users"));
        var second = await Assert.ThrowsAsync<OdcAuthenticationException>(() => client.GetAsync("users"));

        Assert.Equal("invalid_client", first.Error);
        Assert.Same(first, second);
        Assert.Equal(1, _server.TokenRequests);
    }

    [Fact]
    public async Task OutageWhileAValidTokenIsCached_RequestsFlowUntilRealExpiryWithBoundedRefreshAttempts()
    {
        using var services = OdcTestHost.Build(_server, o => o.RefreshJitter = TimeSpan.Zero);
        var client = services.Client();
        var manager = services.GetRequiredService<OdcAccessTokenProvider>().GetManager(OdcTestHost.ClientName);
        (await client.GetAsync("users")).Dispose();
        _server.TokenResponder = _ => Status(HttpStatusCode.ServiceUnavailable);

        // The refresh window opens 5 minutes before expiry; one request every 10 s through it.
        _server.Time.Advance(TimeSpan.FromHours(12) - TimeSpan.FromMinutes(5));
        for (var second = 0; second < 300; second += 10)
        {
            using var response = await client.GetAsync("users");
            Assert.Equal(HttpStatusCode.OK, response.StatusCode);
            await manager.WhenFetchSettled();
            _server.Time.Advance(TimeSpan.FromSeconds(10));
        }

        // Background attempts at +0, 10, 20, 40, 80, 140, 200 and 260 s (back-off 5 s doubling, at most 1 minute),
        // each with the backchannel's 4 tries, after the first token.
        Assert.Equal(1 + (8 * OdcTestHost.BackchannelAttempts), _server.TokenRequests);
        Assert.Equal(1 + 30, _server.ApiRequests);
        Assert.All(_server.Requests.Where(r => r.Uri.AbsolutePath == "/api/users"), r => Assert.Equal("Bearer token-1", r.Authorization));

        await Assert.ThrowsAsync<OdcAuthenticationException>(() => client.GetAsync("users"));
        Assert.Equal(1 + 30, _server.ApiRequests);
    }

    [Fact]
    public async Task OutageWithNothingCached_ThousandRequestsCauseOneAcquisition()
    {
        _server.TokenResponder = _ => Status(HttpStatusCode.ServiceUnavailable);
        using var services = OdcTestHost.Build(_server);
        var client = services.Client();

        var calls = Enumerable.Range(0, 1000).Select(_ => Task.Run(() => client.GetAsync("users"))).ToArray();
        var outcomes = await Task.WhenAll(calls.Select(async call =>
        {
            try
            {
                (await call).Dispose();
                return null;
            }
            catch (OdcAuthenticationException exception)
            {
                return exception;
            }
        }));

        Assert.All(outcomes, Assert.NotNull);
        Assert.Equal(OdcTestHost.BackchannelAttempts, _server.TokenRequests);
        Assert.Equal(1, _server.DiscoveryRequests);
        Assert.Equal(0, _server.ApiRequests);

        _server.TokenResponder = null;
        _server.Time.Advance(TimeSpan.FromSeconds(5));
        using var recovered = await client.GetAsync("users");

        Assert.Equal(HttpStatusCode.OK, recovered.StatusCode);
        Assert.Equal(OdcTestHost.BackchannelAttempts + 1, _server.TokenRequests);
    }

    [Fact]
    public async Task RefreshJitter_MovesTheRefreshEarlierByTheDrawnShareOfTheRange()
    {
        using var services = OdcTestHost.Build(_server, o => o.RefreshJitter = TimeSpan.FromMinutes(2), services: collection =>
            collection.AddSingleton(new JitterSource(() => 0.25)));

        var token = await services.GetRequiredService<IOdcAccessTokenProvider>().GetTokenAsync(OdcTestHost.ClientName);

        Assert.Equal(token.ExpiresAt - TimeSpan.FromMinutes(5) - TimeSpan.FromSeconds(30), token.RefreshAt);
    }

    [Fact]
    public async Task RefreshJitter_AFleetStartedTogetherRefreshesAtDifferentMoments()
    {
        var random = new Random(20261130);
        var moments = new HashSet<DateTimeOffset>();
        for (var instance = 0; instance < 20; instance++)
        {
            var server = new FakeIdentityServer();
            using var services = OdcTestHost.Build(server, services: collection => collection.AddSingleton(new JitterSource(random.NextDouble)));
            var token = await services.GetRequiredService<IOdcAccessTokenProvider>().GetTokenAsync(OdcTestHost.ClientName);
            Assert.InRange(token.ExpiresAt - token.RefreshAt, TimeSpan.FromMinutes(5), TimeSpan.FromMinutes(7));
            moments.Add(token.RefreshAt);
        }

        Assert.Equal(20, moments.Count);
    }
}
