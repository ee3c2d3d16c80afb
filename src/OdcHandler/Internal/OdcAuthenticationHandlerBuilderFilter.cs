using Microsoft.Extensions.DependencyInjection;
using Microsoft.Extensions.Http;

namespace OdcHandler.Internal;

/// <summary>
/// Puts <see cref="BearerTokenHandler"/> directly in front of the primary handler of every client that
/// <c>AddOdcAuthentication</c> was called on.
/// </summary>
/// <remarks>
/// There, after all other handlers, IHttpClientFactory's own request logging never sees the token (its
/// structured header values are not redacted even when the text is), and an outer retry handler
/// (Microsoft.Extensions.Http.Resilience, Polly) gets a current token on every attempt. Registered after
/// the factory's logging filter, so it runs before that filter appends its inner logger.
/// </remarks>
internal sealed class OdcAuthenticationHandlerBuilderFilter(IEnumerable<OdcClientRegistration> registrations) : IHttpMessageHandlerBuilderFilter
{
    private readonly HashSet<string> _clientNames = new(registrations.Select(r => r.ClientName), StringComparer.Ordinal);

    public Action<HttpMessageHandlerBuilder> Configure(Action<HttpMessageHandlerBuilder> next) => builder =>
    {
        next(builder);
        if (builder.Name is { } name && _clientNames.Contains(name))
        {
            var handler = builder.Services.GetRequiredService<OdcAccessTokenProvider>().CreateHandler(name);
            handler.InnerHandler = builder.PrimaryHandler;
            builder.PrimaryHandler = handler;
        }
    };
}
