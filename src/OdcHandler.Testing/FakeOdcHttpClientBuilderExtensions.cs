using OdcHandler;
using OdcHandler.Testing;

namespace Microsoft.Extensions.DependencyInjection;

/// <summary>Points an HttpClient that uses OdcHandler at a <see cref="FakeOdcServer"/>.</summary>
public static class FakeOdcHttpClientBuilderExtensions
{
    /// <summary>
    /// Makes <paramref name="server"/> the primary handler of this client and of OdcHandler's backchannel
    /// client (<see cref="OdcAuthenticationDefaults.BackchannelHttpClientName"/>), so discovery, token and
    /// API calls all reach the fake, in memory.
    /// </summary>
    /// <param name="builder">The HttpClient builder, typically after <c>AddOdcAuthentication</c>.</param>
    /// <param name="server">The fake.</param>
    /// <returns>The value of <paramref name="builder"/>.</returns>
    public static IHttpClientBuilder UseFakeOdc(this IHttpClientBuilder builder, FakeOdcServer server)
    {
        ArgumentNullException.ThrowIfNull(builder);
        ArgumentNullException.ThrowIfNull(server);
        builder.ConfigurePrimaryHttpMessageHandler(server.CreateHandler);
        builder.Services.AddHttpClient(OdcAuthenticationDefaults.BackchannelHttpClientName).ConfigurePrimaryHttpMessageHandler(server.CreateHandler);
        return builder;
    }
}
