using Microsoft.Extensions.DependencyInjection;
using Microsoft.Extensions.Http;
using Microsoft.Extensions.Logging;

namespace OdcHandler.Internal;

/// <summary>
/// Puts <see cref="OdcRateLimitingHandler"/> directly in front of the primary handler, inside
/// <see cref="BearerTokenHandler"/> or <see cref="OdcOrganizationsHandler"/> when there is one, whichever was registered first.
/// </summary>
/// <remarks>
/// Innermost, every request that actually leaves takes its own permits: each attempt of an outer retry, and the
/// bearer handler's resend after a 401. The wait for a token happens before a permit is taken, never while one is held.
/// </remarks>
internal sealed class OdcRateLimitingHandlerBuilderFilter(IEnumerable<OdcRateLimitingRegistration> registrations) : IHttpMessageHandlerBuilderFilter
{
    private readonly HashSet<string> _clientNames = new(registrations.Select(r => r.ClientName), StringComparer.Ordinal);

    public Action<HttpMessageHandlerBuilder> Configure(Action<HttpMessageHandlerBuilder> next) => builder =>
    {
        next(builder);
        if (builder.Name is not { } name || !_clientNames.Contains(name))
        {
            return;
        }

        var services = builder.Services;
        var bearer = builder.PrimaryHandler is DelegatingHandler { InnerHandler: not null } outer and (BearerTokenHandler or OdcOrganizationsHandler) ? outer : null;
        var primary = bearer?.InnerHandler ?? builder.PrimaryHandler;
        var handler = new OdcRateLimitingHandler(
            services.GetRequiredService<OdcRateLimiterRegistry>().Get(name),
            services.GetRequiredService<TimeProvider>(),
            services.GetRequiredService<ILoggerFactory>().CreateLogger<OdcRateLimitingHandler>(),
            services.GetRequiredService<OdcTelemetry>(),
            MetricServerAddress(services, name),
            TakeOverRedirects(primary))
        {
            InnerHandler = primary,
        };
        if (bearer is not null)
        {
            bearer.InnerHandler = handler;
        }
        else
        {
            builder.PrimaryHandler = handler;
        }
    };

    /// <summary>
    /// A redirect the primary handler follows is a request no permit was taken for: the limiter follows them instead,
    /// as many as the primary handler would have. A primary handler of another type, one that does not follow
    /// redirects, or one already in use (its settings can no longer change) is left as it is.
    /// </summary>
    private static int TakeOverRedirects(HttpMessageHandler primary)
    {
        try
        {
            switch (primary)
            {
                // A handler with credentials sends redirect hops without them (so another host's challenge never gets
                // them); that path is the handler's own, so it keeps following its redirects itself.
                case SocketsHttpHandler { AllowAutoRedirect: true, Credentials: null } sockets:
                    sockets.AllowAutoRedirect = false;
                    return sockets.MaxAutomaticRedirections;
                case HttpClientHandler { AllowAutoRedirect: true, Credentials: null, UseDefaultCredentials: false } handler:
                    handler.AllowAutoRedirect = false;
                    return handler.MaxAutomaticRedirections;
            }
        }
        catch (InvalidOperationException)
        {
            // Shared with a client that already sent: its settings are fixed, and it keeps following redirects itself.
        }

        return 0;
    }

    /// <summary>On a multi-organisation client, the organisation is tagged only when the application opted in.</summary>
    private static string? MetricServerAddress(IServiceProvider services, string clientName) =>
        services.GetService<OdcOrganizationDirectory>() is { } directory && directory.IsRegistered(clientName) && !directory.Get(clientName).TagOrganization
            ? OdcOrganizationCache.UntaggedOrganization
            : null;
}
