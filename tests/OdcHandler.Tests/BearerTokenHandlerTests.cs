using System.Net;
using System.Text;
using Microsoft.Extensions.DependencyInjection;
using OdcHandler.Internal;
using OdcHandler.Tests.Fakes;

namespace OdcHandler.Tests;

public sealed class BearerTokenHandlerTests
{
    private readonly FakeIdentityServer _server = new();

    [Fact]
    public async Task SendAsync_ColdCache_FetchesDiscoveryAndTokenOnceAndAttachesBearer()
    {
        using var services = OdcTestHost.Build(_server);
        var client = services.Client();

        for (var i = 0; i < 5; i++)
        {
            using var response = await client.GetAsync("users");
            Assert.Equal(HttpStatusCode.OK, response.StatusCode);
        }

        Assert.Equal(1, _server.DiscoveryRequests);
        Assert.Equal(1, _server.TokenRequests);
        Assert.Equal(5, _server.ApiRequests);
        using var last = await client.GetAsync("users");
        Assert.False(last.RequestMessage!.Headers.Contains("Authorization"), "the token must not stay on the request once it is answered");
        Assert.All(_server.Requests.Where(r => r.Uri.AbsolutePath.StartsWith("/api/", StringComparison.Ordinal)),
            r => Assert.Equal("Bearer token-1", r.Authorization));
    }

    [Fact]
    public async Task SendAsync_TokenRequest_EncodesSecretExactlyOnceInFormBody()
    {
        using var services = OdcTestHost.Build(_server);
        using var response = await services.Client().GetAsync("users");

        var tokenRequest = Assert.Single(_server.Requests, r => r.Uri == _server.TokenEndpoint);
        Assert.Null(tokenRequest.Authorization);
        Assert.Equal("grant_type=client_credentials&client_id=my-client&client_secret=a%2Bb%2Fc%3Dd%26e%25f+g", tokenRequest.Body);
        var decoded = tokenRequest.Body!.Split('&').Select(pair => pair.Split('='))
            .ToDictionary(p => p[0], p => Uri.UnescapeDataString(p[1].Replace('+', ' ')));
        Assert.Equal(FakeIdentityServer.Secret, decoded["client_secret"]);
    }

    [Fact]
    public async Task SendAsync_BasicAuthHeaderStyle_SendsRfc6749EncodedCredentials()
    {
        using var services = OdcTestHost.Build(_server, o => o.CredentialStyle = ClientCredentialStyle.BasicAuthHeader);
        using var response = await services.Client().GetAsync("users");

        var tokenRequest = Assert.Single(_server.Requests, r => r.Uri == _server.TokenEndpoint);
        Assert.Equal("grant_type=client_credentials", tokenRequest.Body);
        Assert.StartsWith("Basic ", tokenRequest.Authorization, StringComparison.Ordinal);
        var pair = Encoding.UTF8.GetString(Convert.FromBase64String(tokenRequest.Authorization![6..]));
        Assert.Equal("my-client:a%2Bb%2Fc%3Dd%26e%25f+g", pair);
        Assert.Equal(HttpStatusCode.OK, response.StatusCode);
    }

    [Theory]
    [InlineData("https://myorg.outsystems.dev.evil.com/api/users")]
    [InlineData("https://evilmyorg.outsystems.dev/api/users")]
    [InlineData("https://myorg.outsystems.dev:8443/api/users")]
    [InlineData("http://myorg.outsystems.dev/api/users")]
    [InlineData("https://myorg.outsystems.dev@evil.com/api/users")]
    [InlineData("https://example.com/api/users")]
    public async Task SendAsync_RequestToAnotherOrigin_IsSentWithoutTokenAndFetchesNone(string address)
    {
        using var services = OdcTestHost.Build(_server);
        using var response = await services.Client().GetAsync(new Uri(address));

        var sent = Assert.Single(_server.Requests);
        Assert.Null(sent.Authorization);
        Assert.Equal(0, _server.TokenRequests);
    }

    [Fact]
    public async Task SendAsync_AdditionalApiHost_ReceivesTheToken()
    {
        using var services = OdcTestHost.Build(_server, o => o.AdditionalApiHosts.Add("api.myorg.example:8443"));
        using var response = await services.Client().GetAsync(new Uri("https://api.myorg.example:8443/api/users"));

        Assert.Equal("Bearer token-1", _server.Requests.Last().Authorization);
    }

    [Fact]
    public async Task SendAsync_CallerSuppliedAuthorization_IsLeftAloneAndNeverRetried()
    {
        using var services = OdcTestHost.Build(_server);
        using var request = new HttpRequestMessage(HttpMethod.Get, "users");
        request.Headers.TryAddWithoutValidation("Authorization", "Bearer callers-own");

        using var response = await services.Client().SendAsync(request);

        Assert.Equal(HttpStatusCode.Unauthorized, response.StatusCode);
        var sent = Assert.Single(_server.Requests);
        Assert.Equal("Bearer callers-own", sent.Authorization);
        Assert.Equal(0, _server.TokenRequests);
    }

    [Theory]
    [InlineData(false)]
    [InlineData(true)]
    public async Task SendAsync_ThousandConcurrentCallersOnColdOrExpiredCache_CauseOneDiscoveryAndOneTokenRequest(bool expired)
    {
        using var services = OdcTestHost.Build(_server);
        var client = services.Client();
        if (expired)
        {
            (await client.GetAsync("users")).Dispose();
            _server.Time.Advance(TimeSpan.FromHours(12));
        }

        var tokenRequestsBefore = _server.TokenRequests;
        _server.TokenGate = new TaskCompletionSource(TaskCreationOptions.RunContinuationsAsynchronously);
        var calls = Enumerable.Range(0, 1000).Select(_ => Task.Run(() => client.GetAsync("users"))).ToArray();
        await _server.TokenRequestArrived.WaitAsync(TimeSpan.FromSeconds(30));
        _server.TokenGate.SetResult();
        var responses = await Task.WhenAll(calls);

        Assert.All(responses, r => Assert.Equal(HttpStatusCode.OK, r.StatusCode));
        Assert.Equal(1, _server.DiscoveryRequests);
        Assert.Equal(1, _server.TokenRequests - tokenRequestsBefore);
        foreach (var response in responses)
        {
            response.Dispose();
        }
    }

    [Fact]
    public async Task SendAsync_InsideRefreshWindow_NoCallerWaitsForTheTokenEndpoint()
    {
        using var services = OdcTestHost.Build(_server);
        var client = services.Client();
        (await client.GetAsync("users")).Dispose();
        _server.TokenGate = new TaskCompletionSource(TaskCreationOptions.RunContinuationsAsynchronously);
        _server.Time.Advance(TimeSpan.FromHours(12) - TimeSpan.FromMinutes(4));

        try
        {
            // The token endpoint is held, yet all requests complete: none of them waits for the refresh.
            var responses = await Task.WhenAll(Enumerable.Range(0, 200).Select(_ => Task.Run(() => client.GetAsync("users"))));
            await _server.TokenRequestArrived.WaitAsync(TimeSpan.FromSeconds(30));
            await _server.TokenRequestArrived.WaitAsync(TimeSpan.FromSeconds(30));

            Assert.All(responses, r => Assert.Equal(HttpStatusCode.OK, r.StatusCode));
            Assert.Equal(2, _server.TokenRequests);
            foreach (var response in responses)
            {
                response.Dispose();
            }
        }
        finally
        {
            _server.TokenGate.SetResult();

            // Polly's pipeline registry waits for in-flight calls on its TimeProvider when disposed; with fake
            // time that wait would never end, so the refresh must be over before the provider is disposed.
            await services.GetRequiredService<OdcAccessTokenProvider>().GetManager(OdcTestHost.ClientName).WhenFetchSettled();
        }
    }

    [Fact]
    public async Task SendAsync_CallerCancelsWhileTokenIsFetched_OnlyThatCallerStops()
    {
        _server.TokenGate = new TaskCompletionSource(TaskCreationOptions.RunContinuationsAsynchronously);
        using var services = OdcTestHost.Build(_server);
        var client = services.Client();
        using var cancel = new CancellationTokenSource();

        var cancelled = client.GetAsync("users", cancel.Token);
        await _server.TokenRequestArrived.WaitAsync(TimeSpan.FromSeconds(30));
        var patient = client.GetAsync("users");
        await cancel.CancelAsync();
        await Assert.ThrowsAnyAsync<OperationCanceledException>(() => cancelled);

        _server.TokenGate.SetResult();
        using var response = await patient;

        Assert.Equal(HttpStatusCode.OK, response.StatusCode);
        Assert.Equal(1, _server.TokenRequests);
        Assert.Equal(1, _server.ApiRequests);
    }

    [Fact]
    public async Task SendAsync_InsideRefreshWindow_ServesCurrentTokenAndRefreshesOnceInBackground()
    {
        using var services = OdcTestHost.Build(_server);
        var client = services.Client();
        var manager = services.GetRequiredService<OdcAccessTokenProvider>().GetManager(OdcTestHost.ClientName);
        (await client.GetAsync("users")).Dispose();

        _server.TokenGate = new TaskCompletionSource(TaskCreationOptions.RunContinuationsAsynchronously);
        _server.Time.Advance(TimeSpan.FromHours(12) - TimeSpan.FromMinutes(4));
        for (var i = 0; i < 3; i++)
        {
            (await client.GetAsync("users")).Dispose();
        }

        Assert.All(_server.Requests.Where(r => r.Uri.AbsolutePath.StartsWith("/api/", StringComparison.Ordinal)),
            r => Assert.Equal("Bearer token-1", r.Authorization));
        await _server.TokenRequestArrived.WaitAsync(TimeSpan.FromSeconds(30));
        _server.TokenGate.SetResult();
        await manager.WhenFetchSettled();
        (await client.GetAsync("users")).Dispose();

        Assert.Equal(2, _server.TokenRequests);
        Assert.Equal("Bearer token-2", _server.Requests.Last().Authorization);
    }

    [Fact]
    public async Task RefreshMoment_ShortLivedToken_IsHalfWayThroughItsLifetime()
    {
        _server.TokenLifetimeSeconds = 120;
        using var services = OdcTestHost.Build(_server, o => o.RefreshJitter = TimeSpan.Zero);
        var provider = services.GetRequiredService<IOdcAccessTokenProvider>();

        var token = await provider.GetTokenAsync(OdcTestHost.ClientName);

        Assert.Equal(_server.Time.GetUtcNow() + TimeSpan.FromSeconds(120), token.ExpiresAt);
        Assert.Equal(_server.Time.GetUtcNow() + TimeSpan.FromSeconds(60), token.RefreshAt);
    }

    [Fact]
    public async Task SendAsync_BackgroundRefreshFails_KeepsOldTokenUntilItExpires()
    {
        using var services = OdcTestHost.Build(_server);
        var client = services.Client();
        var manager = services.GetRequiredService<OdcAccessTokenProvider>().GetManager(OdcTestHost.ClientName);
        (await client.GetAsync("users")).Dispose();
        _server.TokenResponder = _ => FakeIdentityServer.Json(HttpStatusCode.ServiceUnavailable, """{"error":"temporarily_unavailable"}""");

        _server.Time.Advance(TimeSpan.FromHours(12) - TimeSpan.FromMinutes(4));
        using (var during = await client.GetAsync("users"))
        {
            Assert.Equal(HttpStatusCode.OK, during.StatusCode);
        }

        await manager.WhenFetchSettled();
        Assert.Equal(1 + OdcTestHost.BackchannelAttempts, _server.TokenRequests);

        // Still inside the back-off: the failed refresh is not retried on every request.
        using (var again = await client.GetAsync("users"))
        {
            Assert.Equal(HttpStatusCode.OK, again.StatusCode);
        }

        Assert.Equal(1 + OdcTestHost.BackchannelAttempts, _server.TokenRequests);
        Assert.Equal("Bearer token-1", _server.Requests.Last().Authorization);

        _server.Time.Advance(TimeSpan.FromMinutes(4));
        await Assert.ThrowsAsync<OdcAuthenticationException>(() => client.GetAsync("users"));
        Assert.Equal(3, _server.ApiRequests);
    }

    [Fact]
    public async Task SendAsync_TokenExpired_WaitsForAFreshToken()
    {
        using var services = OdcTestHost.Build(_server);
        var client = services.Client();
        (await client.GetAsync("users")).Dispose();

        _server.Time.Advance(TimeSpan.FromHours(12));
        using var response = await client.GetAsync("users");

        Assert.Equal(HttpStatusCode.OK, response.StatusCode);
        Assert.Equal(2, _server.TokenRequests);
        Assert.Equal("Bearer token-2", _server.Requests.Last().Authorization);
    }

    [Fact]
    public async Task SendAsync_TokenRevoked_RetriesOnceWithFreshTokenAndReplaysBody()
    {
        using var services = OdcTestHost.Build(_server);
        var client = services.Client();
        (await client.GetAsync("users")).Dispose();
        _server.RevokeAll();

        using var response = await client.PostAsync("users", new StringContent("""{"name":"Ada"}""", Encoding.UTF8, "application/json"));

        Assert.Equal(HttpStatusCode.OK, response.StatusCode);
        Assert.Equal(2, _server.TokenRequests);
        var posts = _server.Requests.Where(r => r.Method == HttpMethod.Post && r.Uri.AbsolutePath == "/api/users").ToList();
        Assert.Equal(2, posts.Count);
        Assert.Equal(["Bearer token-1", "Bearer token-2"], posts.Select(p => p.Authorization));
        Assert.All(posts, p => Assert.Equal("""{"name":"Ada"}""", p.Body));
    }

    [Fact]
    public async Task SendAsync_SecondUnauthorized_IsReturnedWithoutAnotherRetry()
    {
        _server.ApiResponder = _ => Task.FromResult(FakeIdentityServer.Json(HttpStatusCode.Unauthorized, "{}"));
        using var services = OdcTestHost.Build(_server);

        using var response = await services.Client().GetAsync("users");

        Assert.Equal(HttpStatusCode.Unauthorized, response.StatusCode);
        Assert.Equal(2, _server.ApiRequests);
        Assert.Equal(2, _server.TokenRequests);
    }

    [Fact]
    public async Task SendAsync_ConcurrentUnauthorizedAnswers_CauseOneRefresh()
    {
        using var services = OdcTestHost.Build(_server);
        var client = services.Client();
        (await client.GetAsync("users")).Dispose();
        _server.RevokeAll();
        var arrived = 0;
        var allArrived = new TaskCompletionSource(TaskCreationOptions.RunContinuationsAsynchronously);
        _server.ApiResponder = async request =>
        {
            if (request.Authorization == "Bearer token-1")
            {
                // Hold every first attempt until all 20 carry the same rejected token.
                if (Interlocked.Increment(ref arrived) == 20)
                {
                    allArrived.SetResult();
                }

                await allArrived.Task;
                return FakeIdentityServer.Json(HttpStatusCode.Unauthorized, "{}");
            }

            return FakeIdentityServer.Json(HttpStatusCode.OK, "{}");
        };

        var responses = await Task.WhenAll(Enumerable.Range(0, 20).Select(_ => Task.Run(() => client.GetAsync("users"))));

        Assert.All(responses, r => Assert.Equal(HttpStatusCode.OK, r.StatusCode));
        Assert.Equal(2, _server.TokenRequests);
        Assert.Equal(1 + 20 + 20, _server.ApiRequests);
        foreach (var response in responses)
        {
            response.Dispose();
        }
    }

    [Fact]
    public async Task SendAsync_UnauthorizedWithNonSeekableBody_ReturnsTheUnauthorizedButDropsTheToken()
    {
        using var services = OdcTestHost.Build(_server);
        var client = services.Client();
        (await client.GetAsync("users")).Dispose();
        _server.RevokeAll();

        using var stream = new NonSeekableStream(Encoding.UTF8.GetBytes("payload"));
        using var response = await client.PostAsync("users", new StreamContent(stream));

        Assert.Equal(HttpStatusCode.Unauthorized, response.StatusCode);
        Assert.Equal(2, _server.ApiRequests);
        using var next = await client.GetAsync("users");
        Assert.Equal(HttpStatusCode.OK, next.StatusCode);
        Assert.Equal(2, _server.TokenRequests);
    }

    [Fact]
    public async Task SendAsync_UnauthorizedWithSeekableStreamBody_IsReplayed()
    {
        using var services = OdcTestHost.Build(_server);
        var client = services.Client();
        (await client.GetAsync("users")).Dispose();
        _server.RevokeAll();

        using var response = await client.PostAsync("users", new StreamContent(new MemoryStream(Encoding.UTF8.GetBytes("payload"))));

        Assert.Equal(HttpStatusCode.OK, response.StatusCode);
        Assert.All(_server.Requests.Where(r => r.Method == HttpMethod.Post && r.Uri.AbsolutePath == "/api/users"), r => Assert.Equal("payload", r.Body));
    }

    [Fact]
    public async Task SendAsync_RequestOptedOutOfRetry_GetsTheUnauthorized()
    {
        using var services = OdcTestHost.Build(_server);
        var client = services.Client();
        (await client.GetAsync("users")).Dispose();
        _server.RevokeAll();
        using var request = new HttpRequestMessage(HttpMethod.Post, "deployments");
        request.Options.Set(OdcHttpRequestOptions.DisableUnauthorizedRetry, true);

        using var response = await client.SendAsync(request);

        Assert.Equal(HttpStatusCode.Unauthorized, response.StatusCode);
        Assert.Equal(2, _server.ApiRequests);
        Assert.Equal(1, _server.TokenRequests);
    }

    [Fact]
    public async Task SendAsync_ClientSuspended_ThrowsOdcAuthenticationExceptionInsteadOfLooping()
    {
        using var services = OdcTestHost.Build(_server);
        var client = services.Client();
        (await client.GetAsync("users")).Dispose();
        _server.RevokeAll();
        _server.TokenResponder = _ => FakeIdentityServer.Json(HttpStatusCode.Unauthorized,
            """{"error":"invalid_client","error_description":"Invalid client or Invalid client credentials"}""");

        var failure = await Assert.ThrowsAsync<OdcAuthenticationException>(() => client.GetAsync("users"));

        Assert.Equal("invalid_client", failure.Error);
        Assert.Equal(HttpStatusCode.Unauthorized, failure.StatusCode);
        Assert.Contains("90 days", failure.Message, StringComparison.Ordinal);
        Assert.Equal(2, _server.ApiRequests);
        Assert.Equal(2, _server.TokenRequests);
    }

    [Fact]
    public async Task SendAsync_NoTokenCanBeHad_NeverSendsTheRequest()
    {
        _server.TokenResponder = _ => new HttpResponseMessage(HttpStatusCode.InternalServerError);
        using var services = OdcTestHost.Build(_server);

        var failure = await Assert.ThrowsAsync<OdcAuthenticationException>(() => services.Client().GetAsync("users"));

        Assert.Equal(HttpStatusCode.InternalServerError, failure.StatusCode);
        Assert.Equal(0, _server.ApiRequests);
    }

    [Fact]
    public async Task SendAsync_WithinFailureCooldown_SharesTheFailureThenTriesAgain()
    {
        _server.TokenResponder = _ => new HttpResponseMessage(HttpStatusCode.ServiceUnavailable);
        using var services = OdcTestHost.Build(_server, o => o.FailureCooldown = TimeSpan.FromSeconds(10));
        var client = services.Client();

        var first = await Assert.ThrowsAsync<OdcAuthenticationException>(() => client.GetAsync("users"));
        for (var i = 0; i < 50; i++)
        {
            var again = await Assert.ThrowsAsync<OdcAuthenticationException>(() => client.GetAsync("users"));
            Assert.Same(first, again);
        }

        Assert.Equal(OdcTestHost.BackchannelAttempts, _server.TokenRequests);

        _server.TokenResponder = null;
        _server.Time.Advance(TimeSpan.FromSeconds(10));
        using var response = await client.GetAsync("users");

        Assert.Equal(HttpStatusCode.OK, response.StatusCode);
        Assert.Equal(OdcTestHost.BackchannelAttempts + 1, _server.TokenRequests);
        Assert.Equal(1, _server.ApiRequests);
    }

    [Fact]
    public void Send_Synchronous_AttachesTokenAndRetriesOnUnauthorized()
    {
        using var services = OdcTestHost.Build(_server);
        var client = services.Client();

        using (var first = client.Send(new HttpRequestMessage(HttpMethod.Get, "users")))
        {
            Assert.Equal(HttpStatusCode.OK, first.StatusCode);
        }

        _server.RevokeAll();
        using var second = client.Send(new HttpRequestMessage(HttpMethod.Get, "users"));

        Assert.Equal(HttpStatusCode.OK, second.StatusCode);
        Assert.Equal(["Bearer token-1", "Bearer token-1", "Bearer token-2"],
            _server.Requests.Where(r => r.Uri.AbsolutePath.StartsWith("/api/", StringComparison.Ordinal)).Select(r => r.Authorization));
    }

    [Fact]
    public void Send_NoTokenCanBeHad_ThrowsAndSendsNothing()
    {
        _server.TokenResponder = _ => new HttpResponseMessage(HttpStatusCode.BadGateway);
        using var services = OdcTestHost.Build(_server);

        Assert.Throws<OdcAuthenticationException>(() => services.Client().Send(new HttpRequestMessage(HttpMethod.Get, "users")));
        Assert.Equal(0, _server.ApiRequests);
    }

    [Fact]
    public async Task TypedClient_WithFakePrimaryHandler_GetsTheToken()
    {
        using var services = OdcTestHost.Build(_server, services: collection =>
            collection.AddHttpClient<OdcUsersClient>(c => c.BaseAddress = new Uri(_server.PortalUri, "/api/identity/v1/"))
                .AddOdcAuthentication(o =>
                {
                    o.PortalDomain = "myorg.outsystems.dev";
                    o.ClientId = FakeIdentityServer.ClientId;
                    o.ClientSecret = FakeIdentityServer.Secret;
                })
                .ConfigurePrimaryHttpMessageHandler(_server.CreateHandler));

        var users = services.GetRequiredService<OdcUsersClient>();
        var status = await users.ListAsync();

        Assert.Equal(HttpStatusCode.OK, status);
        Assert.Equal("Bearer token-1", _server.Requests.Last().Authorization);
    }

    public sealed class OdcUsersClient(HttpClient http)
    {
        public async Task<HttpStatusCode> ListAsync()
        {
            using var response = await http.GetAsync("users?limit=10");
            return response.StatusCode;
        }
    }

    private sealed class NonSeekableStream(byte[] content) : MemoryStream(content)
    {
        public override bool CanSeek => false;

        public override long Length => throw new NotSupportedException();

        public override long Position
        {
            get => throw new NotSupportedException();
            set => throw new NotSupportedException();
        }
    }
}
