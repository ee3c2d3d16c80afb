using Microsoft.Extensions.DependencyInjection;
using NSubstitute;
using NSubstitute.ExceptionExtensions;
using OdcHandler.Internal;
using OdcHandler.Tests.Fakes;

namespace OdcHandler.Tests.Lifecycle;

/// <summary>How the token manager uses a shared token store: what it waits for, and what it does when the store fails.</summary>
public sealed class SharedTokenStoreTests
{
    [Fact]
    public async Task GetToken_LeaseAttemptFails_AsksTheIdentityServiceAtOnceInsteadOfWaitingLeaseWait()
    {
        var server = new FakeIdentityServer();
        var store = Substitute.For<ISharedTokenStore>();
        store.LeaseWait.Returns(TimeSpan.FromSeconds(5));
        store.PollInterval.Returns(TimeSpan.FromMilliseconds(100));
        store.ReadAsync(default!, default).ReturnsForAnyArgs(Task.FromResult<SharedToken?>(null));
        store.TryTakeLeaseAsync(default!, default!, default).ThrowsAsyncForAnyArgs(new TimeoutException("The store did not answer."));
        using var provider = OdcTestHost.Build(server, services: s => s.AddSingleton(new SharedTokenStoreRegistration(OdcTestHost.ClientName, _ => store)));
        var started = server.Time.GetUtcNow();

        await provider.GetRequiredService<IOdcAccessTokenProvider>().GetTokenAsync(OdcTestHost.ClientName).AsTask()
            .DriveAsync(server.Time, TimeSpan.FromMilliseconds(100));

        // A failed lease attempt is not another instance's lease: nobody is fetching, so waiting would only delay.
        Assert.Equal(started, Assert.Single(server.TokenRequestTimes));
        await store.DidNotReceiveWithAnyArgs().WriteAsync(default!, default!, default);
        await store.DidNotReceiveWithAnyArgs().ReleaseLeaseAsync(default!, default!, default);
    }
}
