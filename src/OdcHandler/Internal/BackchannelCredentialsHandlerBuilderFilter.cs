using Microsoft.Extensions.Http;

namespace OdcHandler.Internal;

/// <summary>
/// Puts <see cref="BackchannelCredentialsHandler"/> directly in front of the primary handler of the
/// <see cref="OdcAuthenticationDefaults.BackchannelHttpClientName"/> client, after its logging handlers and
/// resilience pipeline, wrapping whatever primary handler the application configured, and turns that primary
/// handler's automatic redirects off.
/// </summary>
/// <remarks>
/// Redirects are refused here, when the handler chain is built, rather than where the backchannel is registered: a
/// primary handler the application sets later (for a proxy, say) replaces the one that existed then, and one that
/// followed a 307 from the token endpoint would re-post the client secret to wherever it points.
/// </remarks>
internal sealed class BackchannelCredentialsHandlerBuilderFilter : IHttpMessageHandlerBuilderFilter
{
    public Action<HttpMessageHandlerBuilder> Configure(Action<HttpMessageHandlerBuilder> next) => builder =>
    {
        next(builder);
        if (string.Equals(builder.Name, OdcAuthenticationDefaults.BackchannelHttpClientName, StringComparison.Ordinal))
        {
            RefuseRedirects(builder.PrimaryHandler);
            builder.PrimaryHandler = new BackchannelCredentialsHandler { InnerHandler = builder.PrimaryHandler };
        }
    };

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
}
