using System.Net;
using System.Net.Http.Headers;
using System.Net.Http.Json;
using System.Text;
using System.Text.Json;
using Microsoft.Extensions.Time.Testing;

namespace OdcHandler.Testing.Tests;

public sealed class FakeOdcServerTests : IDisposable
{
    private readonly FakeTimeProvider _time = new(new DateTimeOffset(2026, 11, 30, 9, 0, 0, TimeSpan.Zero));
    private readonly FakeOdcServer _odc;
    private readonly HttpClient _http;

    public FakeOdcServerTests()
    {
        _odc = new FakeOdcServer(_time);
        _http = new HttpClient(_odc.CreateHandler());
    }

    public void Dispose() => _http.Dispose();

    private static FormUrlEncodedContent Form(params (string Name, string Value)[] pairs) =>
        new(pairs.Select(p => new KeyValuePair<string, string>(p.Name, p.Value)));

    private Task<HttpResponseMessage> RequestTokenAsync(string clientId = FakeOdcServer.DefaultClientId, string secret = FakeOdcServer.DefaultClientSecret) =>
        _http.PostAsync(_odc.TokenEndpoint, Form(("grant_type", "client_credentials"), ("client_id", clientId), ("client_secret", secret)));

    private async Task<string> TokenAsync()
    {
        using var response = await RequestTokenAsync();
        Assert.Equal(HttpStatusCode.OK, response.StatusCode);
        return (await response.Content.ReadFromJsonAsync<JsonElement>()).GetProperty("access_token").GetString()!;
    }

    private async Task<HttpResponseMessage> CallApiAsync(string? token, string path = "/api/identity/v1/users")
    {
        using var request = new HttpRequestMessage(HttpMethod.Get, new Uri(_odc.PortalUri, path));
        if (token is not null)
        {
            request.Headers.Authorization = new AuthenticationHeaderValue("Bearer", token);
        }

        return await _http.SendAsync(request);
    }

    private static async Task<(string? Error, string? Description)> OAuthErrorAsync(HttpResponseMessage response)
    {
        var body = await response.Content.ReadFromJsonAsync<JsonElement>();
        return (body.GetProperty("error").GetString(), body.GetProperty("error_description").GetString());
    }

    [Fact]
    public async Task Discovery_IsKeycloakShapedWithAnIssuerThatDoesNotMatchItsAddress()
    {
        var document = await _http.GetFromJsonAsync<JsonElement>(new Uri(_odc.PortalUri, "/identity/.well-known/openid-configuration"));

        var issuer = document.GetProperty("issuer").GetString();
        Assert.Equal($"https://myorg.outsystems.dev/auth/realms/{_odc.RealmId}", issuer);
        Assert.Equal($"{issuer}/protocol/openid-connect/token", document.GetProperty("token_endpoint").GetString());
        Assert.Contains("client_credentials", document.GetProperty("grant_types_supported").EnumerateArray().Select(e => e.GetString()));
        Assert.Equal(1, _odc.DiscoveryRequests);
    }

    [Fact]
    public async Task TokenEndpoint_SecretFormEncodedOnce_IssuesABearerTokenForTheConfiguredLifetime()
    {
        using var response = await RequestTokenAsync();

        Assert.Equal(HttpStatusCode.OK, response.StatusCode);
        var body = await response.Content.ReadFromJsonAsync<JsonElement>();
        Assert.Equal("Bearer", body.GetProperty("token_type").GetString());
        Assert.Equal(43200, body.GetProperty("expires_in").GetInt32());
        Assert.Equal(3, body.GetProperty("access_token").GetString()!.Split('.').Length);
    }

    [Fact]
    public async Task TokenEndpoint_SecretSentRawOrEncodedTwice_IsRefused()
    {
        using var raw = await _http.PostAsync(_odc.TokenEndpoint, new StringContent(
            $"grant_type=client_credentials&client_id={FakeOdcServer.DefaultClientId}&client_secret={FakeOdcServer.DefaultClientSecret}", Encoding.UTF8, "application/x-www-form-urlencoded"));
        using var twice = await RequestTokenAsync(secret: Uri.EscapeDataString(FakeOdcServer.DefaultClientSecret));

        Assert.Equal(HttpStatusCode.BadRequest, raw.StatusCode);
        Assert.Equal("invalid_request", (await OAuthErrorAsync(raw)).Error);
        Assert.Equal(HttpStatusCode.Unauthorized, twice.StatusCode);
        Assert.Equal(("invalid_client", "Invalid client or Invalid client credentials"), await OAuthErrorAsync(twice));
    }

    [Fact]
    public async Task TokenEndpoint_BasicAuthEncodedPerRfc6749_IsAccepted()
    {
        var pair = $"{Uri.EscapeDataString(FakeOdcServer.DefaultClientId)}:{Uri.EscapeDataString(FakeOdcServer.DefaultClientSecret).Replace("%20", "+", StringComparison.Ordinal)}";
        using var request = new HttpRequestMessage(HttpMethod.Post, _odc.TokenEndpoint) { Content = Form(("grant_type", "client_credentials")) };
        request.Headers.Authorization = new AuthenticationHeaderValue("Basic", Convert.ToBase64String(Encoding.UTF8.GetBytes(pair)));

        using var response = await _http.SendAsync(request);

        Assert.Equal(HttpStatusCode.OK, response.StatusCode);
    }

    [Fact]
    public async Task TokenEndpoint_CredentialsInHeaderAndBody_IsInvalidRequest()
    {
        using var request = new HttpRequestMessage(HttpMethod.Post, _odc.TokenEndpoint)
        {
            Content = Form(("grant_type", "client_credentials"), ("client_id", FakeOdcServer.DefaultClientId), ("client_secret", FakeOdcServer.DefaultClientSecret)),
        };
        request.Headers.Authorization = new AuthenticationHeaderValue("Basic", "eDp5");

        using var response = await _http.SendAsync(request);

        Assert.Equal(HttpStatusCode.BadRequest, response.StatusCode);
        Assert.Equal("invalid_request", (await OAuthErrorAsync(response)).Error);
    }

    [Theory]
    [InlineData("grant_type=password&client_id=a&client_secret=b", "unsupported_grant_type")]
    [InlineData("grant_type=client_credentials&grant_type=client_credentials&client_id=a&client_secret=b", "invalid_request")]
    [InlineData("grant_type=client_credentials&client_id=a&client_secret=%zz", "invalid_request")]
    public async Task TokenEndpoint_MalformedRequest_AnswersTheOAuthError(string body, string error)
    {
        using var response = await _http.PostAsync(_odc.TokenEndpoint, new StringContent(body, Encoding.UTF8, "application/x-www-form-urlencoded"));

        Assert.Equal(HttpStatusCode.BadRequest, response.StatusCode);
        Assert.Equal(error, (await OAuthErrorAsync(response)).Error);
    }

    [Fact]
    public async Task Api_ValidToken_ReachesTheMappedRouteWithRouteValuesQueryAndCaller()
    {
        FakeOdcRequest? seen = null;
        _odc.MapGet("/api/identity/v1/users/{key}", request =>
        {
            seen = request;
            return new { key = request.RouteValues["key"], name = "Ada" };
        });
        var token = await TokenAsync();

        using var response = await CallApiAsync(token, "/api/identity/v1/users/u%2D1?expand=roles");

        Assert.Equal(HttpStatusCode.OK, response.StatusCode);
        Assert.Equal("u-1", (await response.Content.ReadFromJsonAsync<JsonElement>()).GetProperty("key").GetString());
        Assert.Equal("roles", seen!.Query["expand"]);
        Assert.Equal(FakeOdcServer.DefaultClientId, seen.ClientId);
    }

    [Fact]
    public async Task Api_RepeatedQueryParameter_IsReadAsAnArrayInOrder()
    {
        FakeOdcRequest? seen = null;
        _odc.MapGet("/api/asset-repository/v1/assets", request =>
        {
            seen = request;
            return new { results = Array.Empty<object>() };
        });

        using var response = await CallApiAsync(await TokenAsync(), "/api/asset-repository/v1/assets?assetTypes=WebApplication&limit=1000&assetTypes=Mobile%41pplication");

        Assert.Equal(HttpStatusCode.OK, response.StatusCode);
        Assert.Equal(["WebApplication", "MobileApplication"], seen!.QueryValues("assetTypes"));
        Assert.Empty(seen.QueryValues("nameContains"));
        Assert.Equal(1000, seen.QueryInt("limit", 100));
    }

    [Fact]
    public async Task Api_MissingUnknownExpiredOrRevokedToken_Gets401ProblemDetails()
    {
        _odc.MapGet("/api/identity/v1/users", _ => Array.Empty<object>());
        var token = await TokenAsync();

        using var missing = await CallApiAsync(null);
        using var unknown = await CallApiAsync("not-a-token");
        _time.Advance(TimeSpan.FromHours(12));
        using var expired = await CallApiAsync(token);
        var fresh = await TokenAsync();
        _odc.RevokeAllTokens();
        using var revoked = await CallApiAsync(fresh);

        foreach (var response in new[] { missing, unknown, expired, revoked })
        {
            Assert.Equal(HttpStatusCode.Unauthorized, response.StatusCode);
            // ODC declares its ProblemDetails as application/json, not application/problem+json.
            Assert.Equal("application/json", response.Content.Headers.ContentType?.MediaType);
            Assert.Equal(401, (await response.Content.ReadFromJsonAsync<JsonElement>()).GetProperty("status").GetInt32());
        }

        Assert.Equal(4, _odc.RejectedApiRequests);
    }

    [Fact]
    public async Task SuspendClient_InvalidatesItsTokensAndRefusesItUntilResumed()
    {
        _odc.MapGet("/api/identity/v1/users", _ => Array.Empty<object>());
        var token = await TokenAsync();

        _odc.SuspendClient(FakeOdcServer.DefaultClientId);
        using var rejected = await CallApiAsync(token);
        using var refused = await RequestTokenAsync();
        _odc.ResumeClient(FakeOdcServer.DefaultClientId);
        using var accepted = await CallApiAsync(await TokenAsync());

        Assert.Equal(HttpStatusCode.Unauthorized, rejected.StatusCode);
        Assert.Equal(HttpStatusCode.Unauthorized, refused.StatusCode);
        Assert.Equal("invalid_client", (await OAuthErrorAsync(refused)).Error);
        Assert.Equal(HttpStatusCode.OK, accepted.StatusCode);
    }

    [Fact]
    public async Task FailNextTokenRequests_FailsExactlyThatManyWithRetryAfter()
    {
        _odc.FailNextTokenRequests(2, HttpStatusCode.TooManyRequests, TimeSpan.FromSeconds(3));

        using var first = await RequestTokenAsync();
        using var second = await RequestTokenAsync();
        using var third = await RequestTokenAsync();

        Assert.Equal(HttpStatusCode.TooManyRequests, first.StatusCode);
        Assert.Equal(TimeSpan.FromSeconds(3), first.Headers.RetryAfter?.Delta);
        Assert.Equal(HttpStatusCode.TooManyRequests, second.StatusCode);
        Assert.Equal(HttpStatusCode.OK, third.StatusCode);
        Assert.Equal(3, _odc.TokenRequests);
    }

    [Fact]
    public async Task Latency_HoldsEveryAnswerOnTheServersClock()
    {
        _odc.Latency = TimeSpan.FromSeconds(2);

        var pending = RequestTokenAsync();
        await Task.Delay(50);
        Assert.False(pending.IsCompleted);
        _time.Advance(TimeSpan.FromSeconds(2));
        using var response = await pending;

        Assert.Equal(HttpStatusCode.OK, response.StatusCode);
    }

    [Fact]
    public async Task Routes_UnknownPathIs404AndWrongMethodIs405()
    {
        _odc.MapGet("/api/builds/v1/build-operations/{key}", _ => new { status = "Finished" });
        var token = await TokenAsync();

        using var unknown = await CallApiAsync(token, "/api/builds/v1/nothing");
        using var request = new HttpRequestMessage(HttpMethod.Delete, new Uri(_odc.PortalUri, "/api/builds/v1/build-operations/b1"));
        request.Headers.Authorization = new AuthenticationHeaderValue("Bearer", token);
        using var wrongMethod = await _http.SendAsync(request);

        Assert.Equal(HttpStatusCode.NotFound, unknown.StatusCode);
        Assert.Equal(HttpStatusCode.MethodNotAllowed, wrongMethod.StatusCode);
    }

    [Fact]
    public async Task Counters_AreExactUnderConcurrency()
    {
        await Task.WhenAll(Enumerable.Range(0, 500).Select(_ => Task.Run(async () => (await RequestTokenAsync()).Dispose())));

        Assert.Equal(500, _odc.TokenRequests);
    }

    [Fact]
    public void Map_OutsideApi_IsRefusedWithAMessageSayingWhere()
    {
        var failure = Assert.Throws<ArgumentException>(() => _odc.MapGet("/users", _ => null));

        Assert.Contains("/api/", failure.Message, StringComparison.Ordinal);
    }
}
