namespace OdcHandler.Redis;

/// <summary>Settings of the Redis token cache that the instances of an application share.</summary>
/// <remarks>
/// The instances' clocks need not agree, with each other or with Redis: a token's expiry is stored as the key's
/// time to live (<c>PX</c>, set from the writer's <see cref="TimeProvider"/>) and read back as Redis's remaining
/// time to live (<c>PTTL</c>, read with the value in one script) added to the reader's own clock. Only Redis's
/// clock counts down, so any skew between instances is tolerated (tested at 30 seconds ahead and behind); the
/// remaining error is the duration of one read, and it always makes the token look shorter-lived, never longer.
/// </remarks>
public sealed class OdcRedisTokenCacheOptions
{
    /// <summary>The StackExchange.Redis configuration string, for example <c>redis.internal:6379,password=…</c>. Required.</summary>
    public string? Configuration { get; set; }

    /// <summary>The prefix of every key OdcHandler writes. By default, <c>odchandler:</c>.</summary>
    public string KeyPrefix { get; set; } = "odchandler:";

    /// <summary>
    /// How long one instance may hold the lease that makes it the one to call the token endpoint. By default,
    /// 10 seconds: longer than a token request takes, short enough that a crashed holder is soon replaced.
    /// </summary>
    public TimeSpan LeaseDuration { get; set; } = TimeSpan.FromSeconds(10);

    /// <summary>
    /// How long an instance waits for the lease holder's token before fetching one itself. By default, 5 seconds.
    /// </summary>
    public TimeSpan LeaseWait { get; set; } = TimeSpan.FromSeconds(5);

    /// <summary>The longest one Redis command may take before it is given up (and the instance goes on without Redis). By default, 1 second.</summary>
    public TimeSpan OperationTimeout { get; set; } = TimeSpan.FromSeconds(1);

    /// <summary>
    /// Whether tokens may be stored in clear when no <c>IDataProtectionProvider</c> is registered. By default,
    /// <see langword="false"/>: anyone who can read Redis could otherwise call ODC as this client.
    /// </summary>
    public bool AllowUnprotectedTokens { get; set; }

    /// <summary>Describes the settings without the Redis configuration string, which may hold a password.</summary>
    /// <returns>A description.</returns>
    public override string ToString() =>
        $"OdcRedisTokenCacheOptions {{ Configuration = {(string.IsNullOrEmpty(Configuration) ? "(not set)" : "***")}, KeyPrefix = {KeyPrefix}, LeaseDuration = {LeaseDuration}, LeaseWait = {LeaseWait} }}";
}
