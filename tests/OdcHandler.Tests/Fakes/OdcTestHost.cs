using Microsoft.Extensions.DependencyInjection;
using Microsoft.Extensions.Logging;

namespace OdcHandler.Tests.Fakes;

/// <summary>Builds a service provider the way a user would, with the fake identity server as primary handler.</summary>
public static class OdcTestHost
{
    public const string ClientName = "odc";

    public static ServiceProvider Build(
        FakeIdentityServer server,
        Action<OdcAuthenticationOptions>? configure = null,
        CapturingLoggerProvider? logs = null,
        Action<IServiceCollection>? services = null)
    {
        var collection = new ServiceCollection();
        collection.AddSingleton<TimeProvider>(server.Time);
        collection.AddLogging(builder =>
        {
            builder.SetMinimumLevel(LogLevel.Trace);
            if (logs is not null)
            {
                builder.AddProvider(logs);
            }
        });
        collection.AddHttpClient(OdcAuthenticationDefaults.BackchannelHttpClientName)
            .ConfigurePrimaryHttpMessageHandler(server.CreateHandler);
        collection.AddHttpClient(ClientName, client => client.BaseAddress = new Uri(server.PortalUri, "/api/"))
            .AddOdcAuthentication(options =>
            {
                options.PortalDomain = server.PortalUri.ToString();
                options.ClientId = FakeIdentityServer.ClientId;
                options.ClientSecret = FakeIdentityServer.Secret;
                configure?.Invoke(options);
            })
            .ConfigurePrimaryHttpMessageHandler(server.CreateHandler);
        services?.Invoke(collection);
        return collection.BuildServiceProvider(new ServiceProviderOptions { ValidateOnBuild = true, ValidateScopes = true });
    }

    public static HttpClient Client(this IServiceProvider provider, string name = ClientName) =>
        provider.GetRequiredService<IHttpClientFactory>().CreateClient(name);
}
