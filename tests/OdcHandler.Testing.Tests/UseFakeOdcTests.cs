using System.Net;
using Microsoft.Extensions.DependencyInjection;
using Microsoft.Extensions.Time.Testing;

namespace OdcHandler.Testing.Tests;

/// <summary>The fake as a user plugs it in: AddOdcAuthentication, then UseFakeOdc.</summary>
public sealed class UseFakeOdcTests
{
    public sealed class UsersClient(HttpClient http)
    {
        public async Task<HttpStatusCode> CountAsync()
        {
            using var response = await http.GetAsync("identity/v1/users");
            return response.StatusCode;
        }
    }

    [Fact]
    public async Task TypedClient_WithAddOdcAuthenticationAndUseFakeOdc_IsAuthorizedAndRecoversFromRevocation()
    {
        var time = new FakeTimeProvider();
        var odc = new FakeOdcServer(time);
        odc.Clients.Add("my-client", "a+b/c=d&e%f g");
        odc.MapGet("/api/identity/v1/users", _ => new { results = Array.Empty<object>() });
        var services = new ServiceCollection();
        services.AddSingleton<TimeProvider>(time);
        services.AddHttpClient<UsersClient>(c => c.BaseAddress = new Uri(odc.PortalUri, "/api/"))
            .AddOdcAuthentication(o =>
            {
                o.PortalDomain = odc.PortalDomain;
                o.ClientId = "my-client";
                o.ClientSecret = "a+b/c=d&e%f g";
            })
            .UseFakeOdc(odc);
        await using var provider = services.BuildServiceProvider();
        var users = provider.GetRequiredService<UsersClient>();

        Assert.Equal(HttpStatusCode.OK, await users.CountAsync());
        odc.RevokeAllTokens();
        Assert.Equal(HttpStatusCode.OK, await users.CountAsync());

        Assert.Equal(2, odc.TokenRequests);
        Assert.Equal(1, odc.RejectedApiRequests);
        Assert.Equal(1, odc.DiscoveryRequests);
    }
}
