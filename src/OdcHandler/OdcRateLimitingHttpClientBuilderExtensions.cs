using Microsoft.Extensions.Configuration;
using Microsoft.Extensions.DependencyInjection.Extensions;
using Microsoft.Extensions.Http;
using Microsoft.Extensions.Options;
using OdcHandler;
using OdcHandler.Internal;

namespace Microsoft.Extensions.DependencyInjection;

/// <summary>
/// Keeps an <see cref="HttpClient"/> registered with <c>AddHttpClient</c> within ODC's published rate limits.
/// </summary>
public static class OdcRateLimitingHttpClientBuilderExtensions
{
    private static readonly TimeSpan DefaultHttpClientTimeout = TimeSpan.FromSeconds(100);

    /// <summary>
    /// Makes every request to <c>/api/…</c> wait for a permit under ODC's published rate limits (the defaults of
    /// <see cref="OdcRateLimitOptions"/>) instead of being sent and refused with 429.
    /// </summary>
    /// <param name="builder">The HttpClient builder; its name names the options.</param>
    /// <returns>The value of <paramref name="builder"/>.</returns>
    /// <remarks>See <see cref="AddOdcRateLimiting(IHttpClientBuilder, Action{OdcRateLimitOptions})"/>.</remarks>
    /// <exception cref="InvalidOperationException">The builder has no client name (it is <c>ConfigureHttpClientDefaults</c>'s).</exception>
    public static IHttpClientBuilder AddOdcRateLimiting(this IHttpClientBuilder builder)
    {
        NamedClientBuilder.Require(builder, nameof(AddOdcRateLimiting));
        builder.Services.AddOptions<OdcRateLimitOptions>(builder.Name);
        return AddCore(builder);
    }

    /// <summary>
    /// Makes every request to <c>/api/…</c> wait for a permit under its API domain's pool and its endpoint's cap
    /// (<see cref="OdcRateLimitOptions"/>; by default ODC's table), instead of being sent and refused with 429.
    /// </summary>
    /// <remarks>
    /// The handler sits directly in front of the primary handler (inside <c>AddOdcAuthentication</c>'s handler and
    /// any resilience pipeline), so each attempt of a retry takes its own permits. A request waits at most
    /// <see cref="OdcRateLimitOptions.MaxWait"/> (2 minutes by default), then fails unsent with
    /// <see cref="OdcRateLimitExceededException"/>; the caller's cancellation ends only its own wait. A resilience
    /// pipeline's attempt and total timeouts include that wait: set them above <c>MaxWait</c> when a job sends more
    /// than a window's worth of requests. A 429 that arrives anyway is sent again after the window
    /// (or <c>Retry-After</c>), at most <see cref="OdcRateLimitOptions.MaxRateLimitedResends"/> times, if its body can be
    /// sent again byte for byte. Calling this twice on one builder adds the handler once.
    /// </remarks>
    /// <param name="builder">The HttpClient builder; its name names the options.</param>
    /// <param name="configure">Changes the limits or bounds; none needed for ODC's published limits.</param>
    /// <returns>The value of <paramref name="builder"/>.</returns>
    /// <exception cref="InvalidOperationException">The builder has no client name (it is <c>ConfigureHttpClientDefaults</c>'s).</exception>
    public static IHttpClientBuilder AddOdcRateLimiting(this IHttpClientBuilder builder, Action<OdcRateLimitOptions> configure)
    {
        NamedClientBuilder.Require(builder, nameof(AddOdcRateLimiting));
        ArgumentNullException.ThrowIfNull(configure);
        builder.Services.AddOptions<OdcRateLimitOptions>(builder.Name).Configure(configure);
        return AddCore(builder);
    }

    /// <summary>
    /// Makes every request to <c>/api/…</c> wait for a permit under ODC's rate limits, with the limits and bounds read
    /// from a configuration section whose keys are the names of <see cref="OdcRateLimitOptions"/>' properties
    /// (entries in <c>DomainLimits</c> and <c>EndpointLimits</c> add to or replace the defaults).
    /// </summary>
    /// <param name="builder">The HttpClient builder; its name names the options.</param>
    /// <param name="configuration">A section such as <c>configuration.GetSection("Odc:RateLimits")</c>.</param>
    /// <returns>The value of <paramref name="builder"/>.</returns>
    /// <remarks>See <see cref="AddOdcRateLimiting(IHttpClientBuilder, Action{OdcRateLimitOptions})"/>.</remarks>
    /// <exception cref="InvalidOperationException">The builder has no client name (it is <c>ConfigureHttpClientDefaults</c>'s).</exception>
    public static IHttpClientBuilder AddOdcRateLimiting(this IHttpClientBuilder builder, IConfiguration configuration)
    {
        NamedClientBuilder.Require(builder, nameof(AddOdcRateLimiting));
        ArgumentNullException.ThrowIfNull(configuration);
        builder.Services.AddOptions<OdcRateLimitOptions>(builder.Name).Bind(configuration);
        builder.Services.AddSingleton<IValidateOptions<OdcRateLimitOptions>>(new OdcRateLimitConfigurationKeysValidator(builder.Name!, configuration));
        return AddCore(builder);
    }

    /// <summary>
    /// Makes the instances of an application take this client's permits from one budget they share through
    /// <paramref name="createStore"/>'s store, so that together they stay within ODC's limits. Turns on
    /// <c>AddOdcRateLimiting</c> with its defaults if it was not called. For Redis, use <c>UseRedisRateLimits</c> from
    /// the <c>OdcHandler.Redis</c> package, which calls this.
    /// </summary>
    /// <param name="builder">The HttpClient builder; its name names the options.</param>
    /// <param name="createStore">
    /// Creates the store; called once per HttpClient name, when the client first sends. A store that implements
    /// <see cref="IDisposable"/> is disposed with the limiters.
    /// </param>
    /// <returns>The value of <paramref name="builder"/>.</returns>
    /// <remarks>
    /// Every limited request asks the store (one round trip); a request refused asks again when the store says a permit
    /// can be free, for at most <see cref="OdcRateLimitOptions.MaxWait"/>. When the store fails, a warning is logged once
    /// and the instance limits itself with its in-process limiter until the store answers again (asked every 30 seconds).
    /// See <see cref="IOdcRateLimitStore"/> for the contract. Called again for the same client, the last store wins.
    /// </remarks>
    /// <exception cref="InvalidOperationException">The builder has no client name (it is <c>ConfigureHttpClientDefaults</c>'s).</exception>
    public static IHttpClientBuilder UseRateLimitStore(this IHttpClientBuilder builder, Func<IServiceProvider, IOdcRateLimitStore> createStore)
    {
        NamedClientBuilder.Require(builder, nameof(UseRateLimitStore));
        ArgumentNullException.ThrowIfNull(createStore);
        builder.Services.AddOptions<OdcRateLimitOptions>(builder.Name);
        builder.Services.AddSingleton(new RateLimitStoreRegistration(builder.Name, createStore));
        return AddCore(builder);
    }

    private static IHttpClientBuilder AddCore(IHttpClientBuilder builder)
    {
        var services = builder.Services;
        services.TryAddSingleton(TimeProvider.System);
        services.AddLogging();
        services.AddMetrics();
        services.TryAddSingleton<OdcTelemetry>();
        services.TryAddSingleton<OdcRateLimiterRegistry>();
        services.TryAddEnumerable(ServiceDescriptor.Singleton<IValidateOptions<OdcRateLimitOptions>, OdcRateLimitOptionsValidator>());
        services.TryAddEnumerable(ServiceDescriptor.Singleton<IHttpMessageHandlerBuilderFilter, OdcRateLimitingHandlerBuilderFilter>());

        var registration = new OdcRateLimitingRegistration(builder.Name);
        if (!services.Any(d => registration.Equals(d.ImplementationInstance)))
        {
            services.AddSingleton(registration);
            services.AddOptions<OdcRateLimitOptions>(builder.Name).ValidateOnStart();
            // MaxWait as the client's limiter read it (limits are read once, not on every CreateClient).
            builder.ConfigureHttpClient((provider, client) => LeaveTimeForThePermit(client, provider.GetRequiredService<OdcRateLimiterRegistry>().Get(builder.Name!).MaxWait));
        }

        return builder;
    }

    /// <summary>
    /// HttpClient.Timeout counts the wait for a permit too: left at its default (100 s, shorter than the default
    /// MaxWait), it would end a long wait in a TaskCanceledException that names no limit, before MaxWait's
    /// OdcRateLimitExceededException. The default grows by MaxWait, so the request keeps its 100 s on the network; a
    /// timeout the application chose is kept.
    /// </summary>
    private static void LeaveTimeForThePermit(HttpClient client, TimeSpan maxWait)
    {
        if (client.Timeout == DefaultHttpClientTimeout)
        {
            client.Timeout = DefaultHttpClientTimeout + maxWait;
        }
    }
}
