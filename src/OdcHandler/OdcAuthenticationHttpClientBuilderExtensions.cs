using Microsoft.Extensions.Configuration;
using Microsoft.Extensions.DependencyInjection.Extensions;
using Microsoft.Extensions.Hosting;
using Microsoft.Extensions.Http.Resilience;
using Microsoft.Extensions.Http;
using Microsoft.Extensions.Logging;
using Microsoft.Extensions.Options;
using OdcHandler;
using OdcHandler.Internal;

namespace Microsoft.Extensions.DependencyInjection;

/// <summary>
/// Adds ODC authentication to an <see cref="HttpClient"/> registered with <c>AddHttpClient</c>.
/// </summary>
public static class OdcAuthenticationHttpClientBuilderExtensions
{
    /// <summary>
    /// Adds a <see cref="BearerTokenHandler"/> to the client's pipeline, configured in code.
    /// </summary>
    /// <remarks>
    /// The handler sits directly in front of the primary handler, after every handler added with
    /// <c>AddHttpMessageHandler</c> or a resilience pipeline, so each retried attempt carries a current
    /// token and IHttpClientFactory's request logging never sees it.
    /// Options are validated at host start (<c>ValidateOnStart</c>) or, without a host, when the client is
    /// first created. Calling this twice on one builder adds the handler once.
    /// </remarks>
    /// <param name="builder">The HttpClient builder; its name names the options.</param>
    /// <param name="configure">Sets the portal domain, client id, secret and any other option.</param>
    /// <returns>The value of <paramref name="builder"/>.</returns>
    /// <exception cref="InvalidOperationException">The builder has no client name (it is <c>ConfigureHttpClientDefaults</c>'s).</exception>
    public static IHttpClientBuilder AddOdcAuthentication(this IHttpClientBuilder builder, Action<OdcAuthenticationOptions> configure)
    {
        NamedClientBuilder.Require(builder, nameof(AddOdcAuthentication));
        ArgumentNullException.ThrowIfNull(configure);
        builder.Services.AddOptions<OdcAuthenticationOptions>(builder.Name).Configure(configure);
        return AddCore(builder);
    }

    /// <summary>
    /// Adds a <see cref="BearerTokenHandler"/> to the client's pipeline, configured from a configuration
    /// section whose keys are the names of <see cref="OdcAuthenticationOptions"/>' properties.
    /// </summary>
    /// <param name="builder">The HttpClient builder; its name names the options.</param>
    /// <param name="configuration">A section such as <c>configuration.GetSection("Odc")</c>.</param>
    /// <returns>The value of <paramref name="builder"/>.</returns>
    /// <remarks>
    /// Options are validated at host start (<c>ValidateOnStart</c>) or, without a host, when the client is
    /// first created. Calling this twice on one builder adds the handler once.
    /// </remarks>
    /// <exception cref="InvalidOperationException">The builder has no client name (it is <c>ConfigureHttpClientDefaults</c>'s).</exception>
    public static IHttpClientBuilder AddOdcAuthentication(this IHttpClientBuilder builder, IConfiguration configuration)
    {
        NamedClientBuilder.Require(builder, nameof(AddOdcAuthentication));
        ArgumentNullException.ThrowIfNull(configuration);
        builder.Services.AddOptions<OdcAuthenticationOptions>(builder.Name).Bind(configuration);
        return AddCore(builder);
    }

    private static IHttpClientBuilder AddCore(IHttpClientBuilder builder)
    {
        var services = builder.Services;
        AddSharedServices(services);
        var registration = new OdcClientRegistration(builder.Name);
        if (services.Any(d => registration.Equals(d.ImplementationInstance)))
        {
            return builder;
        }

        services.AddSingleton(registration);
        services.AddOptions<OdcAuthenticationOptions>(builder.Name).ValidateOnStart();
        RedactAuthorization(builder);
        return builder;
    }

    /// <summary>What every ODC client needs once per application: the token machinery and the backchannel client.</summary>
    internal static void AddSharedServices(IServiceCollection services)
    {
        services.TryAddSingleton(TimeProvider.System);
        services.AddMetrics();
        services.TryAddSingleton<OdcTelemetry>();
        services.TryAddSingleton(JitterSource.Shared);
        services.TryAddEnumerable(ServiceDescriptor.Singleton<IHostedService, OdcTokenWarmUpService>());
        services.TryAddEnumerable(ServiceDescriptor.Singleton<IValidateOptions<OdcAuthenticationOptions>, OdcAuthenticationOptionsValidator>());
        services.TryAddSingleton<DiscoveryDocumentCache>();
        services.TryAddSingleton<TokenEndpointClient>();
        services.TryAddSingleton<OdcAccessTokenProvider>();
        services.TryAddSingleton<IOdcAccessTokenProvider>(sp => sp.GetRequiredService<OdcAccessTokenProvider>());
        services.TryAddEnumerable(ServiceDescriptor.Singleton<IHttpMessageHandlerBuilderFilter, OdcAuthenticationHandlerBuilderFilter>());
        services.TryAddEnumerable(ServiceDescriptor.Singleton<IHttpMessageHandlerBuilderFilter, BackchannelCredentialsHandlerBuilderFilter>());

        if (!services.Any(d => d.ServiceType == typeof(BackchannelMarker)))
        {
            services.AddSingleton<BackchannelMarker>();
            services.AddHttpClient(OdcAuthenticationDefaults.BackchannelHttpClientName)

                // App-wide defaults (ConfigureHttpClientDefaults, as the .NET Aspire service defaults use: a resilience
                // pipeline and service discovery on every client) run before this and would wrap the identity calls in a
                // second retry loop (4 × 4 token requests per acquisition). The backchannel keeps only its own handlers;
                // handlers added to it by name after AddOdcAuthentication are kept.
                .ConfigureAdditionalHttpMessageHandlers(static (handlers, _) => handlers.Clear())
                .AddStandardResilienceHandler(ConfigureBackchannelResilience)

                // One pipeline (circuit breaker, rate limiter) per scheme + host + port: one organisation's
                // identity outage must not open the breaker for another organisation's token requests.
                .SelectPipelineByAuthority();
        }
    }

    /// <summary>The client's request logging never shows the token, whatever the application chose to redact.</summary>
    internal static void RedactAuthorization(IHttpClientBuilder builder)
    {
        // PostConfigure runs after the user's own RedactLoggedHeaders, so it adds to their choice instead of replacing it.
        builder.Services.PostConfigure<HttpClientFactoryOptions>(builder.Name, options =>
        {
            var userChoice = options.ShouldRedactHeaderValue;
            options.ShouldRedactHeaderValue = header =>
                string.Equals(header, "Authorization", StringComparison.OrdinalIgnoreCase) || userChoice(header);
        });
    }

    /// <summary>
    /// Identity calls are few and a caller waits on them: a few quick retries of transient failures
    /// (network errors, 408, 429, 5xx; Retry-After honoured up to the cap), each attempt bounded.
    /// 4xx OAuth errors such as invalid_client are not transient and are never retried. The total is
    /// bounded per client by <see cref="OdcAuthenticationOptions.BackchannelTimeout"/>; the pipeline is shared
    /// by the clients of one identity host, so its own total timeout is only a backstop at the longest
    /// BackchannelTimeout validation accepts, never a lower, silent cap.
    /// </summary>
    private static void ConfigureBackchannelResilience(HttpStandardResilienceOptions options)
    {
        options.Retry.MaxRetryAttempts = 3;
        options.Retry.BackoffType = Polly.DelayBackoffType.Exponential;
        options.Retry.UseJitter = true;
        options.Retry.Delay = TimeSpan.FromSeconds(1);
        options.Retry.MaxDelay = TimeSpan.FromSeconds(10);
        options.AttemptTimeout.Timeout = TimeSpan.FromSeconds(10);
        options.TotalRequestTimeout.Timeout = OdcAuthenticationOptionsValidator.MaxBackchannelTimeout;
    }

    private sealed class BackchannelMarker;
}
