using Microsoft.Extensions.DependencyInjection;
using Microsoft.Extensions.Http.Resilience;
using Microsoft.Extensions.Time.Testing;
using Microsoft.Extensions.Logging;

namespace OdcHandler.Tests.Fakes;

/// <summary>Builds a service provider the way a user would, with the fake identity server as primary handler.</summary>
public static class OdcTestHost
{
    public const string ClientName = "odc";

    /// <summary>The backchannel's retries as tests run them: all of them, but without waiting between them.</summary>
    public const int BackchannelAttempts = 4;

    public static ServiceProvider Build(
        FakeIdentityServer server,
        Action<OdcAuthenticationOptions>? configure = null,
        CapturingLoggerProvider? logs = null,
        Action<IServiceCollection>? services = null,
        bool waitBetweenRetries = false)
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
        collection.PostConfigure<HttpStandardResilienceOptions>(OdcAuthenticationDefaults.BackchannelResiliencePipelineName, o =>
        {
            // Jitter is Polly's own randomness; without it the retry schedule (1 s, 2 s, 4 s) is exact.
            o.Retry.UseJitter = false;
            if (!waitBetweenRetries)
            {
                o.Retry.Delay = TimeSpan.Zero;
                o.Retry.ShouldRetryAfterHeader = false;
            }
        });

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

    /// <summary>
    /// Moves fake time forward in small steps until <paramref name="task"/> completes, so retry delays and
    /// timeouts scheduled on the <see cref="FakeTimeProvider"/> elapse. The outcome does not depend on how
    /// the steps fall: every delay waits for fake time, never for the wall clock.
    /// </summary>
    public static async Task<T> DriveAsync<T>(this Task<T> task, FakeTimeProvider time, TimeSpan? step = null, int maxSteps = 2000)
    {
        for (var i = 0; i < maxSteps && !task.IsCompleted; i++)
        {
            // Let the operation reach its next wait before time moves again.
            await Task.WhenAny(task, Task.Delay(2));
            if (!task.IsCompleted)
            {
                time.Advance(step ?? TimeSpan.FromMilliseconds(250));
            }
        }

        return await task;
    }

    public static HttpClient Client(this IServiceProvider provider, string name = ClientName) =>
        provider.GetRequiredService<IHttpClientFactory>().CreateClient(name);
}
