using Microsoft.Extensions.Configuration;
using Microsoft.Extensions.DependencyInjection.Extensions;
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
    public static IHttpClientBuilder AddOdcAuthentication(this IHttpClientBuilder builder, Action<OdcAuthenticationOptions> configure)
    {
        ArgumentNullException.ThrowIfNull(builder);
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
    public static IHttpClientBuilder AddOdcAuthentication(this IHttpClientBuilder builder, IConfiguration configuration)
    {
        ArgumentNullException.ThrowIfNull(builder);
        ArgumentNullException.ThrowIfNull(configuration);
        builder.Services.AddOptions<OdcAuthenticationOptions>(builder.Name).Bind(configuration);
        return AddCore(builder);
    }

    private static IHttpClientBuilder AddCore(IHttpClientBuilder builder)
    {
        var services = builder.Services;
        services.TryAddSingleton(TimeProvider.System);
        services.TryAddEnumerable(ServiceDescriptor.Singleton<IValidateOptions<OdcAuthenticationOptions>, OdcAuthenticationOptionsValidator>());
        services.TryAddSingleton<DiscoveryDocumentCache>();
        services.TryAddSingleton<TokenEndpointClient>();
        services.TryAddSingleton<OdcAccessTokenProvider>();
        services.TryAddSingleton<IOdcAccessTokenProvider>(sp => sp.GetRequiredService<OdcAccessTokenProvider>());
        services.TryAddEnumerable(ServiceDescriptor.Singleton<IHttpMessageHandlerBuilderFilter, OdcAuthenticationHandlerBuilderFilter>());

        if (!services.Any(d => d.ServiceType == typeof(BackchannelMarker)))
        {
            services.AddSingleton<BackchannelMarker>();
            services.AddHttpClient(OdcAuthenticationDefaults.BackchannelHttpClientName)
                .ConfigurePrimaryHttpMessageHandler(static (primary, _) => RefuseRedirects(primary));
        }

        var registration = new OdcClientRegistration(builder.Name);
        if (services.Any(d => registration.Equals(d.ImplementationInstance)))
        {
            return builder;
        }

        services.AddSingleton(registration);
        services.AddOptions<OdcAuthenticationOptions>(builder.Name).ValidateOnStart();

        // PostConfigure runs after the user's own RedactLoggedHeaders, so it adds to their choice instead of replacing it.
        services.PostConfigure<HttpClientFactoryOptions>(builder.Name, options =>
        {
            var userChoice = options.ShouldRedactHeaderValue;
            options.ShouldRedactHeaderValue = header =>
                string.Equals(header, "Authorization", StringComparison.OrdinalIgnoreCase) || userChoice(header);
        });

        return builder;
    }

    /// <summary>A 307/308 from the token endpoint would otherwise re-post the client secret to wherever it points.</summary>
    private static void RefuseRedirects(HttpMessageHandler primary)
    {
        switch (primary)
        {
            case SocketsHttpHandler sockets:
                sockets.AllowAutoRedirect = false;
                break;
            case HttpClientHandler handler:
                handler.AllowAutoRedirect = false;
                break;
        }
    }

    private sealed class BackchannelMarker;
}
