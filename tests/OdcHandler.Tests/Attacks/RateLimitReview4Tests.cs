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
/// Review 15: an outside attempt on the changes of review 14's fixes (the limiter following redirects itself, the
/// limit-key validation, the default HttpClient.Timeout grown by MaxWait, disposal and pre-cancelled requests).
/// Each break it found failed here first; its summary says what broke, and the test now holds the fix (a fifth, a
/// primary handler shared by two clients, is a known limit in the README). Tests whose name starts with <c>Held_</c>
/// tried something that held. Time is fake; the wall clock only guards
/// against a hang. Real sockets only on 127.0.0.1.
/// </summary>
public sealed class RateLimitReview4Tests
{
    private static readonly TimeSpan HangGuard = TimeSpan.FromSeconds(60);
    private static readonly DateTimeOffset Start = new(2026, 12, 7, 8, 0, 0, TimeSpan.Zero);
    private readonly FakeTimeProvider _time = new(Start);

    // ---------------------------------------------------------------------------------------------------------------
    // Breaks
    // ---------------------------------------------------------------------------------------------------------------

    /// <summary>
    /// Review 15, a break now fixed. README "Rate limits": the limiter follows redirects "by the same rules" as the primary handler would have.
    /// SocketsHttpHandler sends a redirect's hops through a handler that does not authenticate whenever its
    /// <c>Credentials</c> are not a <c>CredentialCache</c> ("for security reasons, we do not support authentication on
    /// redirects"), so a host the request was redirected to never gets the application's credentials. The limiter turns
    /// AllowAutoRedirect off and sends every hop through the primary handler's authenticating path: the other host
    /// answers 401 <c>WWW-Authenticate: Basic</c> and receives <c>Authorization: Basic</c> with the user name and
    /// password. Without AddOdcRateLimiting it receives one request without credentials and the 401 is returned.
    /// Suggested fix: take over redirects only when the primary handler has no Credentials (or a CredentialCache);
    /// otherwise leave it following them itself (a known limit), or refuse at start.
    /// </summary>
    [Theory]
    [InlineData(false)]
    [InlineData(true)]
    public async Task Redirect_PrimaryHandlerWithCredentials_AnotherHostsChallengeNeverGetsThem(bool httpClientHandler)
    {
        var credentialsSeen = new ConcurrentQueue<string>();
        using var other = new LoopbackHttpServer(request =>
        {
            var authorization = request.Headers["Authorization"];
            credentialsSeen.Enqueue(authorization ?? "none");
            return authorization is null ? new LoopbackReply(HttpStatusCode.Unauthorized, Challenge: "Basic realm=\"other\"") : new LoopbackReply(HttpStatusCode.OK);
        });
        using var api = new LoopbackHttpServer(_ => new LoopbackReply(HttpStatusCode.Found, other.Prefix + "landing"));
        var credentials = new NetworkCredential("svc-user", "S3cret-Pw");
        HttpMessageHandler Primary() => httpClientHandler
            ? new HttpClientHandler { UseProxy = false, Credentials = credentials }
            : new SocketsHttpHandler { UseProxy = false, Credentials = credentials };

        async Task<string> RunAsync(bool limited)
        {
            credentialsSeen.Clear();
            using var services = RateLimitHost.Build(_time, Primary, b =>
            {
                if (limited)
                {
                    b.AddOdcRateLimiting();
                }
            });
            using var response = await services.Client(RateLimitHost.ClientName).GetAsync(api.Prefix + "api/identity/v1/me").WaitAsync(HangGuard);
            return $"{(int)response.StatusCode}, the other host saw [{string.Join(", ", credentialsSeen)}]";
        }

        var plain = await RunAsync(limited: false);
        var limited = await RunAsync(limited: true);

        Assert.Equal("401, the other host saw [none]", plain);
        Assert.True(plain == limited, $"without the limiter: {plain}; with AddOdcRateLimiting: {limited}");
    }

    /// <summary>
    /// Review 15, a break now fixed. Review 14's fix: "a request whose token is already cancelled takes no permit" (nothing will be sent, so no
    /// permit is spent on it), and "a redirect is a request too". A hop is not checked: when the caller's token is
    /// cancelled while the first hop's 302 comes back, the limiter takes the next hop's permit on the free-permit path
    /// and hands it to the primary handler, which refuses the cancelled token unsent. With a pool of 2, one call whose
    /// first hop reached the server spends both permits: the next, live call waits a whole window although the server
    /// received one request. Suggested fix: check the token before taking each hop's (and each 429 resend's) permits,
    /// as for the first send.
    /// </summary>
    [Fact]
    public async Task Redirect_TokenCancelledBetweenHops_TheUnsentHopTakesNoPermit()
    {
        using var cts = new CancellationTokenSource();
        var arrived = 0;
        using var services = RateLimitHost.Build(
            _time,
            () => new ScriptedNetworkHandler((request, token) =>
            {
                token.ThrowIfCancellationRequested();
                Interlocked.Increment(ref arrived);
                if (request.RequestUri!.AbsolutePath == "/api/identity/v1/me")
                {
                    // The caller gives up while the redirect's answer is on its way back.
                    cts.Cancel();
                    return new HttpResponseMessage(HttpStatusCode.Found) { Headers = { Location = new Uri("/api/identity/v1/users", UriKind.Relative) } };
                }

                return new HttpResponseMessage(HttpStatusCode.OK);
            }),
            b => b.AddOdcRateLimiting(o => o.DomainLimits["identity"] = 2));
        var client = services.Client(RateLimitHost.ClientName);

        await Assert.ThrowsAnyAsync<OperationCanceledException>(() => client.GetAsync("identity/v1/me", cts.Token).WaitAsync(HangGuard));
        Assert.Equal(1, arrived);

        var live = client.GetAsync("identity/v1/users");
        await RateLimitHost.SettleAsync(() => live.IsCompleted || services.Limiter().Queued == 1);
        var waited = !live.IsCompleted;
        _time.Advance(TimeSpan.FromSeconds(61));
        await live.WaitAsync(HangGuard);

        Assert.False(waited, "the server had received 1 identity request of a pool of 2, yet the live call had to wait for a permit: the cancelled hop took one");
    }

    /// <summary>
    /// Review 15, a break now fixed. README "Known limits": rate limits are "read when a client first sends, not followed across reloads";
    /// review 14's fix adds MaxWait to a default HttpClient.Timeout by reading the client's OdcRateLimitOptions at every
    /// IHttpClientFactory.CreateClient. A reload of the rate-limit section with a value the validator refuses (here
    /// MaxWait of 2 days; an appsettings.json edited by hand, reloadOnChange being ASP.NET Core's default) now makes every
    /// CreateClient of that name throw OptionsValidationException: a typed client, created per resolution, fails every
    /// request of the application, while the limiter itself keeps the limits it read at the start. Before that change
    /// the reload had no effect at all. Suggested fix: take MaxWait from the limiter the registry already built (the
    /// limits in force), or catch the validation failure there and leave the Timeout alone.
    /// </summary>
    [Fact]
    public async Task RateLimitSectionReloadedWithAnInvalidValue_ExistingLimitsKeepServingNewClients()
    {
        var reloadable = new ReloadableConfiguration();
        reloadable.Replace(new Dictionary<string, string?> { ["DomainLimits:identity"] = "50" });
        var configuration = new ConfigurationBuilder().Add(reloadable).Build();
        using var services = RateLimitHost.Build(_time, Ok, b => b.AddOdcRateLimiting(configuration));
        (await services.Client(RateLimitHost.ClientName).GetAsync("identity/v1/users")).Dispose();

        // The reload's own notification throws (IOptionsMonitor re-reads and validates at once): that was so before.
        _ = Record.Exception(() => reloadable.Replace(new Dictionary<string, string?> { ["DomainLimits:identity"] = "50", ["MaxWait"] = "2.00:00:00" }));
        var after = await Record.ExceptionAsync(async () => (await services.Client(RateLimitHost.ClientName).GetAsync("identity/v1/users")).Dispose());

        Assert.True(after is null, $"after the reload, creating the client and sending failed: {Describe(after)}");
    }

    /// <summary>
    /// Review 15, a break now fixed. Review 14's fix: "a limit key that could never apply is refused at start, saying what to write (… a path
    /// that repeats /api/ …)". Only a path that starts with api/ is refused. A key written as the address the
    /// application calls (the full URL, or the host and path) also repeats /api/ and can never match, since requests are
    /// matched on the path after /api/; so can a path with a query, which a request's path never has. These pass
    /// validation and the configured cap is silently ignored. Suggested fix: refuse a path that contains "/api/" or
    /// "://" anywhere, or a '?' or '#'.
    /// </summary>
    [Theory]
    [InlineData("EndpointLimits:POST https://myorg.outsystems.dev/api/identity/v1/users/bulk")]
    [InlineData("EndpointLimits:POST myorg.outsystems.dev/api/identity/v1/users/bulk")]
    [InlineData("EndpointLimits:POST identity/v1/users/bulk?dryRun=false")]
    public void LimitKeyThatCanNeverMatchARequestsPath_IsRefusedAtStart(string key)
    {
        var configuration = new ConfigurationBuilder().AddInMemoryCollection(new Dictionary<string, string?> { [key] = "2" }).Build();
        using var services = RateLimitHost.Build(_time, Ok, b => b.AddOdcRateLimiting(configuration));

        var validation = Record.Exception(() => services.GetRequiredService<IOptionsMonitor<OdcRateLimitOptions>>().Get(RateLimitHost.ClientName));

        Assert.True(validation is OptionsValidationException, $"the key '{key}' passed validation; it can never match a request");
    }

    // ---------------------------------------------------------------------------------------------------------------
    // Held (kept for coverage)
    // ---------------------------------------------------------------------------------------------------------------

    /// <summary>
    /// Held. A cookie set by a redirect's answer is sent on the next hop, as SocketsHttpHandler does when it follows
    /// the redirect itself (its CookieContainer is used by every hop, not by its redirect loop).
    /// </summary>
    [Fact]
    public async Task Held_Redirect_CookieSetByTheRedirectIsSentOnTheNextHop()
    {
        var cookies = new ConcurrentQueue<string>();
        using var server = new LoopbackHttpServer(request =>
        {
            cookies.Enqueue(request.Headers["Cookie"] ?? "none");
            return request.Url!.AbsolutePath == "/api/identity/v1/me"
                ? new LoopbackReply(HttpStatusCode.Found, "/api/identity/v1/users", SetCookie: "session=abc; Path=/")
                : new LoopbackReply(HttpStatusCode.OK);
        });

        async Task<string> RunAsync(bool limited)
        {
            cookies.Clear();
            using var services = RateLimitHost.Build(_time, () => new SocketsHttpHandler { UseProxy = false }, b =>
            {
                if (limited)
                {
                    b.AddOdcRateLimiting();
                }
            });
            using var response = await services.Client(RateLimitHost.ClientName).GetAsync(server.Prefix + "api/identity/v1/me").WaitAsync(HangGuard);
            return $"{(int)response.StatusCode} [{string.Join(", ", cookies)}]";
        }

        Assert.Equal(await RunAsync(limited: false), await RunAsync(limited: true));
        Assert.Equal("200 [none, session=abc]", await RunAsync(limited: true));
    }

    /// <summary>
    /// Held. A 307 of a POST whose body is a non-seekable stream: the caller sees what SocketsHttpHandler's own
    /// following gives (the hop cannot send the body again), the other port receives nothing.
    /// </summary>
    [Fact]
    public async Task Held_Redirect_307WithABodyThatCannotBeSentAgain_EndsAsWithoutTheLimiter()
    {
        var otherArrivals = 0;
        using var other = new LoopbackHttpServer(_ =>
        {
            Interlocked.Increment(ref otherArrivals);
            return new LoopbackReply(HttpStatusCode.OK);
        });
        using var api = new LoopbackHttpServer(_ => new LoopbackReply(HttpStatusCode.TemporaryRedirect, other.Prefix + "api/identity/v1/users"));

        async Task<string> RunAsync(bool limited)
        {
            Volatile.Write(ref otherArrivals, 0);
            using var services = RateLimitHost.Build(_time, () => new SocketsHttpHandler { UseProxy = false }, b =>
            {
                if (limited)
                {
                    b.AddOdcRateLimiting();
                }
            });
            using var body = new NonSeekableStream(Encoding.UTF8.GetBytes("{\"name\":\"x\"}"));
            var outcome = await Record.ExceptionAsync(async () =>
            {
                using var response = await services.Client(RateLimitHost.ClientName)
                    .PostAsync(api.Prefix + "api/identity/v1/users", new StreamContent(body)).WaitAsync(HangGuard);
                throw new InvalidDataException($"answered {(int)response.StatusCode}");
            });
            return $"{outcome?.GetType().Name}: {outcome?.InnerException?.GetType().Name}; other port got {Volatile.Read(ref otherArrivals)}";
        }

        Assert.Equal(await RunAsync(limited: false), await RunAsync(limited: true));
    }

    /// <summary>
    /// Held. A redirect's hop answered 429 (no Retry-After) is resent to the hop's address (not to the first address)
    /// once the window has moved on.
    /// </summary>
    [Fact]
    public async Task Held_Redirect_HopAnswered429_IsResentToTheHopAfterTheWindow()
    {
        var answered429 = 0;
        var sent = new ConcurrentQueue<(string Path, TimeSpan At)>();
        using var services = RateLimitHost.Build(
            _time,
            () => new ScriptedNetworkHandler((request, _) =>
            {
                sent.Enqueue((request.RequestUri!.AbsolutePath, _time.GetUtcNow() - Start));
                if (request.RequestUri.AbsolutePath == "/api/identity/v1/me")
                {
                    return new HttpResponseMessage(HttpStatusCode.Found) { Headers = { Location = new Uri("/api/portfolios/v2/x", UriKind.Relative) } };
                }

                return Interlocked.Increment(ref answered429) == 1 ? new HttpResponseMessage(HttpStatusCode.TooManyRequests) : new HttpResponseMessage(HttpStatusCode.OK);
            }),
            b => b.AddOdcRateLimiting());

        var call = services.Client(RateLimitHost.ClientName).GetAsync("identity/v1/me");
        for (var i = 0; i < 180 && !call.IsCompleted; i++)
        {
            await RateLimitHost.SettleAsync(() => call.IsCompleted || services.Limiter().Queued == 1);
            _time.Advance(TimeSpan.FromSeconds(1));
        }

        using var response = await call.WaitAsync(HangGuard);

        Assert.Equal(HttpStatusCode.OK, response.StatusCode);
        Assert.Equal(["/api/identity/v1/me", "/api/portfolios/v2/x", "/api/portfolios/v2/x"], sent.Select(s => s.Path));
        Assert.True(sent.Last().At >= TimeSpan.FromSeconds(60), $"resent at {sent.Last().At}");
    }

    /// <summary>Held. Redirect answers are disposed: with one connection per server, 20 redirected calls all complete.</summary>
    [Fact]
    public async Task Held_Redirect_TheRedirectAnswersAreDisposed_NoConnectionIsHeld()
    {
        using var server = new LoopbackHttpServer(request => request.Url!.AbsolutePath == "/api/identity/v1/me"
            ? new LoopbackReply(HttpStatusCode.Found, "/api/identity/v1/users", Body: new string('x', 64 * 1024))
            : new LoopbackReply(HttpStatusCode.OK));
        using var services = RateLimitHost.Build(_time, () => new SocketsHttpHandler { UseProxy = false, MaxConnectionsPerServer = 1 }, b => b.AddOdcRateLimiting());
        var client = services.Client(RateLimitHost.ClientName);

        for (var i = 0; i < 20; i++)
        {
            using var response = await client.GetAsync(server.Prefix + "api/identity/v1/me", HttpCompletionOption.ResponseHeadersRead).WaitAsync(HangGuard);
            Assert.Equal(HttpStatusCode.OK, response.StatusCode);
        }
    }

    /// <summary>Held. A trailing-dot host and its plain spelling share one pool, also when the dotted one is seen first.</summary>
    [Fact]
    public async Task Held_TrailingDotHostSeenFirst_SharesThePool()
    {
        var sent = 0;
        using var services = RateLimitHost.Build(
            _time,
            () => new FakeHttpMessageHandler((_, _) =>
            {
                Interlocked.Increment(ref sent);
                return Task.FromResult(new HttpResponseMessage(HttpStatusCode.OK));
            }),
            b => b.AddOdcRateLimiting(o => o.DomainLimits["identity"] = 2));
        var client = services.Client(RateLimitHost.ClientName);

        (await client.GetAsync("https://MyOrg.outsystems.dev./api/identity/v1/users")).Dispose();
        (await client.GetAsync("https://myorg.outsystems.dev:443/api/identity/v1/users")).Dispose();
        var third = client.GetAsync("https://myorg.outsystems.dev/api/identity/v1/users");
        await RateLimitHost.SettleAsync(() => services.Limiter().Queued == 1);

        Assert.False(third.IsCompleted);
        Assert.Equal(2, sent);
        _time.Advance(TimeSpan.FromSeconds(61));
        (await third.WaitAsync(HangGuard)).Dispose();
    }

    /// <summary>Held. A Timeout of 100 s grows by MaxWait at its largest (1 day) without overflowing; one the application set is kept.</summary>
    [Fact]
    public void Held_DefaultTimeoutWithMaxWaitOfOneDay_GrowsByADay_AndATypedClientsOwnTimeoutIsKept()
    {
        var services = new ServiceCollection();
        services.AddSingleton<TimeProvider>(_time);
        services.AddHttpClient("odc").AddOdcRateLimiting(o => o.MaxWait = TimeSpan.FromDays(1));
        services.AddHttpClient<TypedOdc>(c => c.Timeout = TimeSpan.FromSeconds(30)).AddOdcRateLimiting();
        using var provider = services.BuildServiceProvider();

        Assert.Equal(TimeSpan.FromSeconds(100) + TimeSpan.FromDays(1), provider.GetRequiredService<IHttpClientFactory>().CreateClient("odc").Timeout);
        Assert.Equal(TimeSpan.FromSeconds(30), provider.GetRequiredService<TypedOdc>().Client.Timeout);
    }

    // ---------------------------------------------------------------------------------------------------------------

    private static string Describe(Exception? exception) =>
        exception is null ? "succeeded" : $"{exception.GetType().Name}: {exception.Message}";

    private static HttpMessageHandler Ok() => new FakeHttpMessageHandler((_, _) => Task.FromResult(new HttpResponseMessage(HttpStatusCode.OK)));

    public sealed class TypedOdc(HttpClient client)
    {
        public HttpClient Client { get; } = client;
    }

    /// <summary>
    /// An in-memory network: an HttpClientHandler (so the limiter takes its redirects over, as for a real one) whose
    /// answers come from a delegate instead of a socket.
    /// </summary>
    private sealed class ScriptedNetworkHandler(Func<HttpRequestMessage, CancellationToken, HttpResponseMessage> respond) : HttpClientHandler
    {
        protected override Task<HttpResponseMessage> SendAsync(HttpRequestMessage request, CancellationToken cancellationToken)
        {
            try
            {
                return Task.FromResult(Answer(request, cancellationToken));
            }
            catch (OperationCanceledException) when (cancellationToken.IsCancellationRequested)
            {
                return Task.FromCanceled<HttpResponseMessage>(cancellationToken);
            }
        }

        protected override HttpResponseMessage Send(HttpRequestMessage request, CancellationToken cancellationToken) => Answer(request, cancellationToken);

        private HttpResponseMessage Answer(HttpRequestMessage request, CancellationToken cancellationToken)
        {
            var response = respond(request, cancellationToken);
            response.RequestMessage = request;
            return response;
        }
    }

    private sealed class NonSeekableStream(byte[] data) : MemoryStream(data)
    {
        public override bool CanSeek => false;

        public override long Position { get => base.Position; set => throw new NotSupportedException(); }

        public override long Seek(long offset, SeekOrigin loc) => throw new NotSupportedException();

        public override long Length => throw new NotSupportedException();
    }
}
