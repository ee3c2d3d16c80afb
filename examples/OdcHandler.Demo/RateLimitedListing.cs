using Microsoft.Extensions.DependencyInjection;
using Microsoft.Extensions.Http.Resilience;
using Microsoft.Extensions.Time.Testing;
using OdcHandler.Testing;

namespace OdcHandler.Demo;

/// <summary>
/// Lists every user of an organisation one per page, more requests than ODC allows in two minutes, against a
/// <see cref="FakeOdcServer"/> enforcing ODC's published limits, in memory and on a <see cref="SteppingTimeProvider"/> driven by <see cref="SteppingClock"/>.
/// </summary>
internal static class RateLimitedListing
{
    /// <summary>Users in the organisation, so requests on the identity domain: more than two windows' worth.</summary>
    public const int Users = 250;

    /// <summary>ODC's limit on the identity domain: requests in any 60 s.</summary>
    public const int PerMinute = 100;

    /// <summary>With at most 100 in any 60 s, request 201 cannot leave before two minutes after the first.</summary>
    public static TimeSpan PhysicalMinimum { get; } = TimeSpan.FromMinutes((Users - 1) / PerMinute);

    /// <summary>Lists the users with <c>AddOdcRateLimiting</c>, or with only the standard resilience handler.</summary>
    /// <param name="withLimiter">Whether the client waits for permits.</param>
    /// <returns>What happened.</returns>
    public static async Task<Outcome> RunAsync(bool withLimiter)
    {
        var clock = new SteppingTimeProvider(new FakeTimeProvider(DateTimeOffset.UtcNow));
        var fake = new FakeOdcServer(clock);
        DemoData.MapOnto(fake, clock, moreUsers: Users - 5);
        var counts = new InFlightHandler.Counts();

        var services = new ServiceCollection();
        services.AddSingleton<TimeProvider>(clock);
        var client = services.AddHttpClient<OdcApi>(c => c.BaseAddress = new Uri(fake.PortalUri, "/api/"))
            .AddOdcAuthentication(o =>
            {
                o.PortalDomain = fake.PortalDomain;
                o.ClientId = FakeOdcServer.DefaultClientId;
                o.ClientSecret = FakeOdcServer.DefaultClientSecret;
            })
            .AddHttpMessageHandler(() => new InFlightHandler(counts));
        if (withLimiter)
        {
            client.AddOdcRateLimiting();
        }
        else
        {
            client.AddStandardResilienceHandler(options => options.Retry.DisableForUnsafeHttpMethods());
        }

        client.UseFakeOdc(fake);
        await using var provider = services.BuildServiceProvider();
        var api = provider.GetRequiredService<OdcApi>();

        // The token first, through another domain's pool, so the listing's clock starts with the first user request.
        await api.ListEnvironmentsAsync().ConfigureAwait(false);
        var before = fake.ApiRequests;
        var started = clock.GetUtcNow();

        // With the limiter, a request waits for time only between this client's first handler and the server (or, after a
        // 429, in the limiter's resend delay); a pause anywhere else is the program being busy, and not a reason to move time.
        // Without it the retries wait inside the resilience handler, where one logical request is several that arrive.
        var (listed, failure) = await clock.RunAsync(
            async () =>
            {
                var count = 0;
                try
                {
                    await foreach (var _ in api.ListUsersAsync(pageSize: 1).ConfigureAwait(false))
                    {
                        count++;
                    }

                    return (count, (Exception?)null);
                }
                catch (Exception exception) when (exception is OdcApiException or HttpRequestException or Polly.ExecutionRejectedException)
                {
                    return (count, exception);
                }
            },
            isWaiting: () => Volatile.Read(ref counts.Out) > 0
                && (!withLimiter || Volatile.Read(ref counts.Started) > fake.ApiRequests || fake.ThrottledApiRequests > 0),
            progress: () => fake.ApiRequests).ConfigureAwait(false);

        return new Outcome(listed, fake.ApiRequests - before, fake.ThrottledApiRequests, clock.GetUtcNow() - started, failure);
    }

    /// <summary>The result of one listing.</summary>
    /// <param name="Listed">Users listed before the end (or the failure).</param>
    /// <param name="Requests">User requests that reached the server, refused ones included.</param>
    /// <param name="Throttled">Requests the server answered 429.</param>
    /// <param name="Elapsed">Time on the virtual clock from the first request to the end.</param>
    /// <param name="Failure">Why the listing stopped early, if it did.</param>
    internal sealed record Outcome(int Listed, int Requests, int Throttled, TimeSpan Elapsed, Exception? Failure);
}
