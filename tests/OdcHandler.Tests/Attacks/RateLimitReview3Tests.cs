using System.Collections.Concurrent;
using System.Net;
using System.Net.Sockets;
using System.Text;
using Microsoft.Extensions.Configuration;
using Microsoft.Extensions.DependencyInjection;
using Microsoft.Extensions.Options;
using Microsoft.Extensions.Time.Testing;
using OdcHandler.Tests.Fakes;
using OdcHandler.Tests.RateLimiting;

namespace OdcHandler.Tests.Attacks;

/// <summary>
/// Review 14: a third outside attempt on the rate-limit promises (README "Rate limits", issue 12). Each break it found
/// failed here first; its summary says what broke, and the test now holds the fix. Tests whose name starts with
/// <c>Held_</c> tried something that held and are kept for their coverage. Time is fake; the wall
/// clock only guards against a hang. Real sockets only on 127.0.0.1.
/// </summary>
public sealed class RateLimitReview3Tests
{
    private const string Operations = "deployments/v1/deployment-operations";
    private static readonly TimeSpan HangGuard = TimeSpan.FromSeconds(60);
    private static readonly DateTimeOffset Start = new(2026, 11, 30, 8, 0, 0, TimeSpan.Zero);
    private readonly FakeTimeProvider _time = new(Start);
    private readonly ConcurrentQueue<(HttpMethod Method, string Path, TimeSpan At)> _sent = new();

    // ---------------------------------------------------------------------------------------------------------------
    // Breaks
    // ---------------------------------------------------------------------------------------------------------------

    /// <summary>
    /// Break 1 of review 14: the network handler (SocketsHttpHandler, AllowAutoRedirect on by default) followed a
    /// redirect without going back through the limiter, so each followed redirect was a request under /api/ that took no
    /// permit: with a pool of 3, three calls to an address that redirects within the domain put 6 identity requests on
    /// the server at one instant. The limiter now follows redirects itself, and each hop waits for its own permits.
    /// </summary>
    [Fact]
    public async Task Redirect_FollowedByTheLimiter_EachHopTakesItsOwnPermit()
    {
        var arrivals = new ConcurrentQueue<TimeSpan>();
        using var server = LoopbackHttpServer.Redirecting(request =>
        {
            arrivals.Enqueue(_time.GetUtcNow() - Start);
            return request.Url!.AbsolutePath == "/api/identity/v1/me" ? (HttpStatusCode.Found, "/api/identity/v1/users") : (HttpStatusCode.OK, null);
        });
        using var services = RateLimitHost.Build(
            _time,
            () => new SocketsHttpHandler { UseProxy = false },
            b => b.AddOdcRateLimiting(o => o.DomainLimits["identity"] = 3));
        var client = services.Client(RateLimitHost.ClientName);

        var calls = Enumerable.Range(0, 3).Select(_ => client.GetAsync(server.Prefix + "api/identity/v1/me")).ToList();
        await RateLimitHost.SettleAsync(() => services.Limiter().Queued == 3);
        Assert.Equal(3, server.ApiArrivals);
        await DrainAsync(calls, services);

        Assert.All(calls, call => Assert.Equal(HttpStatusCode.OK, call.Result.StatusCode));
        Assert.All(calls, call => Assert.Equal("/api/identity/v1/users", call.Result.RequestMessage!.RequestUri!.AbsolutePath));
        Assert.Equal(6, server.ApiArrivals);
        var times = arrivals.Order().ToArray();
        Assert.True(times[3] >= TimeSpan.FromSeconds(60), $"arrivals at {string.Join(", ", times)}: the 4th came within 60 s of the 1st");
    }

    /// <summary>
    /// Following a redirect, the limiter does what SocketsHttpHandler does (the same request, the same answer, to a
    /// client without the limiter): the method and body a hop keeps or loses, the Authorization header dropped on
    /// every hop, the request's address rewritten, and no more than MaxAutomaticRedirections hops.
    /// </summary>
    [Theory]
    [InlineData("POST", HttpStatusCode.Found)]
    [InlineData("POST", HttpStatusCode.MovedPermanently)]
    [InlineData("POST", HttpStatusCode.MultipleChoices)]
    [InlineData("POST", HttpStatusCode.SeeOther)]
    [InlineData("PUT", HttpStatusCode.SeeOther)]
    [InlineData("HEAD", HttpStatusCode.SeeOther)]
    [InlineData("PUT", HttpStatusCode.Found)]
    [InlineData("POST", HttpStatusCode.TemporaryRedirect)]
    [InlineData("POST", HttpStatusCode.PermanentRedirect)]
    [InlineData("GET", HttpStatusCode.MovedPermanently)]
    public async Task Redirect_FollowedByTheLimiter_LikeSocketsHttpHandler(string method, HttpStatusCode status)
    {
        var seen = new ConcurrentQueue<string>();
        using var server = LoopbackHttpServer.Redirecting(request =>
        {
            using var reader = new StreamReader(request.InputStream);
            seen.Enqueue($"{request.HttpMethod} {request.Url!.PathAndQuery}#{reader.ReadToEnd()} auth={request.Headers["Authorization"] ?? "none"}");
            return request.Url.AbsolutePath == "/api/identity/v1/from" ? (status, "to?page=2") : (HttpStatusCode.OK, null);
        });

        async Task<string> RunAsync(bool limited)
        {
            seen.Clear();
            using var services = RateLimitHost.Build(
                _time,
                () => new SocketsHttpHandler { UseProxy = false },
                b =>
                {
                    if (limited)
                    {
                        b.AddOdcRateLimiting();
                    }
                });
            using var request = new HttpRequestMessage(new HttpMethod(method), server.Prefix + "api/identity/v1/from");
            request.Headers.Authorization = new System.Net.Http.Headers.AuthenticationHeaderValue("Bearer", "not-for-the-next-hop");
            if (method is "POST" or "PUT")
            {
                request.Content = new StringContent("{\"n\":1}");
            }

            using var response = await services.Client(RateLimitHost.ClientName).SendAsync(request).WaitAsync(HangGuard);
            return $"{(int)response.StatusCode} {response.RequestMessage!.Method} {response.RequestMessage.RequestUri} [{string.Join(" | ", seen)}]";
        }

        var plain = await RunAsync(limited: false);
        var limited = await RunAsync(limited: true);

        Assert.Equal(plain, limited);
        Assert.Contains("/api/identity/v1/to?page=2", limited, StringComparison.Ordinal);
        Assert.Equal(1, System.Text.RegularExpressions.Regex.Count(limited, "not-for-the-next-hop"));
    }

    /// <summary>An address outside /api/ takes no permit, but a redirect from it to a limited endpoint waits for one.</summary>
    [Theory]
    [InlineData(false)]
    [InlineData(true)]
    public async Task Redirect_FromAnUnlimitedAddressToALimitedOne_TakesAPermitForTheHop(bool synchronous)
    {
        using var server = LoopbackHttpServer.Redirecting(request => request.Url!.AbsolutePath == "/start" ? (HttpStatusCode.Found, "/api/identity/v1/users") : (HttpStatusCode.OK, null));
        using var services = RateLimitHost.Build(
            _time,
            () => new SocketsHttpHandler { UseProxy = false },
            b => b.AddOdcRateLimiting(o => o.DomainLimits["identity"] = 1));
        var client = services.Client(RateLimitHost.ClientName);
        Task<HttpResponseMessage> Call() => synchronous
            ? Task.Run(() => client.Send(new HttpRequestMessage(HttpMethod.Get, server.Prefix + "start")))
            : client.GetAsync(server.Prefix + "start");

        using var first = await Call().WaitAsync(HangGuard);
        var second = Call();
        await RateLimitHost.SettleAsync(() => services.Limiter().Queued == 1);

        Assert.Equal(1, server.ApiArrivals);
        Assert.False(second.IsCompleted);
        await DrainAsync([second], services);
        Assert.Equal(HttpStatusCode.OK, (await second).StatusCode);
        Assert.Equal(2, server.ApiArrivals);
    }

    /// <summary>A redirect loop ends where SocketsHttpHandler ends it: the answer after MaxAutomaticRedirections hops is returned.</summary>
    [Fact]
    public async Task Redirect_Loop_EndsAfterThePrimaryHandlersMaxAutomaticRedirections()
    {
        using var server = LoopbackHttpServer.Redirecting(_ => (HttpStatusCode.Found, "/api/identity/v1/loop"));
        using var services = RateLimitHost.Build(
            _time,
            () => new SocketsHttpHandler { UseProxy = false, MaxAutomaticRedirections = 4 },
            b => b.AddOdcRateLimiting());

        using var response = await services.Client(RateLimitHost.ClientName).GetAsync(server.Prefix + "api/identity/v1/loop").WaitAsync(HangGuard);

        Assert.Equal(HttpStatusCode.Found, response.StatusCode);
        Assert.Equal(5, server.ApiArrivals);
    }

    /// <summary>A primary handler the application told not to follow redirects still returns them as they are.</summary>
    [Fact]
    public async Task Redirect_PrimaryHandlerThatDoesNotFollow_ReturnsTheRedirect()
    {
        using var server = LoopbackHttpServer.Redirecting(_ => (HttpStatusCode.Found, "/api/identity/v1/users"));
        using var services = RateLimitHost.Build(
            _time,
            () => new SocketsHttpHandler { UseProxy = false, AllowAutoRedirect = false },
            b => b.AddOdcRateLimiting());

        using var response = await services.Client(RateLimitHost.ClientName).GetAsync(server.Prefix + "api/identity/v1/me").WaitAsync(HangGuard);

        Assert.Equal(HttpStatusCode.Found, response.StatusCode);
        Assert.Equal(1, server.ApiArrivals);
    }

    /// <summary>
    /// Review 14, a break now fixed. README (Configuration): "Options are validated at start … an invalid setting throws
    /// OptionsValidationException with one line per problem, each naming the client and the setting"; the rate-limit
    /// options have their own validator with ValidateOnStart. An EndpointLimits key whose method is not an HTTP token
    /// (a comma typed after the method, "POST, identity/v1/users/bulk") passes validation; the limiter is then built at
    /// the first IHttpClientFactory.CreateClient, where HttpMethod.Parse throws. The FormatException ("The format of the
    /// HTTP method is invalid.") names neither the client nor the setting, is cached by the registry's Lazy, and every
    /// CreateClient of that name throws it from then on: no request of the client can be made, GETs to other domains
    /// included.
    /// </summary>
    [Fact]
    public async Task LimitKeyWithAnInvalidMethod_IsRefusedAtStart()
    {
        var configuration = new ConfigurationBuilder().AddInMemoryCollection(new Dictionary<string, string?>
        {
            ["EndpointLimits:POST, identity/v1/users/bulk"] = "3",
        }).Build();
        using var services = RateLimitHost.Build(_time, Recording, b => b.AddOdcRateLimiting(configuration));

        var validation = Record.Exception(() => services.GetRequiredService<IOptionsMonitor<OdcRateLimitOptions>>().Get(RateLimitHost.ClientName));
        var first = await Record.ExceptionAsync(() => services.Client(RateLimitHost.ClientName).GetAsync("portfolios/v2/environments"));
        var second = await Record.ExceptionAsync(() => services.Client(RateLimitHost.ClientName).GetAsync("identity/v1/users"));

        Assert.True(
            validation is OptionsValidationException invalid && invalid.Message.Contains("EndpointLimits", StringComparison.Ordinal),
            $"validation: {validation?.GetType().Name ?? "passed"}; then creating the client for a GET to portfolios: {Describe(first)}; again for a GET to identity: {Describe(second)}");
    }

    /// <summary>
    /// Review 14, a break now fixed. README: "Change any limit in OdcRateLimitOptions or configuration: DomainLimits:{domain},
    /// EndpointLimits:"POST deployments/v1/*" … Keys are compared as parsed". A key written with the path as it appears
    /// in the request ("POST /api/identity/v1/users/bulk") or as FakeOdcServer's table names a domain's base path
    /// ("identity/v1") passes validation and is silently never matched: the configured, tighter limit is not applied,
    /// nothing is logged, and the validator's own message ("a path after /api/") is never shown. 3 requests leave at one
    /// instant against a configured 2.
    /// </summary>
    [Theory]
    [InlineData("EndpointLimits:POST /api/identity/v1/users/bulk", "repeats the /api/ prefix")]
    [InlineData("DomainLimits:identity/v1", "without a version")]
    public async Task LimitKeyWrittenWithTheApiPrefixOrTheVersion_IsRefusedAtStart(string key, string advice)
    {
        var configuration = new ConfigurationBuilder().AddInMemoryCollection(new Dictionary<string, string?> { [key] = "2" }).Build();
        using var services = RateLimitHost.Build(_time, Recording, b => b.AddOdcRateLimiting(configuration));

        var refused = Assert.Throws<OptionsValidationException>(() => services.GetRequiredService<IOptionsMonitor<OdcRateLimitOptions>>().Get(RateLimitHost.ClientName));
        var creating = await Record.ExceptionAsync(() => services.Client(RateLimitHost.ClientName).GetAsync("identity/v1/users"));

        Assert.Contains($"HttpClient '{RateLimitHost.ClientName}'", refused.Message, StringComparison.Ordinal);
        Assert.Contains(advice, refused.Message, StringComparison.Ordinal);
        Assert.IsType<OptionsValidationException>(creating);
        Assert.Empty(_sent);
    }

    /// <summary>
    /// Review 14, a break now fixed. README: "A request waits at most MaxWait (2 minutes), then fails unsent with OdcRateLimitExceededException,
    /// whose LimitName says which limit"; issue 12: "a wait longer than a bound you document ends in a typed exception
    /// that says which limit". AddOdcRateLimiting leaves HttpClient.Timeout at its default, 100 s, which is shorter than
    /// the default MaxWait: with every default in place, a request that must wait between 100 and 120 s (a bulk job of a
    /// few hundred calls) ends at 100 s in a TaskCanceledException ("HttpClient.Timeout of 100 seconds elapsing") that
    /// names no limit; the documented exception is never reached. The README only warns about resilience pipelines'
    /// timeouts. (HttpClient.Timeout runs on the wall clock, so this is shown by the two values, not by waiting.)
    /// </summary>
    [Fact]
    public void DefaultHttpClientTimeout_IsLongerThanMaxWait()
    {
        using var services = RateLimitHost.Build(_time, Recording, b => b.AddOdcRateLimiting());
        var client = services.Client(RateLimitHost.ClientName);
        var maxWait = services.GetRequiredService<IOptionsMonitor<OdcRateLimitOptions>>().Get(RateLimitHost.ClientName).MaxWait;

        Assert.True(
            client.Timeout == Timeout.InfiniteTimeSpan || client.Timeout > maxWait,
            $"HttpClient.Timeout is {client.Timeout}, MaxWait is {maxWait}: a wait between the two ends in TaskCanceledException, not OdcRateLimitExceededException");
    }

    /// <summary>
    /// Review 14, a break now fixed. README: "then fails unsent with OdcRateLimitExceededException, whose LimitName says which limit". With a
    /// fleet store (UseRateLimitStore), a POST whose endpoint cap has permits left but whose domain pool is spent fails
    /// naming the endpoint ("POST deployments/v1/deployment-operations", 10 a minute), which refused nothing; the same
    /// client without a store names the domain ("deployments"), as it should. The store here is a correct in-memory
    /// sliding log with the IOdcRateLimitStore semantics.
    /// </summary>
    [Fact]
    public async Task FleetStore_DomainSpentEndpointFree_ExceptionNamesTheDomain()
    {
        using var local = RateLimitHost.Build(_time, Recording, b => b.AddOdcRateLimiting(Tight));
        using var fleet = RateLimitHost.Build(_time, Recording, b => b.AddOdcRateLimiting(Tight).UseRateLimitStore(_ => new SlidingLogStore()));

        var localName = await LimitNamedAsync(local);
        var fleetName = await LimitNamedAsync(fleet);

        Assert.Equal("deployments", localName);
        Assert.True(fleetName == "deployments", $"with a fleet store the exception names '{fleetName}', whose cap had all 10 permits free; the deployments pool (2) was spent");

        static void Tight(OdcRateLimitOptions o)
        {
            o.DomainLimits["deployments"] = 2;
            o.MaxWait = TimeSpan.Zero;
        }

        static async Task<string?> LimitNamedAsync(IServiceProvider services)
        {
            var client = services.Client(RateLimitHost.ClientName);
            (await client.GetAsync(Operations)).Dispose();
            (await client.GetAsync(Operations)).Dispose();
            var failure = await Record.ExceptionAsync(() => client.PostAsync(Operations, new StringContent("{}")).WaitAsync(HangGuard));
            return (failure as OdcRateLimitExceededException)?.LimitName ?? failure?.GetType().Name ?? "sent";
        }
    }

    /// <summary>
    /// Review 14, a break now fixed. README: "Add .AddOdcRateLimiting() and requests wait for a permit instead of being refused", and the same
    /// section's model of app-wide defaults (ConfigureHttpClientDefaults, as the .NET Aspire service defaults use for
    /// AddStandardResilienceHandler). Called on the defaults builder, AddOdcRateLimiting registers its options and
    /// validator for a null name and its filter never matches a client: every client of the application, the ODC one
    /// included, sends unlimited, silently. It should either limit every client or refuse the call.
    /// </summary>
    [Fact]
    public void AddOdcRateLimitingInConfigureHttpClientDefaults_IsRefused()
    {
        var services = new ServiceCollection();
        services.AddSingleton<TimeProvider>(_time);

        var refused = Assert.Throws<InvalidOperationException>(() => services.ConfigureHttpClientDefaults(b => b.AddOdcRateLimiting(o => o.DomainLimits["identity"] = 2)));

        Assert.StartsWith("AddOdcRateLimiting applies to one named HttpClient", refused.Message, StringComparison.Ordinal);
    }

    /// <summary>
    /// Review 14, a break now fixed. README: "A request waits at most MaxWait … then fails unsent"; "Cancelling a request ends only its own
    /// wait"; Guarantees: "no caller is left waiting". Disposing the service provider (an application shutting down)
    /// stops the limiter's replenishment timer but leaves its waiters in the queue: they are neither failed nor
    /// released, and sit there until MaxWait runs out on the clock (up to a day, the largest MaxWait allowed), then
    /// get an OdcRateLimitExceededException that tells the user to raise MaxWait. Here, after disposal and 59 minutes of
    /// fake time with MaxWait at 1 hour, the waiter is still pending.
    /// </summary>
    [Fact]
    public async Task ProviderDisposedWhileARequestWaits_TheWaitEndsUnsent()
    {
        var services = RateLimitHost.Build(_time, Recording, b => b.AddOdcRateLimiting(o =>
        {
            o.DomainLimits["identity"] = 1;
            o.MaxWait = TimeSpan.FromHours(1);
        }));
        var client = services.Client(RateLimitHost.ClientName);
        (await client.GetAsync("identity/v1/users")).Dispose();
        var waiting = client.GetAsync("identity/v1/users");
        await RateLimitHost.SettleAsync(() => services.Limiter().Queued == 1);
        Assert.False(waiting.IsCompleted);

        services.Dispose();
        _time.Advance(TimeSpan.FromMinutes(59));
        await Task.WhenAny(waiting, Task.Delay(TimeSpan.FromSeconds(2)));
        var pending = !waiting.IsCompleted;

        _time.Advance(TimeSpan.FromMinutes(2));
        var outcome = await Record.ExceptionAsync(() => waiting.WaitAsync(HangGuard));
        Assert.False(
            pending,
            $"59 min after the provider was disposed the request was still waiting; it finally ended with {Describe(outcome)}");
        Assert.IsType<ObjectDisposedException>(outcome);
        Assert.Single(_sent);
    }

    /// <summary>A 429 resend's sleep (a whole window without Retry-After) ends at disposal too, unsent.</summary>
    [Fact]
    public async Task ProviderDisposedWhileA429ResendSleeps_TheSleepEndsUnsent()
    {
        var services = RateLimitHost.Build(
            _time,
            () => new FakeHttpMessageHandler((_, _) =>
            {
                _sent.Enqueue((HttpMethod.Get, "identity", _time.GetUtcNow() - Start));
                return Task.FromResult(new HttpResponseMessage(HttpStatusCode.TooManyRequests));
            }),
            b => b.AddOdcRateLimiting());
        var sleeping = services.Client(RateLimitHost.ClientName).GetAsync("identity/v1/users");
        await RateLimitHost.SettleAsync(() => services.Limiter().Queued == 1);
        Assert.False(sleeping.IsCompleted);

        services.Dispose();
        var outcome = await Record.ExceptionAsync(() => sleeping.WaitAsync(HangGuard));

        Assert.IsType<ObjectDisposedException>(outcome);
        Assert.Single(_sent);
    }

    /// <summary>
    /// Review 14, a break now fixed. README: "Cancelling a request ends only its own wait." A request whose caller's token is already
    /// cancelled when it reaches the limiter (a job loop at shutdown, a caller's deadline already past) takes its
    /// permits on the free-permit path and is then refused by the network handler (SocketsHttpHandler checks the token
    /// first): nothing reaches the server, but the permits are spent for a whole window. With a pool of 2, two calls
    /// on a cancelled token make the next, live call wait 61 s although the server received nothing.
    /// </summary>
    [Fact]
    public async Task RequestAlreadyCancelled_SpendsNoPermit()
    {
        using var server = LoopbackHttpServer.Redirecting(_ => (HttpStatusCode.OK, null));
        using var services = RateLimitHost.Build(
            _time,
            () => new SocketsHttpHandler { UseProxy = false },
            b => b.AddOdcRateLimiting(o => o.DomainLimits["identity"] = 2));
        var client = services.Client(RateLimitHost.ClientName);
        var users = server.Prefix + "api/identity/v1/users";

        using var cancelled = new CancellationTokenSource();
        await cancelled.CancelAsync();
        for (var i = 0; i < 2; i++)
        {
            await Assert.ThrowsAnyAsync<OperationCanceledException>(() => client.GetAsync(users, cancelled.Token));
        }

        var live = client.GetAsync(users);
        await RateLimitHost.SettleAsync(() => live.IsCompleted || services.Limiter().Queued == 1);
        var waited = !live.IsCompleted;
        await DrainAsync([live], services);

        Assert.True(
            !waited,
            $"the server had received {server.ApiArrivals - 1} requests when the live call was made, yet it waited until {_time.GetUtcNow() - Start} for a permit");
    }

    // ---------------------------------------------------------------------------------------------------------------
    // Held (kept for coverage)
    // ---------------------------------------------------------------------------------------------------------------

    /// <summary>
    /// Held in review 14. 429 with Retry-After: a delta beyond MaxWait and the window is returned at once (one send); an HTTP date in
    /// the past is resent at once; a value that is not a delta or a date (garbage, a negative number) counts as absent:
    /// the resend waits the whole window. Never more than 1 + MaxRateLimitedResends sends.
    /// </summary>
    [Theory]
    [InlineData("86400", 1, 0)]
    [InlineData("past-date", 2, 0)]
    [InlineData("soon", 2, 60)]
    [InlineData("-5", 2, 60)]
    public async Task Held_429RetryAfterVariants_AreReadAsDocumented(string retryAfter, int expectedSends, int resentAfterSeconds)
    {
        var answers = 0;
        var sendTimes = new ConcurrentQueue<TimeSpan>();
        using var services = RateLimitHost.Build(
            _time,
            () => new FakeHttpMessageHandler((_, _) =>
            {
                sendTimes.Enqueue(_time.GetUtcNow() - Start);
                var response = new HttpResponseMessage(Interlocked.Increment(ref answers) == 1 ? HttpStatusCode.TooManyRequests : HttpStatusCode.OK);
                var value = retryAfter == "past-date" ? (Start - TimeSpan.FromHours(1)).ToString("R") : retryAfter;
                response.Headers.TryAddWithoutValidation("Retry-After", value);
                return Task.FromResult(response);
            }),
            b => b.AddOdcRateLimiting());
        var client = services.Client(RateLimitHost.ClientName);

        var call = client.GetAsync("identity/v1/users");
        var pending = new List<Task<HttpResponseMessage>> { call };
        await DrainAsync(pending, services);
        using var response = await call;

        Assert.Equal(expectedSends, sendTimes.Count);
        Assert.Equal(expectedSends == 1 ? HttpStatusCode.TooManyRequests : HttpStatusCode.OK, response.StatusCode);
        if (expectedSends == 2)
        {
            var resentAfter = sendTimes.Last() - sendTimes.First();
            Assert.True(
                resentAfter >= TimeSpan.FromSeconds(resentAfterSeconds) && resentAfter <= TimeSpan.FromSeconds(resentAfterSeconds + 1),
                $"resent after {resentAfter}");
        }
    }

    /// <summary>
    /// Held in review 14. Synchronous HttpClient.Send blocks for a permit instead of sending: with a pool of 2, a third synchronous
    /// call leaves only when the window has moved on, and the server never sees more than 2 in 60 s.
    /// </summary>
    [Fact]
    public async Task Held_SynchronousSend_WaitsForItsPermit()
    {
        var api = new LimitEnforcingApi(_time);
        using var services = RateLimitHost.Build(_time, api.CreateHandler, b => b.AddOdcRateLimiting(o => o.DomainLimits["environment-configurations"] = 2));
        var client = services.Client(RateLimitHost.ClientName);
        const string path = "environment-configurations/v1/configurations";

        client.Send(new HttpRequestMessage(HttpMethod.Get, path)).Dispose();
        client.Send(new HttpRequestMessage(HttpMethod.Get, path)).Dispose();
        var third = Task.Factory.StartNew(() => client.Send(new HttpRequestMessage(HttpMethod.Get, path)), CancellationToken.None, TaskCreationOptions.LongRunning, TaskScheduler.Default);
        await RateLimitHost.SettleAsync(() => services.Limiter().Queued == 1);
        Assert.Equal(1, services.Limiter().Queued);

        // Fake time replenishes on this thread: a permit released within 60 s would have left the queue by now.
        _time.Advance(TimeSpan.FromSeconds(59));
        Assert.Equal(1, services.Limiter().Queued);
        Assert.False(third.IsCompleted, "the third synchronous call left within 60 s");
        await DrainAsync([third], services);

        Assert.Equal(HttpStatusCode.OK, (await third).StatusCode);
        Assert.Equal(0, api.TooManyRequests);
        Assert.Equal(3, api.Accepted);
    }

    /// <summary>
    /// Held in review 14. A waiter that holds its endpoint's permit while it waits for the domain, cancelled by its caller, ends only
    /// its own wait: the waiters behind it keep their place and the next window lets them go, with no more than the
    /// limits on the server.
    /// </summary>
    [Fact]
    public async Task Held_CancelledWaiterHoldingAnEndpointPermit_DoesNotBlockOrReorderTheOthers()
    {
        var api = new LimitEnforcingApi(_time);
        using var services = RateLimitHost.Build(_time, api.CreateHandler, b => b.AddOdcRateLimiting(o => o.DomainLimits["deployments"] = 3));
        var client = services.Client(RateLimitHost.ClientName);
        for (var i = 0; i < 3; i++)
        {
            (await client.GetAsync(Operations)).Dispose();
        }

        using var cancel = new CancellationTokenSource();
        var cancelled = client.PostAsync(Operations, new StringContent("{}"), cancel.Token);
        await RateLimitHost.SettleAsync(() => services.Limiter().Queued == 1);
        var kept = Enumerable.Range(0, 3).Select(_ => client.GetAsync(Operations)).ToList();
        await RateLimitHost.SettleAsync(() => services.Limiter().Queued == 4);
        cancel.Cancel();
        await Assert.ThrowsAnyAsync<OperationCanceledException>(() => cancelled.WaitAsync(HangGuard));

        await DrainAsync(kept, services);
        Assert.All(kept, t => Assert.Equal(HttpStatusCode.OK, t.Result.StatusCode));
        Assert.Equal(0, api.TooManyRequests);
        Assert.Equal(6, api.Accepted);
        Assert.True(api.MostInAnyWindow["domain deployments"] <= 3);
    }

    // ---------------------------------------------------------------------------------------------------------------

    private static string Describe(Exception? exception) =>
        exception is null ? "succeeded" : $"{exception.GetType().Name}: {exception.Message}";

    private HttpMessageHandler Recording() => new FakeHttpMessageHandler((request, _) =>
    {
        _sent.Enqueue((request.Method, request.RequestUri!.PathAndQuery, _time.GetUtcNow() - Start));
        return Task.FromResult(new HttpResponseMessage(HttpStatusCode.OK) { Content = new StringContent("{}") });
    });

    private async Task DrainAsync<T>(List<Task<T>> pending, IServiceProvider services)
    {
        var all = Task.WhenAll(pending);
        var guard = Task.Delay(HangGuard);
        for (var i = 0; i < 600 && !all.IsCompleted && !guard.IsCompleted; i++)
        {
            await RateLimitHost.SettleAsync(() => all.IsCompleted || services.Limiter().Queued == pending.Count(t => !t.IsCompleted));
            if (all.IsCompleted)
            {
                break;
            }

            _time.Advance(TimeSpan.FromSeconds(1));
            await Task.WhenAny(all, Task.Delay(2));
        }

        await Task.WhenAny(all, Task.Delay(TimeSpan.FromSeconds(5)));
    }

    /// <summary>An IOdcRateLimitStore with the documented semantics: a sliding log per key, all or nothing.</summary>
    private sealed class SlidingLogStore : IOdcRateLimitStore
    {
        private readonly Dictionary<string, List<DateTimeOffset>> _taken = new(StringComparer.Ordinal);

        public ValueTask<(TimeSpan Wait, int RefusedBy)> TryAcquireAsync(IReadOnlyList<(string Key, int Limit)> limits, DateTimeOffset now, TimeSpan window, CancellationToken cancellationToken)
        {
            lock (_taken)
            {
                var wait = TimeSpan.Zero;
                var refusedBy = 0;
                for (var i = 0; i < limits.Count; i++)
                {
                    var (key, limit) = limits[i];
                    var times = _taken.TryGetValue(key, out var found) ? found : _taken[key] = [];
                    times.RemoveAll(t => now - t >= window);
                    if (times.Count >= limit && times[times.Count - limit] + window - now is var free && free > wait)
                    {
                        (wait, refusedBy) = (free, i);
                    }
                }

                if (wait > TimeSpan.Zero)
                {
                    return ValueTask.FromResult((wait, refusedBy));
                }

                foreach (var (key, _) in limits)
                {
                    _taken[key].Add(now);
                }

                return ValueTask.FromResult((TimeSpan.Zero, 0));
            }
        }
    }
}
