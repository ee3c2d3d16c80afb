using System.Net;
using System.Net.Http.Headers;
using System.Net.Http.Json;
using System.Text.Json;
using Microsoft.Extensions.Time.Testing;

namespace OdcHandler.Testing.Tests;

/// <summary>ODC's published rate limits, which the fake enforces by default on its own clock.</summary>
public sealed class FakeOdcServerRateLimitTests : IDisposable
{
    private readonly FakeTimeProvider _time = new(new DateTimeOffset(2026, 11, 30, 9, 0, 0, TimeSpan.Zero));
    private readonly FakeOdcServer _odc;
    private readonly HttpClient _http;
    private string? _token;

    public FakeOdcServerRateLimitTests()
    {
        _odc = new FakeOdcServer(_time);
        _http = new HttpClient(_odc.CreateHandler());
        _odc.MapGet("/api/identity/v1/users", _ => new { results = Array.Empty<object>() });
        _odc.MapGet("/api/identity/v1/users/bulk/{key}", request => new { key = request.RouteValues["key"], status = "Pending" });
        _odc.MapPost("/api/identity/v1/users/bulk", _ => FakeOdcResponse.Json(HttpStatusCode.Accepted, new { key = Guid.NewGuid(), status = "Pending" }));
        _odc.MapGet("/api/portfolios/v1/applications", _ => new { results = Array.Empty<object>() });
        _odc.MapGet("/api/portfolios/v2/environments", _ => new { results = Array.Empty<object>() });
        _odc.MapGet("/api/environment-configurations/v1/configurations", _ => new { results = Array.Empty<object>() });
        _odc.MapPost("/api/builds/v1/build-operations", _ => FakeOdcResponse.Json(HttpStatusCode.Created, new { buildKey = Guid.NewGuid(), isSuccessful = true }));
        _odc.MapPost("/api/builds/v1/build-operations/{operationKey}/generated-code", _ => FakeOdcResponse.Json(HttpStatusCode.Created, new { isSuccessful = true }));
        _odc.MapGet("/api/organization/v1/organization", _ => new { name = "myorg" });
    }

    public void Dispose() => _http.Dispose();

    private async Task<HttpStatusCode> SendAsync(HttpMethod method, string path)
    {
        using var response = await SendForResponseAsync(method, path);
        return response.StatusCode;
    }

    private async Task<HttpResponseMessage> SendForResponseAsync(HttpMethod method, string path)
    {
        _token ??= await TokenAsync();
        using var request = new HttpRequestMessage(method, new Uri(_odc.PortalUri, path));
        request.Headers.Authorization = new AuthenticationHeaderValue("Bearer", _token);
        if (method == HttpMethod.Post)
        {
            request.Content = JsonContent.Create(new { });
        }

        return await _http.SendAsync(request);
    }

    private async Task<string> TokenAsync()
    {
        using var response = await _http.PostAsync(_odc.TokenEndpoint, new FormUrlEncodedContent(new Dictionary<string, string>
        {
            ["grant_type"] = "client_credentials",
            ["client_id"] = FakeOdcServer.DefaultClientId,
            ["client_secret"] = FakeOdcServer.DefaultClientSecret,
        }));
        return (await response.Content.ReadFromJsonAsync<JsonElement>()).GetProperty("access_token").GetString()!;
    }

    private async Task<List<HttpStatusCode>> SendManyAsync(int count, HttpMethod method, string path)
    {
        var statuses = new List<HttpStatusCode>();
        for (var i = 0; i < count; i++)
        {
            statuses.Add(await SendAsync(method, path));
        }

        return statuses;
    }

    [Fact]
    public void RateLimits_ByDefault_AreOdcsPublishedTable()
    {
        Assert.Same(OdcRateLimitTable.Published, new FakeOdcServer().RateLimits);
    }

    [Fact]
    public async Task DomainPool_100PerMinuteIsSharedByAllEndpointsOfTheDomain_The101stGets429()
    {
        var statuses = await SendManyAsync(60, HttpMethod.Get, "/api/identity/v1/users");
        statuses.AddRange(await SendManyAsync(40, HttpMethod.Get, "/api/identity/v1/users/bulk/b-1"));
        var over = await SendAsync(HttpMethod.Get, "/api/identity/v1/users");

        Assert.All(statuses, status => Assert.Equal(HttpStatusCode.OK, status));
        Assert.Equal(HttpStatusCode.TooManyRequests, over);
        Assert.Equal(1, _odc.ThrottledApiRequests);
        Assert.Equal(101, _odc.ApiRequests);
    }

    [Fact]
    public async Task DomainPools_AreSeparate_AnotherDomainIsUnaffectedAndPortfolioVersionsShareOnePool()
    {
        await SendManyAsync(100, HttpMethod.Get, "/api/identity/v1/users");
        var portfolios = await SendManyAsync(50, HttpMethod.Get, "/api/portfolios/v1/applications");
        portfolios.AddRange(await SendManyAsync(50, HttpMethod.Get, "/api/portfolios/v2/environments"));
        var overV1 = await SendAsync(HttpMethod.Get, "/api/portfolios/v1/applications");
        var overIdentity = await SendAsync(HttpMethod.Get, "/api/identity/v1/users");

        Assert.All(portfolios, status => Assert.Equal(HttpStatusCode.OK, status));
        Assert.Equal(HttpStatusCode.TooManyRequests, overV1);
        Assert.Equal(HttpStatusCode.TooManyRequests, overIdentity);
        Assert.Equal(1, _odc.ThrottledApiRequestsByDomain["portfolios"]);
        Assert.Equal(1, _odc.ThrottledApiRequestsByDomain["identity"]);
        Assert.Equal(2, _odc.ThrottledApiRequests);
    }

    [Fact]
    public async Task EnvironmentConfigurations_Allow10PerMinute()
    {
        var statuses = await SendManyAsync(11, HttpMethod.Get, "/api/environment-configurations/v1/configurations");

        Assert.Equal(Enumerable.Repeat(HttpStatusCode.OK, 10).Append(HttpStatusCode.TooManyRequests), statuses);
        Assert.Equal(1, _odc.ThrottledApiRequestsByDomain["environment-configurations"]);
    }

    [Fact]
    public async Task EndpointCap_BulkUsersAllows5PerMinute_WhileOtherEndpointsOfTheDomainStillWork()
    {
        var posts = await SendManyAsync(6, HttpMethod.Post, "/api/identity/v1/users/bulk");
        var get = await SendAsync(HttpMethod.Get, "/api/identity/v1/users");

        Assert.Equal(Enumerable.Repeat(HttpStatusCode.Accepted, 5).Append(HttpStatusCode.TooManyRequests), posts);
        Assert.Equal(HttpStatusCode.OK, get);
    }

    [Fact]
    public async Task EndpointCap_EachPostEndpointOfBuildsHasItsOwn10()
    {
        var starts = await SendManyAsync(11, HttpMethod.Post, "/api/builds/v1/build-operations");
        var packaging = await SendManyAsync(10, HttpMethod.Post, $"/api/builds/v1/build-operations/{Guid.NewGuid()}/generated-code");
        var packagingOfAnotherBuild = await SendAsync(HttpMethod.Post, $"/api/builds/v1/build-operations/{Guid.NewGuid()}/generated-code");

        Assert.Equal(Enumerable.Repeat(HttpStatusCode.Created, 10).Append(HttpStatusCode.TooManyRequests), starts);
        Assert.All(packaging, status => Assert.Equal(HttpStatusCode.Created, status));

        // Path parameters do not make another endpoint: generated-code of any build shares one cap.
        Assert.Equal(HttpStatusCode.TooManyRequests, packagingOfAnotherBuild);
    }

    [Fact]
    public async Task EndpointCap_CountsAgainstTheDomainPoolToo()
    {
        var posts = await SendManyAsync(5, HttpMethod.Post, "/api/identity/v1/users/bulk");
        var gets = await SendManyAsync(96, HttpMethod.Get, "/api/identity/v1/users");

        Assert.All(posts, status => Assert.Equal(HttpStatusCode.Accepted, status));
        Assert.Equal(Enumerable.Repeat(HttpStatusCode.OK, 95).Append(HttpStatusCode.TooManyRequests), gets);
    }

    [Fact]
    public async Task RefusedRequests_DoNotUseUpThePool()
    {
        await SendManyAsync(5, HttpMethod.Post, "/api/identity/v1/users/bulk");
        var refusedPosts = await SendManyAsync(20, HttpMethod.Post, "/api/identity/v1/users/bulk");
        var gets = await SendManyAsync(96, HttpMethod.Get, "/api/identity/v1/users");

        Assert.All(refusedPosts, status => Assert.Equal(HttpStatusCode.TooManyRequests, status));
        Assert.Equal(95, gets.Count(status => status == HttpStatusCode.OK));
        Assert.Equal(21, _odc.ThrottledApiRequests);
    }

    [Fact]
    public async Task Window_IsSlidingOnTheServersClock_NeverMoreThanTheLimitInAny60Seconds()
    {
        // 50 at 0 s and 50 at 30 s fill the pool; a fixed minute window would open again at 60 s for 100 more.
        await SendManyAsync(50, HttpMethod.Get, "/api/identity/v1/users");
        _time.Advance(TimeSpan.FromSeconds(30));
        await SendManyAsync(50, HttpMethod.Get, "/api/identity/v1/users");
        var at30 = await SendAsync(HttpMethod.Get, "/api/identity/v1/users");
        _time.Advance(TimeSpan.FromSeconds(30) - TimeSpan.FromTicks(1));
        var justBefore60 = await SendAsync(HttpMethod.Get, "/api/identity/v1/users");
        _time.Advance(TimeSpan.FromTicks(1));
        var at60 = await SendManyAsync(51, HttpMethod.Get, "/api/identity/v1/users");
        _time.Advance(TimeSpan.FromSeconds(30));
        var at90 = await SendManyAsync(51, HttpMethod.Get, "/api/identity/v1/users");

        Assert.Equal(HttpStatusCode.TooManyRequests, at30);
        Assert.Equal(HttpStatusCode.TooManyRequests, justBefore60);
        Assert.Equal(Enumerable.Repeat(HttpStatusCode.OK, 50).Append(HttpStatusCode.TooManyRequests), at60);
        Assert.Equal(Enumerable.Repeat(HttpStatusCode.OK, 50).Append(HttpStatusCode.TooManyRequests), at90);
    }

    [Fact]
    public async Task TooManyRequests_IsAnApplicationJsonProblemDetailsWithoutRetryAfterOrRateLimitHeaders()
    {
        await SendManyAsync(5, HttpMethod.Post, "/api/identity/v1/users/bulk");

        using var response = await SendForResponseAsync(HttpMethod.Post, "/api/identity/v1/users/bulk");

        Assert.Equal(HttpStatusCode.TooManyRequests, response.StatusCode);
        Assert.Equal("application/json", response.Content.Headers.ContentType?.MediaType);
        Assert.Null(response.Headers.RetryAfter);
        Assert.DoesNotContain(response.Headers, header => header.Key.Contains("RateLimit", StringComparison.OrdinalIgnoreCase));
        var problem = await response.Content.ReadFromJsonAsync<JsonElement>();
        Assert.Equal(429, problem.GetProperty("status").GetInt32());
        Assert.Equal("Too Many Requests", problem.GetProperty("title").GetString());
        Assert.Contains("identity/v1/users/bulk", problem.GetProperty("detail").GetString(), StringComparison.Ordinal);
        Assert.Equal(JsonValueKind.Null, problem.GetProperty("type").ValueKind);
        Assert.True(problem.TryGetProperty("traceId", out _));
        Assert.True(problem.TryGetProperty("errorCode", out _));
        Assert.True(problem.TryGetProperty("instance", out _));
    }

    [Fact]
    public async Task UnlistedDomain_IsNotLimited()
    {
        var statuses = await SendManyAsync(150, HttpMethod.Get, "/api/organization/v1/organization");

        Assert.All(statuses, status => Assert.Equal(HttpStatusCode.OK, status));
        Assert.Equal(0, _odc.ThrottledApiRequests);
    }

    [Fact]
    public async Task RateLimitsNull_TurnsLimitsOff()
    {
        _odc.RateLimits = null;

        var statuses = await SendManyAsync(300, HttpMethod.Get, "/api/identity/v1/users");

        Assert.All(statuses, status => Assert.Equal(HttpStatusCode.OK, status));
        Assert.Equal(0, _odc.ThrottledApiRequests);
        Assert.Empty(_odc.ThrottledApiRequestsByDomain);
    }

    [Fact]
    public async Task RateLimits_ReplacedByAnotherTable_AreEnforcedInstead()
    {
        _odc.RateLimits = new OdcRateLimitTable(
            [new OdcDomainRateLimit("identity", 3, "identity/v1")],
            [new OdcEndpointRateLimit(HttpMethod.Post, "identity/v1/users/bulk", 1)]);

        var posts = await SendManyAsync(2, HttpMethod.Post, "/api/identity/v1/users/bulk");
        var gets = await SendManyAsync(3, HttpMethod.Get, "/api/identity/v1/users");
        var environments = await SendManyAsync(101, HttpMethod.Get, "/api/portfolios/v2/environments");

        Assert.Equal([HttpStatusCode.Accepted, HttpStatusCode.TooManyRequests], posts);
        Assert.Equal([HttpStatusCode.OK, HttpStatusCode.OK, HttpStatusCode.TooManyRequests], gets);
        Assert.All(environments, status => Assert.Equal(HttpStatusCode.OK, status));
        Assert.Equal(2, _odc.ThrottledApiRequestsByDomain["identity"]);
    }

    [Fact]
    public async Task Counters_AreExactUnderConcurrency()
    {
        _token = await TokenAsync();
        var statuses = await Task.WhenAll(Enumerable.Range(0, 250).Select(_ => Task.Run(() => SendAsync(HttpMethod.Get, "/api/identity/v1/users"))));

        Assert.Equal(100, statuses.Count(status => status == HttpStatusCode.OK));
        Assert.Equal(150, _odc.ThrottledApiRequests);
        Assert.Equal(150, _odc.ThrottledApiRequestsByDomain["identity"]);
    }
}
