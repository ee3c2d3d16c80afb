namespace OdcHandler;

/// <summary>
/// A token store that the instances of an application share (Redis, SQL Server, NCache…), so that a fleet
/// fetches one access token per token lifetime instead of one per instance. Registered for a client with
/// <c>UseSharedTokenStore</c>; <c>OdcHandler.Redis</c> implements it for Redis.
/// </summary>
/// <remarks>
/// <para>
/// The store is asked only when an instance has no usable token in memory (missing, due for refresh or
/// expired), never on the path of a request that has one. The instance first reads the store; if nothing
/// usable is there it takes a short lease, reads once more, asks the identity service, writes the token and
/// releases the lease. An instance that finds the lease held polls <see cref="ReadAsync"/> every
/// <see cref="PollInterval"/> for at most <see cref="LeaseWait"/>, then asks the identity service itself.
/// </para>
/// <para>
/// Failures: a method that cannot do its work (store down, timed out, refused) throws. The exception is logged
/// as a warning and never fails a request: the instance asks the identity service at once and makes no
/// further call to the store for that token (a lease it took must expire by itself). Every call should
/// therefore be bounded in time, since a request may be waiting for the token. Content that is present but
/// unusable (garbage, written with another key, not decryptable) is not a failure: <see cref="ReadAsync"/>
/// returns <see langword="null"/> and the entry is overwritten.
/// </para>
/// <para>
/// Keys: <c>key</c> is an opaque, stable name for one set of credentials (a lowercase hex SHA-256 of the
/// discovery endpoint, client id, credential style and a fingerprint of the secret); it contains nothing of
/// the client id or secret. Entries hold bearer tokens: encrypt them at rest, and bind each entry to its key
/// (for example, make the key part of the encryption's associated data) so that an entry copied under another
/// key is not accepted there.
/// </para>
/// <para>
/// Time: <see cref="OdcSharedToken.ExpiresAt"/> is on the calling instance's clock (the
/// <see cref="TimeProvider"/> registered in its container). Instances' clocks can disagree; a store shared by
/// several machines should carry expiry as a remaining time to live kept by the store itself, as the Redis
/// store does, rather than as a point in time.
/// </para>
/// <para>
/// The factory given to <c>UseSharedTokenStore</c> is called once per set of credentials; a store that
/// implements <see cref="IDisposable"/> is disposed with the token cache that uses it.
/// </para>
/// </remarks>
public interface IOdcSharedTokenStore
{
    /// <summary>
    /// How long an instance that finds the lease held waits for the holder's token before asking the identity
    /// service itself; <see cref="TimeSpan.Zero"/> never waits. This bounds the delay a crashed holder causes.
    /// </summary>
    TimeSpan LeaseWait { get; }

    /// <summary>How often a waiting instance reads the store for the holder's token. Positive.</summary>
    TimeSpan PollInterval { get; }

    /// <summary>Reads the token stored under <paramref name="key"/>.</summary>
    /// <param name="key">The opaque name of the credentials.</param>
    /// <param name="cancellationToken">Cancelled when the application shuts down.</param>
    /// <returns>
    /// The stored token, with its expiry on this instance's clock; or <see langword="null"/> when nothing is
    /// stored, the entry has expired or it cannot be used (garbage, another key, another key ring).
    /// </returns>
    /// <exception cref="Exception">Any exception when the store cannot be read.</exception>
    Task<OdcSharedToken?> ReadAsync(string key, CancellationToken cancellationToken);

    /// <summary>Stores <paramref name="token"/> under <paramref name="key"/>, replacing what is there, until the token expires.</summary>
    /// <param name="key">The opaque name of the credentials.</param>
    /// <param name="token">The token, with its expiry on this instance's clock.</param>
    /// <param name="cancellationToken">Cancelled when the application shuts down.</param>
    /// <returns>A task that completes when the token is stored.</returns>
    /// <exception cref="Exception">Any exception when the store cannot be written.</exception>
    Task WriteAsync(string key, OdcSharedToken token, CancellationToken cancellationToken);

    /// <summary>
    /// Takes the lease of <paramref name="key"/> for <paramref name="owner"/> if no one holds it (atomically, like
    /// Redis's <c>SET NX PX</c>). The lease must expire by itself after a short time (Redis: 10 seconds), longer than
    /// a token request takes, so that a holder that crashed is soon replaced.
    /// </summary>
    /// <param name="key">The opaque name of the credentials.</param>
    /// <param name="owner">A unique value for this attempt.</param>
    /// <param name="cancellationToken">Cancelled when the application shuts down.</param>
    /// <returns>
    /// <see langword="true"/> if <paramref name="owner"/> now holds the lease; <see langword="false"/> only when
    /// another owner holds it. Never <see langword="false"/> for a failure: throw instead, so that the instance
    /// asks the identity service at once rather than waiting <see cref="LeaseWait"/> for a holder that does not exist.
    /// </returns>
    /// <exception cref="Exception">Any exception when the store cannot answer.</exception>
    Task<bool> TryTakeLeaseAsync(string key, string owner, CancellationToken cancellationToken);

    /// <summary>Gives the lease of <paramref name="key"/> back if <paramref name="owner"/> still holds it; otherwise does nothing.</summary>
    /// <param name="key">The opaque name of the credentials.</param>
    /// <param name="owner">The value given to <see cref="TryTakeLeaseAsync"/>.</param>
    /// <param name="cancellationToken">Not cancelled: a lease is given back even during shutdown.</param>
    /// <returns>A task that completes when the lease is released.</returns>
    /// <exception cref="Exception">Any exception when the store cannot answer.</exception>
    Task ReleaseLeaseAsync(string key, string owner, CancellationToken cancellationToken);
}
