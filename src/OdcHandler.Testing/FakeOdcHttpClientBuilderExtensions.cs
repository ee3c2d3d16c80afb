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

    /// <summary>
    /// Makes several fake organisations, each with its own portal (<c>new FakeOdcServer(new Uri("https://acme.outsystems.dev"), time)</c>),
    /// the primary handler of this client and of OdcHandler's backchannel: each request reaches the server whose portal
    /// has its scheme, host and port, and a request to any other address fails with <see cref="HttpRequestException"/>,
    /// as an unknown host does. For a client registered with <c>AddOdcAuthentication&lt;TCredentialSource&gt;()</c>.
    /// </summary>
    /// <param name="builder">The HttpClient builder.</param>
    /// <param name="servers">The organisations; no two with the same portal.</param>
    /// <returns>The value of <paramref name="builder"/>.</returns>
    /// <exception cref="ArgumentException">Two servers have the same portal.</exception>
    public static IHttpClientBuilder UseFakeOdc(this IHttpClientBuilder builder, params FakeOdcServer[] servers)
    {
        ArgumentNullException.ThrowIfNull(builder);
        ArgumentNullException.ThrowIfNull(servers);
        var all = servers.ToArray();
        _ = new FakeOdcRouter(all);
        builder.ConfigurePrimaryHttpMessageHandler(() => new FakeOdcRouter(all));
        builder.Services.AddHttpClient(OdcAuthenticationDefaults.BackchannelHttpClientName).ConfigurePrimaryHttpMessageHandler(() => new FakeOdcRouter(all));
        return builder;
    }
}
