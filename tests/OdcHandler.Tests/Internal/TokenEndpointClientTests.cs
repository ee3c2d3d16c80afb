using System.Net;
using System.Text;
using Microsoft.Extensions.DependencyInjection;
using OdcHandler.Tests.Fakes;

namespace OdcHandler.Tests.Internal;

/// <summary>Every answer a token endpoint can give, as the caller of the provider sees it.</summary>
public sealed class TokenEndpointClientTests
{
    private readonly FakeIdentityServer _server = new();

    public static TheoryData<int, string, string> BadAnswers() => new()
    {
        { 200, "", "empty body" },
        { 200, "<html><body>Gateway</body></html>", "not valid JSON" },
        { 200, """{"access_token":"abc","expires_in":43""", "not valid JSON" },
        { 200, "[1,2]", "JSON array where a JSON object was expected" },
        { 200, """{"expires_in":43200,"token_type":"Bearer"}""", "without an \"access_token\"" },
        { 200, """{"access_token":"","expires_in":43200,"token_type":"Bearer"}""", "without an \"access_token\"" },
        { 200, """{"access_token":42,"expires_in":43200,"token_type":"Bearer"}""", "\"access_token\" is a JSON number" },
        { 200, """{"access_token":"abc","expires_in":43200,"token_type":"MAC"}""", "\"MAC\" token" },
        { 200, """{"access_token":"abc","expires_in":43200}""", "no \"token_type\"" },
        { 200, """{"access_token":"abc","expires_in":"43200","token_type":"Bearer"}""", "\"expires_in\" is a JSON string" },
        { 200, """{"access_token":"abc","expires_in":-5,"token_type":"Bearer"}""", "\"expires_in\" (-5)" },
        { 200, """{"access_token":"abc","expires_in":0,"token_type":"Bearer"}""", "\"expires_in\" (0)" },
        { 200, """{"access_token":"abc","expires_in":1000000000000,"token_type":"Bearer"}""", "\"expires_in\" (1000000000000)" },
        { 200, """{"access_token":"abc","expires_in":1.5,"token_type":"Bearer"}""", "\"expires_in\" (1.5)" },
        { 200, """{"access_token":"abc\r\nX-Evil: 1","expires_in":60,"token_type":"Bearer"}""", "cannot be sent in an HTTP header" },
        { 400, "<html>Bad Request</html>", "HTTP 400 Bad Request with a body that is not an OAuth error (application/json, 24 bytes, looks like an HTML page)" },
        { 403, "", "HTTP 403 Forbidden with an empty body" },
        { 400, """{"error":"unauthorized_client","error_description":"Client not allowed"}""", "unauthorized_client: Client not allowed" },
        { 302, "", "redirect (HTTP 302)" },
    };

    [Theory]
    [MemberData(nameof(BadAnswers))]
    public async Task GetTokenAsync_BadAnswer_ThrowsOdcAuthenticationExceptionNamingTheProblemAndCachesNothing(int status, string body, string expected)
    {
        var answers = 0;
        _server.TokenResponder = _ => Interlocked.Increment(ref answers) == 1
            ? new HttpResponseMessage((HttpStatusCode)status) { Content = new StringContent(body, Encoding.UTF8, "application/json") }
            : _server.IssueToken();
        using var services = OdcTestHost.Build(_server, o => o.FailureCooldown = TimeSpan.Zero);
        var provider = services.GetRequiredService<IOdcAccessTokenProvider>();

        var failure = await Assert.ThrowsAsync<OdcAuthenticationException>(() => provider.GetTokenAsync(OdcTestHost.ClientName).AsTask());

        Assert.Contains(expected, failure.Message, StringComparison.Ordinal);
        Assert.DoesNotContain(FakeIdentityServer.Secret, failure.Message, StringComparison.Ordinal);
        var recovered = await provider.GetTokenAsync(OdcTestHost.ClientName);
        Assert.Equal("token-1", recovered.Value);
        Assert.Equal(2, _server.TokenRequests);
    }

    [Fact]
    public async Task GetTokenAsync_InvalidClient_SurfacesErrorDescriptionAndAdvice()
    {
        _server.TokenResponder = _ => FakeIdentityServer.Json(HttpStatusCode.Unauthorized,
            """{"error":"invalid_client","error_description":"Invalid client or Invalid client credentials"}""");
        using var services = OdcTestHost.Build(_server);

        var failure = await Assert.ThrowsAsync<OdcAuthenticationException>(
            () => services.GetRequiredService<IOdcAccessTokenProvider>().GetTokenAsync(OdcTestHost.ClientName).AsTask());

        Assert.Equal("invalid_client", failure.Error);
        Assert.Equal("Invalid client or Invalid client credentials", failure.ErrorDescription);
        Assert.Equal(HttpStatusCode.Unauthorized, failure.StatusCode);
        Assert.Contains("client id 'my-client'", failure.Message, StringComparison.Ordinal);
        Assert.Contains("expire after 90 days", failure.Message, StringComparison.Ordinal);
    }

    [Fact]
    public async Task GetTokenAsync_ServerEchoesTheSecret_MasksItInTheException()
    {
        _server.TokenResponder = _ => FakeIdentityServer.Json(HttpStatusCode.BadRequest,
            $$"""{"error":"invalid_request","error_description":"bad secret {{FakeIdentityServer.Secret}} / {{Uri.EscapeDataString(FakeIdentityServer.Secret)}}"}""");
        using var services = OdcTestHost.Build(_server);

        var failure = await Assert.ThrowsAsync<OdcAuthenticationException>(
            () => services.GetRequiredService<IOdcAccessTokenProvider>().GetTokenAsync(OdcTestHost.ClientName).AsTask());

        Assert.DoesNotContain(FakeIdentityServer.Secret, failure.ToString(), StringComparison.Ordinal);
        Assert.DoesNotContain(Uri.EscapeDataString(FakeIdentityServer.Secret), failure.ToString(), StringComparison.Ordinal);
        Assert.Contains("bad secret *** / ***", failure.ErrorDescription, StringComparison.Ordinal);
    }

    [Fact]
    public async Task GetTokenAsync_NoExpiresIn_UsesTheConservativeDefaultLifetime()
    {
        _server.TokenResponder = _ => FakeIdentityServer.Json(HttpStatusCode.OK, """{"access_token":"abc","token_type":"bearer"}""");
        using var services = OdcTestHost.Build(_server);

        var token = await services.GetRequiredService<IOdcAccessTokenProvider>().GetTokenAsync(OdcTestHost.ClientName);

        Assert.Equal(_server.Time.GetUtcNow() + OdcAuthenticationDefaults.LifetimeWhenUnstated, token.ExpiresAt);
    }

    [Fact]
    public async Task GetTokenAsync_HugeBody_IsRefusedWithoutReadingIt()
    {
        _server.TokenResponder = _ => new HttpResponseMessage(HttpStatusCode.OK) { Content = new ByteArrayContent(new byte[10 * 1024 * 1024]) };
        using var services = OdcTestHost.Build(_server);

        var failure = await Assert.ThrowsAsync<OdcAuthenticationException>(
            () => services.GetRequiredService<IOdcAccessTokenProvider>().GetTokenAsync(OdcTestHost.ClientName).AsTask());

        Assert.Contains("more than 65536 bytes", failure.Message, StringComparison.Ordinal);
    }

    /// <summary>A body with or without a UTF-8 byte order mark, under a Content-Type with or without a charset parameter.</summary>
    internal static HttpResponseMessage Encoded(HttpStatusCode status, string json, bool byteOrderMark, string contentType)
    {
        var bytes = Encoding.UTF8.GetBytes(json);
        var content = new ByteArrayContent(byteOrderMark ? [0xEF, 0xBB, 0xBF, .. bytes] : bytes);
        content.Headers.TryAddWithoutValidation("Content-Type", contentType);
        return new HttpResponseMessage(status) { Content = content };
    }

    public static TheoryData<bool, string> Encodings() => new()
    {
        { true, "application/json" },
        { true, "application/json; charset=utf-8" },
        { false, "application/json; charset=utf-8" },
        { false, "application/json; charset=UTF-8" },
        { true, "application/json;charset=\"UTF-8\"" },
        { false, "application/json; charset=utf8" },
    };

    [Theory]
    [MemberData(nameof(Encodings))]
    public async Task GetTokenAsync_ByteOrderMarkOrCharset_IsReadNormally(bool byteOrderMark, string contentType)
    {
        _server.TokenResponder = _ => Encoded(HttpStatusCode.OK, """{"access_token":"abc","expires_in":600,"token_type":"Bearer"}""", byteOrderMark, contentType);
        using var services = OdcTestHost.Build(_server);

        var token = await services.GetRequiredService<IOdcAccessTokenProvider>().GetTokenAsync(OdcTestHost.ClientName);

        Assert.Equal("abc", token.Value);
        Assert.Equal(TimeSpan.FromSeconds(600), token.Lifetime);
    }

    [Theory]
    [MemberData(nameof(Encodings))]
    public async Task GetTokenAsync_OAuthErrorWithByteOrderMarkOrCharset_SurfacesTheError(bool byteOrderMark, string contentType)
    {
        _server.TokenResponder = _ => Encoded(HttpStatusCode.Unauthorized, """{"error":"invalid_client","error_description":"Invalid client credentials"}""", byteOrderMark, contentType);
        using var services = OdcTestHost.Build(_server);

        var failure = await Assert.ThrowsAsync<OdcAuthenticationException>(
            () => services.GetRequiredService<IOdcAccessTokenProvider>().GetTokenAsync(OdcTestHost.ClientName).AsTask());

        Assert.Equal("invalid_client", failure.Error);
        Assert.Equal("Invalid client credentials", failure.ErrorDescription);
    }

    [Theory]
    [InlineData("utf-16", false)]
    [InlineData("UTF-16", true)]
    [InlineData("iso-8859-1", false)]
    public async Task GetTokenAsync_OtherDeclaredCharset_IsTranscoded(string charset, bool byteOrderMark)
    {
        var encoding = Encoding.GetEncoding(charset);
        var json = encoding.GetBytes("""{"access_token":"abc","expires_in":600,"token_type":"Bearer"}""");
        _server.TokenResponder = _ =>
        {
            var content = new ByteArrayContent(byteOrderMark ? [.. encoding.GetPreamble(), .. json] : json);
            content.Headers.TryAddWithoutValidation("Content-Type", $"application/json; charset={charset}");
            return new HttpResponseMessage(HttpStatusCode.OK) { Content = content };
        };
        using var services = OdcTestHost.Build(_server);

        var token = await services.GetRequiredService<IOdcAccessTokenProvider>().GetTokenAsync(OdcTestHost.ClientName);

        Assert.Equal("abc", token.Value);
    }
}
