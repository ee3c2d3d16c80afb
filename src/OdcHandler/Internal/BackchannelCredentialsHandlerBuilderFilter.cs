using Microsoft.Extensions.Http;

namespace OdcHandler.Internal;

/// <summary>
/// Puts <see cref="BackchannelCredentialsHandler"/> directly in front of the primary handler of the
/// <see cref="OdcAuthenticationDefaults.BackchannelHttpClientName"/> client, after its logging handlers and
/// resilience pipeline, wrapping whatever primary handler the application configured.
/// </summary>
internal sealed class BackchannelCredentialsHandlerBuilderFilter : IHttpMessageHandlerBuilderFilter
{
    public Action<HttpMessageHandlerBuilder> Configure(Action<HttpMessageHandlerBuilder> next) => builder =>
    {
        next(builder);
        if (string.Equals(builder.Name, OdcAuthenticationDefaults.BackchannelHttpClientName, StringComparison.Ordinal))
        {
            builder.PrimaryHandler = new BackchannelCredentialsHandler { InnerHandler = builder.PrimaryHandler };
        }
    };
}
