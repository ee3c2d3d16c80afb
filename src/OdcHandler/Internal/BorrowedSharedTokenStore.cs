namespace OdcHandler.Internal;

/// <summary>
/// One organisation's view of the store all organisations of a client share: a token manager disposes its store when it
/// is let go, and one evicted organisation must not close the connection of the thousand others. Keys already differ per
/// organisation (they are derived from each one's discovery address, client id and secret).
/// </summary>
internal sealed class BorrowedSharedTokenStore(IOdcSharedTokenStore store) : IOdcSharedTokenStore
{
    public TimeSpan LeaseWait => store.LeaseWait;

    public TimeSpan PollInterval => store.PollInterval;

    public Task<OdcSharedToken?> ReadAsync(string key, CancellationToken cancellationToken) => store.ReadAsync(key, cancellationToken);

    public Task WriteAsync(string key, OdcSharedToken token, CancellationToken cancellationToken) => store.WriteAsync(key, token, cancellationToken);

    public Task<bool> TryTakeLeaseAsync(string key, string owner, CancellationToken cancellationToken) => store.TryTakeLeaseAsync(key, owner, cancellationToken);

    public Task ReleaseLeaseAsync(string key, string owner, CancellationToken cancellationToken) => store.ReleaseLeaseAsync(key, owner, cancellationToken);
}
