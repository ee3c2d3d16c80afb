using System.Globalization;
using System.Text.Json;
using Microsoft.AspNetCore.DataProtection;
using StackExchange.Redis;

namespace OdcHandler.Redis;

/// <summary>
/// Keeps the shared token in Redis, encrypted, under an opaque key, with a <c>SET NX PX</c> lease so that one
/// instance at a time calls the token endpoint. Every command is bounded by
/// <see cref="OdcRedisTokenCacheOptions.OperationTimeout"/>; the manager treats any failure as "no store".
/// </summary>
internal sealed class RedisSharedTokenStore : IOdcSharedTokenStore, IDisposable
{
    private const string ReadScript = "return { redis.call('get', KEYS[1]), redis.call('pttl', KEYS[1]) }";
    private const string ReleaseScript = "if redis.call('get', KEYS[1]) == ARGV[1] then return redis.call('del', KEYS[1]) else return 0 end";

    private readonly OdcRedisTokenCacheOptions _options;
    private readonly IDataProtector? _protector;
    private readonly TimeProvider _timeProvider;
    private readonly Lazy<Task<ConnectionMultiplexer>> _connection;
    private volatile KeyProtector? _keyProtector;

    public RedisSharedTokenStore(OdcRedisTokenCacheOptions options, IDataProtectionProvider? dataProtection, TimeProvider timeProvider)
    {
        _options = options;
        _timeProvider = timeProvider;
        _protector = dataProtection?.CreateProtector("OdcHandler.Redis.SharedToken.v1");
        if (_protector is null && !options.AllowUnprotectedTokens)
        {
            throw new InvalidOperationException(
                "UseRedisTokenCache stores access tokens in Redis and encrypts them with ASP.NET Core Data Protection: register it with " +
                "services.AddDataProtection() and a key ring every instance shares (for example PersistKeysToStackExchangeRedis), " +
                "or set OdcRedisTokenCacheOptions.AllowUnprotectedTokens to store them in clear.");
        }

        _connection = new Lazy<Task<ConnectionMultiplexer>>(ConnectAsync);
    }

    public TimeSpan LeaseWait => _options.LeaseWait;

    public TimeSpan PollInterval => TimeSpan.FromMilliseconds(100);

    public async Task<OdcSharedToken?> ReadAsync(string key, CancellationToken cancellationToken)
    {
        // Taken before the command, so the token is never thought to live longer than Redis says it does.
        var now = _timeProvider.GetUtcNow();
        var result = await RunAsync(database => database.ScriptEvaluateAsync(ReadScript, [TokenKey(key)]), cancellationToken).ConfigureAwait(false);
        if (result.Resp2Type != ResultType.Array || result.Length != 2 || result[0].IsNull || result[1].Resp2Type != ResultType.Integer)
        {
            return null;
        }

        // Expiry travels as Redis's remaining time to live, never as a point in time: the instances' clocks
        // may disagree with each other by any amount; only Redis's clock counts down.
        var timeToLive = (long)result[1];
        var value = (string?)result[0];
        if (timeToLive <= 0 || string.IsNullOrEmpty(value))
        {
            return null;
        }

        try
        {
            var json = _protector is null ? value : ProtectorFor(key).Unprotect(value);
            using var document = JsonDocument.Parse(json);
            var root = document.RootElement;

            // An entry copied from another client's key is not this client's token, even when it decrypts.
            if (root.GetProperty("k").GetString() != key)
            {
                return null;
            }

            return new OdcSharedToken(
                root.GetProperty("t").GetString() ?? string.Empty,
                now + TimeSpan.FromMilliseconds(timeToLive),
                TimeSpan.FromSeconds(root.GetProperty("l").GetInt64()));
        }
        catch (Exception exception) when (exception is JsonException or KeyNotFoundException or InvalidOperationException or FormatException
            or System.Security.Cryptography.CryptographicException or ArgumentException)
        {
            // Garbage, another key ring, another version: as if nothing were stored.
            return null;
        }
    }

    public async Task WriteAsync(string key, OdcSharedToken token, CancellationToken cancellationToken)
    {
        var timeToLive = token.ExpiresAt - _timeProvider.GetUtcNow();
        if (timeToLive <= TimeSpan.Zero)
        {
            return;
        }

        var json = JsonSerializer.Serialize(new Dictionary<string, object>
        {
            ["k"] = key,
            ["t"] = token.AccessToken,
            ["l"] = (long)token.Lifetime.TotalSeconds,
        });
        var value = _protector is null ? json : ProtectorFor(key).Protect(json);
        await RunAsync(database => database.StringSetAsync(TokenKey(key), value, timeToLive), cancellationToken).ConfigureAwait(false);
    }

    public async Task<bool> TryTakeLeaseAsync(string key, string owner, CancellationToken cancellationToken)
    {
        return await RunAsync(database => database.StringSetAsync(LeaseKey(key), owner, _options.LeaseDuration, When.NotExists), cancellationToken)
            .ConfigureAwait(false);
    }

    public async Task ReleaseLeaseAsync(string key, string owner, CancellationToken cancellationToken)
    {
        await RunAsync(database => database.ScriptEvaluateAsync(ReleaseScript, [LeaseKey(key)], [owner]), cancellationToken).ConfigureAwait(false);
    }

    public void Dispose()
    {
        if (_connection.IsValueCreated && _connection.Value.IsCompletedSuccessfully)
        {
            _connection.Value.Result.Dispose();
        }
    }

    /// <summary>
    /// The key is part of the purpose, so an entry decrypts only under the key it was written to: whoever can
    /// write to Redis but not read the key ring cannot hand one client another client's token.
    /// </summary>
    private IDataProtector ProtectorFor(string key)
    {
        var cached = _keyProtector;
        if (cached is not null && string.Equals(cached.Key, key, StringComparison.Ordinal))
        {
            return cached.Protector;
        }

        var protector = _protector!.CreateProtector(key);
        _keyProtector = new KeyProtector(key, protector);
        return protector;
    }

    private RedisKey TokenKey(string key) => _options.KeyPrefix + "token:" + key;

    private RedisKey LeaseKey(string key) => _options.KeyPrefix + "lease:" + key;

    /// <summary>
    /// One command, connecting first if need be, bounded as a whole by <see cref="OdcRedisTokenCacheOptions.OperationTimeout"/>
    /// of real time (a Redis that does not answer does not wait for an application's clock).
    /// </summary>
    private Task<T> RunAsync<T>(Func<IDatabase, Task<T>> command, CancellationToken cancellationToken)
    {
        return Core().WaitAsync(_options.OperationTimeout, cancellationToken);

        async Task<T> Core() => await command((await _connection.Value.ConfigureAwait(false)).GetDatabase()).ConfigureAwait(false);
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

    private sealed record KeyProtector(string Key, IDataProtector Protector);
}
