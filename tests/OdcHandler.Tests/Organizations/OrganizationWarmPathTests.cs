using System.Net;
using Microsoft.Extensions.Logging.Abstractions;
using Microsoft.Extensions.Time.Testing;
using OdcHandler.Internal;
using OdcHandler.Tests.Fakes;
using Xunit.Abstractions;

namespace OdcHandler.Tests.Organizations;

/// <summary>
/// The multi-organisation warm path (OdcHandler's own cache, an https portal on the default port, as ODC's are) allocates
/// nothing of its own either: the cache key is the host the <see cref="Uri"/> already holds. Measured in bytes, never in time.
/// </summary>
public sealed class OrganizationWarmPathTests(ITestOutputHelper output)
{
    private const int Iterations = 10_000;

    [Fact]
    public async Task SendAsync_WarmPathToAnHttpsPortal_AllocatesNoMoreThanSettingTheHeader()
    {
        var time = new FakeTimeProvider();
        var source = new TestCredentialSource();
        var acme = OrganizationsTestHost.Organization(time, source, "acme");
        using var services = OrganizationsTestHost.Build(time, source, new RecordingRouter([acme]));
        (await services.Client().GetAsync(acme.WhoAmI())).Dispose();

        var answer = Task.FromResult(new HttpResponseMessage(HttpStatusCode.OK));
        var terminal = new FakeHttpMessageHandler((_, _) => answer);
        using var ours = new HttpMessageInvoker(new OdcOrganizationsHandler(services.Organizations(), NullLogger.Instance) { InnerHandler = terminal });
        using var constant = new HttpMessageInvoker(new ConstantHeaderHandler { InnerHandler = terminal });
        using var request = new HttpRequestMessage(HttpMethod.Get, acme.WhoAmI());

        var oursPerCall = BytesPerCall(() => ours.SendAsync(request, CancellationToken.None));
        var constantPerCall = BytesPerCall(() => constant.SendAsync(request, CancellationToken.None));
        output.WriteLine($"multi-organisation warm path: {oursPerCall:0.0} B per call; constant header: {constantPerCall:0.0} B");

        Assert.Equal(1, acme.TokenRequests);
        Assert.True(oursPerCall <= constantPerCall, $"{oursPerCall:0.0} B per call against {constantPerCall:0.0} B");
    }

    private static double BytesPerCall(Func<Task<HttpResponseMessage>> call)
    {
        for (var i = 0; i < 1000; i++)
        {
            Assert.True(call().IsCompletedSuccessfully);
        }

        var fewest = double.MaxValue;
        for (var round = 0; round < 5; round++)
        {
            var before = GC.GetAllocatedBytesForCurrentThread();
            for (var i = 0; i < Iterations; i++)
            {
                _ = call();
            }

            fewest = Math.Min(fewest, (GC.GetAllocatedBytesForCurrentThread() - before) / (double)Iterations);
        }

        return fewest;
    }

    private sealed class ConstantHeaderHandler : DelegatingHandler
    {
        protected override Task<HttpResponseMessage> SendAsync(HttpRequestMessage request, CancellationToken cancellationToken)
        {
            request.Headers.Remove("Authorization");
            request.Headers.TryAddWithoutValidation("Authorization", "Bearer constant-token");
            return base.SendAsync(request, cancellationToken);
        }
    }
}
