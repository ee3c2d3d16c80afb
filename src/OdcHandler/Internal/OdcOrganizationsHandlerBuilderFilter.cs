using Microsoft.Extensions.DependencyInjection;
using Microsoft.Extensions.Http;

namespace OdcHandler.Internal;

/// <summary>
/// Puts <see cref="OdcOrganizationsHandler"/> directly in front of the primary handler of every multi-organisation
/// client, for the reasons <see cref="OdcAuthenticationHandlerBuilderFilter"/> gives.
/// </summary>
internal sealed class OdcOrganizationsHandlerBuilderFilter(IEnumerable<OdcOrganizationsRegistration> registrations) : IHttpMessageHandlerBuilderFilter
{
    private readonly HashSet<string> _clientNames = new(registrations.Select(r => r.ClientName), StringComparer.Ordinal);

    public Action<HttpMessageHandlerBuilder> Configure(Action<HttpMessageHandlerBuilder> next) => builder =>
    {
        next(builder);
        if (builder.Name is { } name && _clientNames.Contains(name))
        {
            var handler = builder.Services.GetRequiredService<OdcOrganizationDirectory>().CreateHandler(name);
            handler.InnerHandler = builder.PrimaryHandler;
            builder.PrimaryHandler = handler;
        }
    };
}
