using System.Net;
using Microsoft.Extensions.DependencyInjection;

namespace OdcHandler.IntegrationTests;

/// <summary>
/// The identity server restarts with a new signing key (ephemeral keys are made at start): tokens signed
/// with the old key are rejected by OpenIddict's validation, and OdcHandler recovers with one retry.
/// </summary>
public sealed class SigningKeyRotationTests
{
    [Fact]
    public async Task SigningKeyRotated_OldTokenRejectedThenOneRetryWithAFreshTokenSucceeds()
    {
        var first = await OpenIddictOdcServer.StartAsync(TimeSpan.FromHours(1));
        var port = first.Portal.Port;
        await using var provider = first.CreateClientServices();
        var client = provider.GetRequiredService<IHttpClientFactory>().CreateClient(OpenIddictOdcServer.ClientName);
        using (var before = await client.GetAsync("identity/v1/users"))
        {
            Assert.Equal(HttpStatusCode.OK, before.StatusCode);
        }

        await first.DisposeAsync();
        await using var rotated = await OpenIddictOdcServer.StartAsync(TimeSpan.FromHours(1), port);

        using var after = await client.GetAsync("identity/v1/users");

        Assert.Equal(HttpStatusCode.OK, after.StatusCode);
        Assert.Equal(1, rotated.RejectedApiRequests);
        Assert.Equal(1, rotated.TokenRequests);
        Assert.Equal(2, rotated.ApiRequests);
    }
}
