using System.Diagnostics.Metrics;
using System.Net;
using Microsoft.Extensions.Configuration;
using Microsoft.Extensions.DependencyInjection;
using Microsoft.Extensions.Diagnostics.Metrics.Testing;
using Microsoft.Extensions.Http.Resilience;
using Microsoft.Extensions.Logging.Abstractions;
using Microsoft.Extensions.Time.Testing;
using OdcHandler.Internal;
using OdcHandler.Tests.Fakes;

namespace OdcHandler.Tests.RateLimiting;

public sealed class OdcRateLimitingTests
{
    private readonly FakeTimeProvider _time = new(new DateTimeOffset(2026, 11, 30, 8, 0, 0, TimeSpan.Zero));
    private readonly LimitEnforcingApi _api;

    public OdcRateLimitingTests() => _api = new LimitEnforcingApi(_time);

    [Fact]
    public async Task SendAsync_MoreThanTheDomainAllows_WaitsForTheWindowInsteadOfA429()
    {
        using var services = RateLimitHost.Build(_time, _api.CreateHandler, b => b.AddOdcRateLimiting());
        var client = services.Client(RateLimitHost.ClientName);

        var first = Enumerable.Range(0, 100).Select(_ => client.GetAsync("identity/v1/users")).ToArray();
        await Task.WhenAll(first);
        var late = client.GetAsync("identity/v1/users");
        await RateLimitHost.SettleAsync(() => services.Limiter().Queued == 1);

        _time.Advance(TimeSpan.FromSeconds(59));

        // A permit would be handed over inside Advance, on this thread: still queued means none was.
        Assert.Equal(1, services.Limiter().Queued);
        Assert.False(late.IsCompleted, "the 101st request left within 60 s of the first");
        await AdvanceUntil(late, TimeSpan.FromSeconds(1), 3);

        Assert.Equal(HttpStatusCode.OK, (await late).StatusCode);
        Assert.Equal(101, _api.Accepted);
        Assert.Equal(0, _api.TooManyRequests);
    }

    [Fact]
    public async Task SendAsync_EndpointCap_CountsAgainstTheDomainToo()
    {
        using var services = RateLimitHost.Build(_time, _api.CreateHandler, b => b.AddOdcRateLimiting(o => o.DomainLimits["deployments"] = 12));
        var client = services.Client(RateLimitHost.ClientName);

        for (var i = 0; i < 10; i++)
        {
            Assert.Equal(HttpStatusCode.OK, (await client.PostAsync("deployments/v1/deployment-operations", new StringContent("{}"))).StatusCode);
        }

        var eleventhPost = client.PostAsync("deployments/v1/deployment-operations", new StringContent("{}"));
        Assert.Equal(HttpStatusCode.OK, (await client.GetAsync("deployments/v1/deployment-operations/6a1b2c3d-0000-4000-8000-000000000001")).StatusCode);
        Assert.Equal(HttpStatusCode.OK, (await client.GetAsync("deployments/v1/deployment-operations")).StatusCode);
        var thirdGet = client.GetAsync("deployments/v1/deployment-operations");
        await RateLimitHost.SettleAsync(() => services.Limiter().Queued == 2);

        Assert.False(eleventhPost.IsCompleted, "an 11th POST left within the endpoint's minute");
        Assert.False(thirdGet.IsCompleted, "a GET left although the domain's 12 permits were taken");
        await AdvanceUntil(Task.WhenAll(eleventhPost, thirdGet), TimeSpan.FromSeconds(1), 70);
        Assert.Equal(0, _api.TooManyRequests);
        Assert.Equal(14, _api.Accepted);
    }

    [Fact]
    public async Task SendAsync_WaitLongerThanMaxWait_ThrowsNamingTheLimitAndSendsNothing()
    {
        var logs = new CapturingLoggerProvider();
        using var services = RateLimitHost.Build(_time, _api.CreateHandler, b => b.AddOdcRateLimiting(o => o.MaxWait = TimeSpan.FromSeconds(30)), logs);
        var client = services.Client(RateLimitHost.ClientName);
        for (var i = 0; i < 5; i++)
        {
            (await client.PostAsync("identity/v1/users/bulk", new StringContent("[]"))).Dispose();
        }

        var sixth = client.PostAsync("identity/v1/users/bulk", new StringContent("[]"));
        await RateLimitHost.SettleAsync(() => services.Limiter().Queued == 1);
        await AdvanceUntil(sixth, TimeSpan.FromSeconds(5), 10);

        var failure = await Assert.ThrowsAsync<OdcRateLimitExceededException>(() => sixth);
        Assert.Equal("POST identity/v1/users/bulk", failure.LimitName);
        Assert.Equal(5, failure.PermitLimit);
        Assert.Contains("POST identity/v1/users/bulk", failure.Message, StringComparison.Ordinal);
        Assert.Equal(5, _api.Accepted);
        Assert.True(_time.GetUtcNow() - new DateTimeOffset(2026, 11, 30, 8, 0, 0, TimeSpan.Zero) < TimeSpan.FromSeconds(61));
        Assert.Contains(logs.Entries, e => e.EventId.Id == 42);
    }

    [Fact]
    public async Task SendAsync_CallerCancels_EndsOnlyItsOwnWait()
    {
        using var services = RateLimitHost.Build(_time, _api.CreateHandler, b => b.AddOdcRateLimiting());
        var client = services.Client(RateLimitHost.ClientName);
        for (var i = 0; i < 10; i++)
        {
            (await client.GetAsync("environment-configurations/v1/configurations")).Dispose();
        }

        using var cancel = new CancellationTokenSource();
        var cancelled = client.GetAsync("environment-configurations/v1/configurations", cancel.Token);
        var kept = client.GetAsync("environment-configurations/v1/configurations");
        await RateLimitHost.SettleAsync(() => services.Limiter().Queued == 2);
        cancel.Cancel();

        await Assert.ThrowsAnyAsync<OperationCanceledException>(() => cancelled);
        Assert.False(kept.IsCompleted);
        await AdvanceUntil(kept, TimeSpan.FromSeconds(1), 70);
        Assert.Equal(HttpStatusCode.OK, (await kept).StatusCode);
        Assert.Equal(11, _api.Accepted);
    }

    [Fact]
    public async Task SendAsync_OuterRetry_EachAttemptTakesItsOwnPermit()
    {
        var answers = 0;
        using var services = RateLimitHost.Build(
            _time,
            () => new FakeHttpMessageHandler((request, _) =>
                Task.FromResult(Interlocked.Increment(ref answers) == 1 ? new HttpResponseMessage(HttpStatusCode.ServiceUnavailable) : _api.Answer(request))),
            b =>
            {
                b.AddOdcRateLimiting(o => o.DomainLimits["identity"] = 3);
                b.AddStandardResilienceHandler(o =>
                {
                    o.Retry.Delay = TimeSpan.Zero;
                    o.Retry.UseJitter = false;
                });
            });
        var client = services.Client(RateLimitHost.ClientName);

        Assert.Equal(HttpStatusCode.OK, (await client.GetAsync("identity/v1/users")).StatusCode);
        Assert.Equal(2, answers);
        Assert.Equal(HttpStatusCode.OK, (await client.GetAsync("identity/v1/users")).StatusCode);
        using var stop = new CancellationTokenSource();
        var third = client.GetAsync("identity/v1/users", stop.Token);
        await RateLimitHost.SettleAsync(() => services.Limiter().Queued == 1);

        Assert.False(third.IsCompleted, "the retried attempt did not take a permit of its own");
        Assert.Equal(3, answers);

        // Disposing the resilience pipeline waits for its executions on (fake) time: end this one first.
        stop.Cancel();
        await Assert.ThrowsAnyAsync<OperationCanceledException>(() => third);
    }

    [Theory]
    [InlineData(true)]
    [InlineData(false)]
    public async Task SendAsync_WithAuthentication_TheLimiterSitsInsideTheBearerHandlerWhicheverComesFirst(bool limiterFirst)
    {
        var server = new FakeIdentityServer();
        var api = new LimitEnforcingApi(server.Time);
        server.ApiResponder = recorded => Task.FromResult(
            server.ValidTokens.ContainsKey(recorded.Authorization?[7..] ?? "")
                ? api.Answer(new HttpRequestMessage(recorded.Method, recorded.Uri))
                : FakeIdentityServer.Json(HttpStatusCode.Unauthorized, "{}"));
        using var services = OdcTestHost.Build(server, services: s =>
        {
            var builder = s.AddHttpClient(OdcTestHost.ClientName);
            if (limiterFirst)
            {
                s.AddHttpClient(OdcTestHost.ClientName).AddOdcRateLimiting(o => o.DomainLimits["identity"] = 3);
            }

            builder.AddOdcAuthentication(_ => { });
            if (!limiterFirst)
            {
                builder.AddOdcRateLimiting(o => o.DomainLimits["identity"] = 3);
            }
        });
        var client = services.Client();
        (await client.GetAsync("identity/v1/users")).Dispose();
        server.RevokeAll();

        // The first request after the revocation is sent twice (401, then a fresh token): two permits, none of the three left.
        Assert.Equal(HttpStatusCode.OK, (await client.GetAsync("identity/v1/users")).StatusCode);
        Assert.Equal(3, server.ApiRequests);
        var next = client.GetAsync("identity/v1/users");
        await RateLimitHost.SettleAsync(() => services.GetRequiredService<OdcRateLimiterRegistry>().Get(OdcTestHost.ClientName).Queued == 1);
        Assert.False(next.IsCompleted, "the 401 retry was sent without a permit of its own");
    }

    [Fact]
    public async Task SendAsync_429FromAnotherApplication_WaitsAWindowAndResends()
    {
        var logs = new CapturingLoggerProvider();
        using var services = RateLimitHost.Build(_time, _api.CreateHandler, b => b.AddOdcRateLimiting(), logs);
        using var collector = new MetricCollector<long>(services.GetRequiredService<IMeterFactory>(), OdcTelemetry.Name, "odc.request.rate_limited");
        var client = services.Client(RateLimitHost.ClientName);
        OtherApplicationSends(10, "POST", "deployments/v1/deployment-operations");
        var start = _time.GetUtcNow();

        var sending = client.PostAsync("deployments/v1/deployment-operations", new ByteArrayContent("{\"operation\":\"Deploy\"}"u8.ToArray()));
        await AdvanceUntil(sending, TimeSpan.FromSeconds(1), 70);

        Assert.Equal(HttpStatusCode.OK, (await sending).StatusCode);
        Assert.True(_time.GetUtcNow() - start >= TimeSpan.FromSeconds(60), "resent before the minute could have freed up");
        Assert.Equal(1, _api.TooManyRequests);
        var measurement = Assert.Single(collector.GetMeasurementSnapshot());
        Assert.Equal("myorg.outsystems.dev", measurement.Tags["server.address"]);
        Assert.Equal("POST deployments/v1/deployment-operations", measurement.Tags["odc.rate_limit"]);
        Assert.Equal("resent", measurement.Tags["odc.outcome"]);
        Assert.Contains(logs.Entries, e => e.EventId.Id == 40);
    }

    [Fact]
    public async Task SendAsync_429WithRetryAfter_WaitsThatLong()
    {
        var calls = 0;
        using var services = RateLimitHost.Build(
            _time,
            () => new FakeHttpMessageHandler((_, _) =>
            {
                var response = new HttpResponseMessage(++calls == 1 ? HttpStatusCode.TooManyRequests : HttpStatusCode.OK);
                response.Headers.RetryAfter = new System.Net.Http.Headers.RetryConditionHeaderValue(TimeSpan.FromSeconds(5));
                return Task.FromResult(response);
            }),
            b => b.AddOdcRateLimiting());
        var sending = services.Client(RateLimitHost.ClientName).GetAsync("identity/v1/users");
        await RateLimitHost.SettleAsync(() => calls == 1);

        _time.Advance(TimeSpan.FromSeconds(4));

        // The resend's sleep ends inside Advance, on this thread: still counted means it has not ended.
        Assert.Equal(1, services.Limiter().Queued);
        Assert.False(sending.IsCompleted);
        await AdvanceUntil(sending, TimeSpan.FromSeconds(1), 3);
        Assert.Equal(HttpStatusCode.OK, (await sending).StatusCode);
        Assert.Equal(2, calls);
    }

    [Fact]
    public async Task SendAsync_429WithABodyThatCannotBeSentAgain_ReturnsThe429()
    {
        using var services = RateLimitHost.Build(_time, _api.CreateHandler, b => b.AddOdcRateLimiting());
        using var collector = new MetricCollector<long>(services.GetRequiredService<IMeterFactory>(), OdcTelemetry.Name, "odc.request.rate_limited");
        OtherApplicationSends(100, "POST", "identity/v1/users");

        using var content = new StreamContent(new OneWayStream("{}"u8.ToArray()));
        var response = await services.Client(RateLimitHost.ClientName).PostAsync("identity/v1/users", content);

        Assert.Equal(HttpStatusCode.TooManyRequests, response.StatusCode);
        Assert.Equal("returned", Assert.Single(collector.GetMeasurementSnapshot()).Tags["odc.outcome"]);
    }

    [Fact]
    public async Task SendAsync_429EveryTime_ResendsAtMostMaxRateLimitedResends()
    {
        var calls = 0;
        using var services = RateLimitHost.Build(
            _time,
            () => new FakeHttpMessageHandler((_, _) => { Interlocked.Increment(ref calls); return Task.FromResult(new HttpResponseMessage(HttpStatusCode.TooManyRequests)); }),
            b => b.AddOdcRateLimiting(o => o.MaxRateLimitedResends = 2));
        var sending = services.Client(RateLimitHost.ClientName).DeleteAsync("identity/v1/users/6a1b2c3d-0000-4000-8000-000000000001");
        await AdvanceUntil(sending, TimeSpan.FromSeconds(5), 100);

        Assert.Equal(HttpStatusCode.TooManyRequests, (await sending).StatusCode);
        Assert.Equal(3, calls);
    }

    [Fact]
    public async Task AddOdcRateLimiting_FromConfiguration_OverridesTheTable()
    {
        var configuration = new ConfigurationBuilder().AddInMemoryCollection(new Dictionary<string, string?>
        {
            ["DomainLimits:identity"] = "2",
            ["MaxWait"] = "00:00:10",
        }).Build();
        using var services = RateLimitHost.Build(_time, _api.CreateHandler, b => b.AddOdcRateLimiting(configuration));
        var client = services.Client(RateLimitHost.ClientName);
        (await client.GetAsync("identity/v1/users")).Dispose();
        (await client.GetAsync("identity/v1/users")).Dispose();

        var third = client.GetAsync("identity/v1/users");
        await RateLimitHost.SettleAsync(() => services.Limiter().Queued == 1);
        await AdvanceUntil(third, TimeSpan.FromSeconds(5), 5);

        Assert.Equal("identity", (await Assert.ThrowsAsync<OdcRateLimitExceededException>(() => third)).LimitName);
        Assert.Equal(100, services.GetRequiredService<Microsoft.Extensions.Options.IOptionsMonitor<OdcRateLimitOptions>>().Get(RateLimitHost.ClientName).DomainLimits["builds"]);
    }

    [Fact]
    public void Validator_RefusesNonsense_NamingClientAndSetting()
    {
        var options = new OdcRateLimitOptions { Window = TimeSpan.Zero, MaxWait = TimeSpan.FromSeconds(-1), MaxRateLimitedResends = -1 };
        options.EndpointLimits["deployments/*"] = 3;

        var result = new OdcRateLimitOptionsValidator().Validate("odc", options);

        Assert.True(result.Failed);
        Assert.Equal(4, result.Failures!.Count());
        Assert.All(result.Failures!, f => Assert.StartsWith("OdcRateLimiting for HttpClient 'odc': ", f, StringComparison.Ordinal));
    }

    [Theory]
    [InlineData("EndpointLimits", "POST, identity/v1/users/bulk", 3, "not an HTTP method")]
    [InlineData("EndpointLimits", "PO(ST identity/v1/users/bulk", 3, "not an HTTP method")]
    [InlineData("EndpointLimits", "POST /api/identity/v1/users/bulk", 3, "repeats the /api/ prefix")]
    [InlineData("EndpointLimits", "POST  ", 3, "has no path")]
    [InlineData("EndpointLimits", "POST deployments/v1/*/x", 3, "'*' that is not at its end")]
    [InlineData("EndpointLimits", "POST deployments/v1/*", -1, "0 (no limit) or more")]
    [InlineData("DomainLimits", "identity/v1", 3, "without a version")]
    [InlineData("DomainLimits", "/identity", 3, "the one path segment after /api/")]
    [InlineData("DomainLimits", " identity", 3, "the one path segment after /api/")]
    [InlineData("DomainLimits", "identity", -5, "0 (no limit) or more")]
    public void Validator_RefusesALimitKeyOrValueThatCouldNeverApply_SayingWhatToWrite(string setting, string key, int permits, string expected)
    {
        var options = new OdcRateLimitOptions();
        (setting == "DomainLimits" ? options.DomainLimits : options.EndpointLimits)[key] = permits;

        var result = new OdcRateLimitOptionsValidator().Validate("odc", options);

        var failure = Assert.Single(result.Failures ?? []);
        Assert.Contains($"{setting} ", failure, StringComparison.Ordinal);
        Assert.Contains($"'{key}'", failure, StringComparison.Ordinal);
        Assert.Contains(expected, failure, StringComparison.Ordinal);
    }

    [Fact]
    public void Validator_AcceptsTheTableAndEveryWayItsKeysAreDocumented()
    {
        var options = new OdcRateLimitOptions { DefaultDomainLimit = 0 };
        options.DomainLimits["environment-configurations"] = 0;
        options.EndpointLimits["POST /identity/v1/users/bulk"] = 2;
        options.EndpointLimits["patch native-mobile-builds/v1/*"] = 0;

        var result = new OdcRateLimitOptionsValidator().Validate("odc", options);

        Assert.True(result.Succeeded, string.Join(Environment.NewLine, result.Failures ?? []));
    }

    /// <summary>
    /// HttpClient.Timeout runs over the wait for a permit too; left at its 100 s default it would end a wait before
    /// MaxWait in a TaskCanceledException that names no limit. The default grows by MaxWait; a timeout the
    /// application set, before or after AddOdcRateLimiting, is its own.
    /// </summary>
    [Theory]
    [InlineData(null, 120, 220)]
    [InlineData(null, 300, 400)]
    [InlineData(null, 0, 100)]
    [InlineData(30, 120, 30)]
    [InlineData(-1, 120, -1)]
    public void CreateClient_DefaultTimeoutGrowsByMaxWait_AnApplicationTimeoutIsKept(int? timeoutSeconds, int maxWaitSeconds, int expectedSeconds)
    {
        TimeSpan Seconds(int s) => s < 0 ? Timeout.InfiniteTimeSpan : TimeSpan.FromSeconds(s);
        void SetTimeout(HttpClient c)
        {
            if (timeoutSeconds is { } t)
            {
                c.Timeout = Seconds(t);
            }
        }

        using var before = RateLimitHost.Build(_time, _api.CreateHandler, b => b.ConfigureHttpClient(SetTimeout).AddOdcRateLimiting(o => o.MaxWait = Seconds(maxWaitSeconds)));
        using var after = RateLimitHost.Build(_time, _api.CreateHandler, b => b.AddOdcRateLimiting(o => o.MaxWait = Seconds(maxWaitSeconds)).ConfigureHttpClient(SetTimeout));

        Assert.Equal(Seconds(expectedSeconds), before.Client(RateLimitHost.ClientName).Timeout);
        Assert.Equal(Seconds(expectedSeconds), after.Client(RateLimitHost.ClientName).Timeout);
    }

    [Fact]
    public void SendAsync_PermitsFree_AllocatesNothingOfItsOwn()
    {
        var options = new OdcRateLimitOptions { DefaultDomainLimit = 1_000_000 };
        options.DomainLimits.Clear();
        using var limiter = new OdcRateLimiter(options, _time);
        var answer = Task.FromResult(new HttpResponseMessage(HttpStatusCode.OK));
        var handler = new OdcRateLimitingHandler(limiter, _time, NullLogger.Instance, new OdcTelemetry(new TestMeterFactory()))
        {
            InnerHandler = new FakeHttpMessageHandler((_, _) => answer),
        };
        using var invoker = new HttpMessageInvoker(handler);
        using var request = new HttpRequestMessage(HttpMethod.Get, "https://myorg.outsystems.dev/api/identity/v1/users");
        for (var i = 0; i < 1000; i++)
        {
            Assert.True(invoker.SendAsync(request, CancellationToken.None).IsCompletedSuccessfully);
        }

        var before = GC.GetAllocatedBytesForCurrentThread();
        for (var i = 0; i < 10_000; i++)
        {
            _ = invoker.SendAsync(request, CancellationToken.None);
        }

        Assert.Equal(0, (GC.GetAllocatedBytesForCurrentThread() - before) / 10_000.0);
    }

    private void OtherApplicationSends(int count, string method, string path)
    {
        for (var i = 0; i < count; i++)
        {
            _api.Answer(new HttpRequestMessage(new HttpMethod(method), new Uri(new Uri(RateLimitHost.Portal), path))).Dispose();
        }
    }

    private async Task AdvanceUntil(Task task, TimeSpan step, int maxSteps)
    {
        for (var i = 0; i < maxSteps && !task.IsCompleted; i++)
        {
            await Task.WhenAny(task, Task.Delay(5));
            _time.Advance(step);
        }

        await Task.WhenAny(task, Task.Delay(1000));
    }

    private sealed class TestMeterFactory : IMeterFactory
    {
        public Meter Create(MeterOptions options) => new(options);

        public void Dispose()
        {
        }
    }

    /// <summary>A stream that can be read once and cannot seek.</summary>
    private sealed class OneWayStream(byte[] bytes) : MemoryStream(bytes)
    {
        public override bool CanSeek => false;
    }
}
