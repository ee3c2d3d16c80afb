using Microsoft.AspNetCore.DataProtection;
using OdcHandler.Redis;

namespace Microsoft.Extensions.DependencyInjection;

/// <summary>Shares an ODC client's access token between the instances of an application through Redis.</summary>
public static class OdcRedisTokenCacheHttpClientBuilderExtensions
{
    /// <summary>
    /// Makes the instances of an application share this client's token through Redis: when one instance
    /// has fetched a token, the others use it instead of fetching their own; when none has, one instance
    /// (holding a short lease) fetches it while the others wait a bounded time.
    /// </summary>
    /// <param name="builder">The HttpClient builder, after <c>AddOdcAuthentication</c>.</param>
    /// <param name="configure">Sets at least <see cref="OdcRedisTokenCacheOptions.Configuration"/>.</param>
    /// <returns>The value of <paramref name="builder"/>.</returns>
    /// <remarks>
    /// <para>
    /// Requests never wait for Redis: each instance keeps its in-memory copy and reads it on every request;
    /// Redis is asked only when a token is missing, due for refresh or expired. If Redis is down, slow or
    /// answers garbage, a warning is logged and the instance fetches its own token, as without this call.
    /// </para>
    /// <para>
    /// Tokens are encrypted with ASP.NET Core Data Protection (<c>IDataProtectionProvider</c>); all instances
    /// must share a key ring. Keys are opaque hashes: neither the client id nor anything of the secret
    /// appears in them. Each entry is bound to its key (the key is part of the Data Protection purpose), so an
    /// entry copied under another client's key is ignored there and that client fetches its own token.
    /// </para>
    /// </remarks>
    public static IHttpClientBuilder UseRedisTokenCache(this IHttpClientBuilder builder, Action<OdcRedisTokenCacheOptions> configure)
    {
        ArgumentNullException.ThrowIfNull(builder);
        ArgumentNullException.ThrowIfNull(configure);
        var options = new OdcRedisTokenCacheOptions();
        configure(options);
        if (string.IsNullOrWhiteSpace(options.Configuration))
        {
            throw new ArgumentException($"UseRedisTokenCache for HttpClient '{builder.Name}': OdcRedisTokenCacheOptions.Configuration is required (a StackExchange.Redis configuration string such as \"localhost:6379\").", nameof(configure));
        }

        if (options.LeaseDuration <= TimeSpan.Zero || options.LeaseWait < TimeSpan.Zero || options.OperationTimeout <= TimeSpan.Zero)
        {
            throw new ArgumentException($"UseRedisTokenCache for HttpClient '{builder.Name}': LeaseDuration and OperationTimeout must be positive and LeaseWait not negative.", nameof(configure));
        }

        return builder.UseSharedTokenStore(
            services => new RedisSharedTokenStore(options, services.GetService<IDataProtectionProvider>(), services.GetService<TimeProvider>() ?? TimeProvider.System));
    }
}
