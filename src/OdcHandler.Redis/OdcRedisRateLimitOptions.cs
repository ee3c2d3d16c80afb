namespace OdcHandler.Redis;

/// <summary>Settings of the rate-limit budget that the instances of an application share through Redis.</summary>
/// <remarks>
/// Each limit is a sorted set of the times its permits were taken, under <c>{KeyPrefix}ratelimit:{host:port}/{limit}</c>
/// (the braces make every key of one organisation a single Redis Cluster hash slot), expiring by itself one window
/// after its last permit. Times come from each instance's <see cref="TimeProvider"/>: keep the instances' clocks in
/// step (NTP); see <see cref="IOdcRateLimitStore"/>.
/// </remarks>
public sealed class OdcRedisRateLimitOptions
{
    /// <summary>The StackExchange.Redis configuration string, for example <c>redis.internal:6379,password=…</c>. Required.</summary>
    public string? Configuration { get; set; }

    /// <summary>The prefix of every key OdcHandler writes. By default, <c>odchandler:</c>.</summary>
    public string KeyPrefix { get; set; } = "odchandler:";

    /// <summary>
    /// The longest one Redis command may take, connecting included, before the instance falls back to its in-process
    /// limiter. By default, 1 second.
    /// </summary>
    public TimeSpan OperationTimeout { get; set; } = TimeSpan.FromSeconds(1);

    /// <summary>Describes the settings without the Redis configuration string, which may hold a password.</summary>
    /// <returns>A description.</returns>
    public override string ToString() =>
        $"OdcRedisRateLimitOptions {{ Configuration = {(string.IsNullOrEmpty(Configuration) ? "(not set)" : "***")}, KeyPrefix = {KeyPrefix}, OperationTimeout = {OperationTimeout} }}";
}
