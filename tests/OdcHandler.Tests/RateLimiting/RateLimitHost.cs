using Microsoft.Extensions.DependencyInjection;
using Microsoft.Extensions.Logging;
using OdcHandler.Internal;
using OdcHandler.Tests.Fakes;

namespace OdcHandler.Tests.RateLimiting;

/// <summary>A provider with one HttpClient "odc" on fake time whose primary handler is an in-test API.</summary>
public static class RateLimitHost
{
    public const string ClientName = "odc";
    public const string Portal = "https://myorg.outsystems.dev/api/";

    public static ServiceProvider Build(TimeProvider time, Func<HttpMessageHandler> primary, Action<IHttpClientBuilder> configure, CapturingLoggerProvider? logs = null)
    {
        var services = new ServiceCollection();
        services.AddSingleton(time);
        services.AddLogging(builder =>
        {
            builder.SetMinimumLevel(LogLevel.Trace);
            if (logs is not null)
            {
                builder.AddProvider(logs);
            }
        });
        var client = services.AddHttpClient(ClientName, c => c.BaseAddress = new Uri(Portal)).ConfigurePrimaryHttpMessageHandler(primary);
        configure(client);
        return services.BuildServiceProvider(new ServiceProviderOptions { ValidateOnBuild = true, ValidateScopes = true });
    }

    internal static OdcRateLimiter Limiter(this IServiceProvider services) =>
        services.GetRequiredService<OdcRateLimiterRegistry>().Get(ClientName);

    /// <summary>Lets work that fake time released run until it waits again (on the wall clock, bounded; the outcome never depends on it).</summary>
    public static async Task SettleAsync(Func<bool> settled)
    {
        for (var i = 0; i < 2000 && !settled(); i++)
        {
            await Task.Delay(1);
        }
    }
}
