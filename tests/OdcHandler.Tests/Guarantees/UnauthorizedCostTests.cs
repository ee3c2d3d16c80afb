using System.Net;
using OdcHandler.Tests.Fakes;

namespace OdcHandler.Tests.Guarantees;

/// <summary>What a 401 costs: a permission problem never turns into a token request per call.</summary>
public sealed class UnauthorizedCostTests
{
    private readonly FakeIdentityServer _server = new();

    [Fact]
    public async Task SendAsync_InsufficientScope_KeepsTheTokenAndDoesNotRetry()
    {
        _server.ApiResponder = _ =>
        {
            var answer = FakeIdentityServer.Json(HttpStatusCode.Unauthorized, """{"title":"Unauthorized","status":401}""");
            answer.Headers.WwwAuthenticate.ParseAdd("Bearer error=\"insufficient_scope\", error_description=\"needs users:write\"");
            return Task.FromResult(answer);
        };
        using var services = OdcTestHost.Build(_server);
        var client = services.Client();

        for (var i = 0; i < 5; i++)
        {
            using var response = await client.GetAsync("users");
            Assert.Equal(HttpStatusCode.Unauthorized, response.StatusCode);
        }

        Assert.Equal(1, _server.TokenRequests);
        Assert.Equal(5, _server.ApiRequests);
    }

    [Fact]
    public async Task SendAsync_EndpointThatRejectsEveryFreshToken_CostsAtMostTwoTokenRequestsPerCooldown()
    {
        _server.ApiResponder = _ => Task.FromResult(FakeIdentityServer.Json(HttpStatusCode.Unauthorized, """{"title":"Unauthorized","status":401}"""));
        using var services = OdcTestHost.Build(_server, o => o.FailureCooldown = TimeSpan.FromSeconds(5));
        var client = services.Client();

        for (var i = 0; i < 10; i++)
        {
            using var response = await client.GetAsync("users");
            Assert.Equal(HttpStatusCode.Unauthorized, response.StatusCode);
        }

        Assert.Equal(2, _server.TokenRequests);
        Assert.Equal(11, _server.ApiRequests);

        // Once the cool-down has passed, a 401 may be a rejected token again: one more replacement, not one per call.
        _server.Time.Advance(TimeSpan.FromSeconds(6));
        for (var i = 0; i < 10; i++)
        {
            using var response = await client.GetAsync("users");
            Assert.Equal(HttpStatusCode.Unauthorized, response.StatusCode);
        }

        Assert.Equal(3, _server.TokenRequests);
    }

    [Fact]
    public async Task SendAsync_RevokedTokenThenAFreshOneAccepted_StillRetriesEachLaterRevocation()
    {
        using var services = OdcTestHost.Build(_server);
        var client = services.Client();
        (await client.GetAsync("users")).Dispose();

        for (var i = 0; i < 3; i++)
        {
            _server.RevokeAll();
            _server.Time.Advance(TimeSpan.FromSeconds(10));
            using var response = await client.GetAsync("users");
            Assert.Equal(HttpStatusCode.OK, response.StatusCode);
        }

        Assert.Equal(4, _server.TokenRequests);
    }
}
