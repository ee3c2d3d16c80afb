using OdcHandler.Redis;

namespace Microsoft.Extensions.DependencyInjection;

/// <summary>Makes the instances of an application share one ODC rate-limit budget through Redis.</summary>
public static class OdcRedisRateLimitsHttpClientBuilderExtensions
{
    /// <summary>
    /// Makes the instances of an application take this client's permits from one budget in Redis, so that together
    /// they stay within ODC's limits (<see cref="OdcHandler.OdcRateLimitOptions"/>): 20 instances together send no more
    /// than 100 requests a minute to one API domain. Turns on <c>AddOdcRateLimiting</c> with its defaults if it was
    /// not called.
    /// </summary>
    /// <param name="builder">The HttpClient builder.</param>
    /// <param name="configure">Sets at least <see cref="OdcRedisRateLimitOptions.Configuration"/>.</param>
    /// <returns>The value of <paramref name="builder"/>.</returns>
    /// <remarks>
    /// <para>
    /// Every limited request runs one Redis script that drops permits older than the window, counts, and takes a
    /// permit from the domain's pool and the endpoint's cap together, or from neither; a refused request asks again
    /// when Redis says the oldest permit leaves the window, for at most <c>MaxWait</c>.
    /// </para>
    /// <para>
    /// If Redis is down or slower than <see cref="OdcRedisRateLimitOptions.OperationTimeout"/>, a warning is logged once
    /// and each instance limits itself with its in-process limiter (so the fleet may then exceed ODC's limits, and
    /// 429s are waited out and resent); Redis is asked again every 30 seconds and used as soon as it answers.
    /// </para>
    /// </remarks>
    public static IHttpClientBuilder UseRedisRateLimits(this IHttpClientBuilder builder, Action<OdcRedisRateLimitOptions> configure)
    {
        ArgumentNullException.ThrowIfNull(builder);
        ArgumentNullException.ThrowIfNull(configure);
        var options = new OdcRedisRateLimitOptions();
        configure(options);
        if (string.IsNullOrWhiteSpace(options.Configuration))
        {
            throw new ArgumentException($"UseRedisRateLimits for HttpClient '{builder.Name}': OdcRedisRateLimitOptions.Configuration is required (a StackExchange.Redis configuration string such as \"localhost:6379\").", nameof(configure));
        }

        if (options.OperationTimeout <= TimeSpan.Zero)
        {
            throw new ArgumentException($"UseRedisRateLimits for HttpClient '{builder.Name}': OperationTimeout must be positive.", nameof(configure));
        }

        return builder.UseRateLimitStore(_ => new RedisRateLimitStore(options));
    }
}
