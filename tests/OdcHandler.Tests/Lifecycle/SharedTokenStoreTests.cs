using System.Net;
using Microsoft.Extensions.DependencyInjection;
using NSubstitute;
using NSubstitute.ExceptionExtensions;
using OdcHandler.Tests.Fakes;

namespace OdcHandler.Tests.Lifecycle;

/// <summary>How the token manager uses a shared token store: what it waits for, and what it does when the store fails.</summary>
public sealed class SharedTokenStoreTests
{
    [Fact]
    public async Task UseSharedTokenStore_CustomStoreSharedByTwoInstances_OneTokenRequest()
    {
        var server = new FakeIdentityServer();
        var store = new InMemorySharedTokenStore(server.Time, leaseWait: TimeSpan.FromSeconds(5));
        using var first = OdcTestHost.Build(server, services: s => s.AddHttpClient(OdcTestHost.ClientName).UseSharedTokenStore(_ => store));
        using var second = OdcTestHost.Build(server, services: s => s.AddHttpClient(OdcTestHost.ClientName).UseSharedTokenStore(_ => store));

        using var fromFirst = await first.Client().GetAsync("users");
        using var fromSecond = await second.Client().GetAsync("users");

        Assert.Equal(HttpStatusCode.OK, fromFirst.StatusCode);
        Assert.Equal(HttpStatusCode.OK, fromSecond.StatusCode);
        Assert.Equal(1, server.TokenRequests);
        Assert.Equal(1, store.Writes);
        var tokenOfFirst = await first.GetRequiredService<IOdcAccessTokenProvider>().GetTokenAsync(OdcTestHost.ClientName);
        var tokenOfSecond = await second.GetRequiredService<IOdcAccessTokenProvider>().GetTokenAsync(OdcTestHost.ClientName);
        Assert.Equal(tokenOfFirst.Value, tokenOfSecond.Value);
        Assert.Equal(tokenOfFirst.ExpiresAt, tokenOfSecond.ExpiresAt);
    }

    [Fact]
    public async Task GetToken_LeaseAttemptFails_AsksTheIdentityServiceAtOnceInsteadOfWaitingLeaseWait()
    {
        var server = new FakeIdentityServer();
        var store = Substitute.For<IOdcSharedTokenStore>();
        store.LeaseWait.Returns(TimeSpan.FromSeconds(5));
        store.PollInterval.Returns(TimeSpan.FromMilliseconds(100));
        store.ReadAsync(default!, default).ReturnsForAnyArgs(Task.FromResult<OdcSharedToken?>(null));
        store.TryTakeLeaseAsync(default!, default!, default).ThrowsAsyncForAnyArgs(new TimeoutException("The store did not answer."));
        using var provider = OdcTestHost.Build(server, services: s => s.AddHttpClient(OdcTestHost.ClientName).UseSharedTokenStore(_ => store));
        var started = server.Time.GetUtcNow();

        await provider.GetRequiredService<IOdcAccessTokenProvider>().GetTokenAsync(OdcTestHost.ClientName).AsTask()
            .DriveAsync(server.Time, TimeSpan.FromMilliseconds(100));

        // A failed lease attempt is not another instance's lease: nobody is fetching, so waiting would only delay.
        Assert.Equal(started, Assert.Single(server.TokenRequestTimes));
        await store.DidNotReceiveWithAnyArgs().WriteAsync(default!, default!, default);
        await store.DidNotReceiveWithAnyArgs().ReleaseLeaseAsync(default!, default!, default);
    }
}
