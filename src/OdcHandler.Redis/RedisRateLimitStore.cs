using System.Globalization;
using StackExchange.Redis;

namespace OdcHandler.Redis;

/// <summary>
/// The fleet's permits in Redis: per limit a sorted set of the times permits were taken, checked and taken for all
/// of a request's limits in one script, so that a refused request takes nothing and two instances never both take
/// the last permit. Every command is bounded by <see cref="OdcRedisRateLimitOptions.OperationTimeout"/>.
/// </summary>
internal sealed class RedisRateLimitStore : IOdcRateLimitStore, IDisposable
{
    // KEYS: the limits. ARGV: now (µs since the Unix epoch), window (µs), a unique member, then each limit's count.
    // Returns {0, 0} when every permit was taken, else {the µs until the last refusing limit has one free, that
    // limit's index from 0}.
    private const string AcquireScript = """
        local now = tonumber(ARGV[1])
        local window = tonumber(ARGV[2])
        local wait = 0
        local refused = 0
        for i, key in ipairs(KEYS) do
          local limit = tonumber(ARGV[3 + i])
          redis.call('ZREMRANGEBYSCORE', key, '-inf', now - window)
          local count = redis.call('ZCARD', key)
          if count >= limit then
            local entry = redis.call('ZRANGE', key, count - limit, count - limit, 'WITHSCORES')
            local free = tonumber(entry[2]) + window - now
            if free > wait then
              wait = free
              refused = i - 1
            end
          end
        end
        if wait > 0 then return {wait, refused} end
        local ttl = math.ceil(window / 1000)
        for i, key in ipairs(KEYS) do
          redis.call('ZADD', key, now, ARGV[3])
          redis.call('PEXPIRE', key, ttl)
        end
        return {0, 0}
        """;

    private readonly OdcRedisRateLimitOptions _options;
    private readonly Lazy<Task<ConnectionMultiplexer>> _connection;

    public RedisRateLimitStore(OdcRedisRateLimitOptions options)
    {
        _options = options;
        _connection = new Lazy<Task<ConnectionMultiplexer>>(ConnectAsync);
    }

    public async ValueTask<(TimeSpan Wait, int RefusedBy)> TryAcquireAsync(IReadOnlyList<(string Key, int Limit)> limits, DateTimeOffset now, TimeSpan window, CancellationToken cancellationToken)
    {
        var keys = new RedisKey[limits.Count];
        var values = new RedisValue[3 + limits.Count];

        // Microseconds: a double holds them exactly for centuries, and a permit is never counted as older than it is.
        values[0] = (now - DateTimeOffset.UnixEpoch).Ticks / TimeSpan.TicksPerMicrosecond;
        values[1] = (window.Ticks + TimeSpan.TicksPerMicrosecond - 1) / TimeSpan.TicksPerMicrosecond;
        values[2] = Guid.NewGuid().ToString("N");
        for (var i = 0; i < limits.Count; i++)
        {
            keys[i] = RedisKey(limits[i].Key);
            values[3 + i] = limits[i].Limit;
        }

        var result = (RedisResult[])(await Core().WaitAsync(_options.OperationTimeout, cancellationToken).ConfigureAwait(false))!;
        var microseconds = (long)result[0];
        return microseconds <= 0 ? (TimeSpan.Zero, 0) : (TimeSpan.FromTicks(microseconds * TimeSpan.TicksPerMicrosecond), (int)result[1]);

        async Task<RedisResult> Core() =>
            await (await _connection.Value.ConfigureAwait(false)).GetDatabase().ScriptEvaluateAsync(AcquireScript, keys, values).ConfigureAwait(false);
    }

    public void Dispose()
    {
        if (_connection.IsValueCreated && _connection.Value.IsCompletedSuccessfully)
        {
            _connection.Value.Result.Dispose();
        }
    }

    /// <summary>The organisation (<c>host:port</c>) as the hash tag: one script's keys must share a Redis Cluster slot.</summary>
    private RedisKey RedisKey(string key)
    {
        var slash = key.IndexOf('/', StringComparison.Ordinal);
        return slash < 0
            ? _options.KeyPrefix + "ratelimit:{" + key + "}"
            : _options.KeyPrefix + "ratelimit:{" + key[..slash] + "}" + key[slash..];
    }

    private Task<ConnectionMultiplexer> ConnectAsync()
    {
        var configuration = ConfigurationOptions.Parse(_options.Configuration!);

        // Start even while Redis is down, and come back by itself when it returns.
        configuration.AbortOnConnectFail = false;
        configuration.ConnectTimeout = (int)Math.Max(100, _options.OperationTimeout.TotalMilliseconds);
        configuration.SyncTimeout = configuration.ConnectTimeout;
        configuration.AsyncTimeout = configuration.ConnectTimeout;
        configuration.ClientName ??= "OdcHandler-" + Environment.ProcessId.ToString(CultureInfo.InvariantCulture);
        return ConnectionMultiplexer.ConnectAsync(configuration);
    }
}
