using System.Net;
using Microsoft.Extensions.Time.Testing;
using OdcHandler.Testing;
using OdcHandler.Tests.Fakes;

namespace OdcHandler.Tests.Organizations;

/// <summary>One organisation's trouble never delays, cools down or breaks another's requests.</summary>
public sealed class OrganizationIsolationTests
{
    private readonly FakeTimeProvider _time = new();
    private readonly TestCredentialSource _source = new();
    private readonly FakeOdcServer _acme;
    private readonly FakeOdcServer _globex;
    private readonly RecordingRouter _router;

    public OrganizationIsolationTests()
    {
        _acme = OrganizationsTestHost.Organization(_time, _source, "acme");
        _globex = OrganizationsTestHost.Organization(_time, _source, "globex");
        _router = new RecordingRouter([_acme, _globex]);
    }

    [Fact]
    public async Task OneOrganisationsClientSuspended_ItFailsWithInvalidClient_AndTheOtherIsServedAtTheSameMoment()
    {
        using var services = OrganizationsTestHost.Build(_time, _source, _router, o => o.FailureCooldown = TimeSpan.FromMinutes(1));
        var client = services.Client();
        _acme.SuspendClient("acme-client");

        var refused = await Assert.ThrowsAsync<OdcAuthenticationException>(() => client.GetAsync(_acme.WhoAmI()));
        await Assert.ThrowsAsync<OdcAuthenticationException>(() => client.GetAsync(_acme.WhoAmI()));
        using var served = await client.GetAsync(_globex.WhoAmI());

        Assert.Equal("invalid_client", refused.Error);
        Assert.Equal(HttpStatusCode.OK, served.StatusCode);
        Assert.Equal(1, _acme.TokenRequests); // the second acme request was cooled down …
        Assert.Equal(1, _globex.TokenRequests); // … and that cool-down was acme's alone
    }

    [Fact]
    public async Task OneIdentityServiceSlow_TheOtherOrganisationIsServedWithoutWaitingForIt()
    {
        using var services = OrganizationsTestHost.Build(_time, _source, _router);
        var client = services.Client();
        _acme.Latency = TimeSpan.FromSeconds(5); // under the backchannel's 10 s attempt timeout: slow, not down

        var slow = client.GetAsync(_acme.WhoAmI());
        using var fast = await client.GetAsync(_globex.WhoAmI()).WaitAsync(TimeSpan.FromSeconds(30));

        Assert.Equal(HttpStatusCode.OK, fast.StatusCode);
        Assert.False(slow.IsCompleted);
        using var late = await slow.DriveAsync(_time, TimeSpan.FromSeconds(1));
        Assert.Equal(HttpStatusCode.OK, late.StatusCode);
    }

    [Fact]
    public async Task OneIdentityServiceDown_ItsBackchannelBreakerAndCooldownNeverReachTheOther()
    {
        using var services = OrganizationsTestHost.Build(_time, _source, _router);
        var client = services.Client();
        _acme.FailNextTokenRequests(1000, HttpStatusCode.ServiceUnavailable);

        for (var i = 0; i < 6; i++)
        {
            await Assert.ThrowsAsync<OdcAuthenticationException>(() => client.GetAsync(_acme.WhoAmI()));
            _time.Advance(TimeSpan.FromSeconds(6));
        }

        using var served = await client.GetAsync(_globex.WhoAmI());

        Assert.Equal(HttpStatusCode.OK, served.StatusCode);
        Assert.Equal(1, _globex.TokenRequests);
        Assert.True(_acme.TokenRequests >= 6, $"acme's token endpoint saw {_acme.TokenRequests} requests");
    }

    [Fact]
    public async Task SlowCredentialSourceForOneHost_DoesNotHoldRequestsOfACachedOrganisation()
    {
        using var services = OrganizationsTestHost.Build(_time, _source, _router);
        var client = services.Client();
        using var warm = await client.GetAsync(_globex.WhoAmI());
        _source.Gate = new TaskCompletionSource(TaskCreationOptions.RunContinuationsAsynchronously);

        var waiting = client.GetAsync(_acme.WhoAmI());
        using var served = await client.GetAsync(_globex.WhoAmI()).WaitAsync(TimeSpan.FromSeconds(30));

        Assert.Equal(HttpStatusCode.OK, served.StatusCode);
        Assert.False(waiting.IsCompleted);
        _source.Gate.SetResult();
        using var late = await waiting;
        Assert.Equal(HttpStatusCode.OK, late.StatusCode);
    }
}
