using Microsoft.Extensions.DependencyInjection.Extensions;
using Microsoft.Extensions.Http;
using Microsoft.Extensions.Options;
using OdcHandler;
using OdcHandler.Internal;

namespace Microsoft.Extensions.DependencyInjection;

/// <summary>
/// Adds ODC authentication for many organisations to an <see cref="HttpClient"/> registered with <c>AddHttpClient</c>.
/// </summary>
public static class OdcOrganizationsHttpClientBuilderExtensions
{
    /// <summary>
    /// Adds ODC authentication for many organisations: the organisation of each request is its host, whose credentials
    /// <typeparamref name="TCredentialSource"/> supplies; each organisation's token is cached on its own and goes only
    /// to that organisation's addresses.
    /// </summary>
    /// <typeparam name="TCredentialSource">
    /// Supplies the credentials per portal host. Registered as a singleton unless the application registered it already.
    /// </typeparam>
    /// <param name="builder">The HttpClient builder; its name names the <see cref="OdcOrganizationsOptions"/>.</param>
    /// <param name="configure">Sets the cache and lifecycle settings; by default 1000 organisations, 1 hour idle.</param>
    /// <returns>The value of <paramref name="builder"/>.</returns>
    /// <remarks>
    /// <para>
    /// A request to an https address (plain http only to a loopback host, or anywhere with
    /// <see cref="OdcOrganizationsOptions.RequireHttps"/> off) is its host's organisation's. If the source has no
    /// credentials for the host, the request is not sent and <see cref="OdcAuthenticationException"/> names the host.
    /// Every promise of the single-organisation handler holds per organisation: one token fetch however many callers,
    /// refresh ahead, the old token kept while a refresh fails, cool-down, one 401 retry that drops only that
    /// organisation's token, redirects judged against that organisation's own addresses.
    /// </para>
    /// <para>
    /// Tokens live in an <c>IMemoryCache</c>: the application's own if it registered one with a <c>SizeLimit</c>,
    /// else a private one with <see cref="OdcOrganizationsOptions.SizeLimit"/>. Each organisation counts 1 and expires
    /// after <see cref="OdcOrganizationsOptions.IdleExpiration"/> without requests; an evicted organisation's timers stop.
    /// The handler sits directly in front of the primary handler, as <c>AddOdcAuthentication</c>'s does. A client
    /// name takes either this or the single-organisation <c>AddOdcAuthentication</c>, not both.
    /// </para>
    /// </remarks>
    /// <exception cref="InvalidOperationException">The single-organisation <c>AddOdcAuthentication</c> was called on this client already. Or the builder has no client name (it is <c>ConfigureHttpClientDefaults</c>'s).</exception>
    public static IHttpClientBuilder AddOdcAuthentication<TCredentialSource>(this IHttpClientBuilder builder, Action<OdcOrganizationsOptions>? configure = null)
        where TCredentialSource : class, IOdcCredentialSource
    {
        NamedClientBuilder.Require(builder, "AddOdcAuthentication<TCredentialSource>");
        var services = builder.Services;
        if (services.Any(d => new OdcClientRegistration(builder.Name).Equals(d.ImplementationInstance)))
        {
            throw new InvalidOperationException(
                $"HttpClient '{builder.Name}' already has single-organisation ODC authentication (AddOdcAuthentication with options); use one or the other on a client.");
        }

        var options = services.AddOptions<OdcOrganizationsOptions>(builder.Name);
        if (configure is not null)
        {
            options.Configure(configure);
        }

        OdcAuthenticationHttpClientBuilderExtensions.AddSharedServices(services);
        services.TryAddSingleton<TCredentialSource>();
        services.TryAddSingleton<OdcOrganizationDirectory>();
        services.TryAddEnumerable(ServiceDescriptor.Singleton<IValidateOptions<OdcOrganizationsOptions>, OdcOrganizationsOptionsValidator>());
        services.TryAddEnumerable(ServiceDescriptor.Singleton<IHttpMessageHandlerBuilderFilter, OdcOrganizationsHandlerBuilderFilter>());

        if (services.Any(d => d.ImplementationInstance is OdcOrganizationsRegistration r && string.Equals(r.ClientName, builder.Name, StringComparison.Ordinal)))
        {
            return builder;
        }

        services.AddSingleton(new OdcOrganizationsRegistration(builder.Name, typeof(TCredentialSource)));
        options.ValidateOnStart();
        OdcAuthenticationHttpClientBuilderExtensions.RedactAuthorization(builder);
        return builder;
    }
}
