namespace OdcHandler.Internal;

/// <summary>
/// A token store shared by the instances of an application (Redis), so a fleet fetches one token instead
/// of one per instance. Implemented by OdcHandler.Redis; the manager never calls it on the hot path.
/// </summary>
internal interface ISharedTokenStore
{
    /// <summary>How long a caller waits for another instance's fetch before fetching itself.</summary>
    TimeSpan LeaseWait { get; }

    /// <summary>How often a waiting caller looks for the token another instance is fetching.</summary>
    TimeSpan PollInterval { get; }

    /// <summary>
    /// The token another instance stored, or <see langword="null"/> if none or it cannot be read. Its expiry is
    /// on this instance's clock (the injected <see cref="TimeProvider"/>), whatever the writer's clock said.
    /// </summary>
    Task<SharedToken?> ReadAsync(string key, CancellationToken cancellationToken);

    /// <summary>Stores a token until it expires (its expiry is on this instance's clock, the injected <see cref="TimeProvider"/>).</summary>
    Task WriteAsync(string key, SharedToken token, CancellationToken cancellationToken);

    /// <summary>Takes the short lease that makes this instance the one to call the token endpoint; <see langword="false"/> if another holds it.</summary>
    Task<bool> TryTakeLeaseAsync(string key, string owner, CancellationToken cancellationToken);

    /// <summary>Gives the lease back if this owner still holds it.</summary>
    Task ReleaseLeaseAsync(string key, string owner, CancellationToken cancellationToken);
}
