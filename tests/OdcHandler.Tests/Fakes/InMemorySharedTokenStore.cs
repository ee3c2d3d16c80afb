using System.Collections.Concurrent;

namespace OdcHandler.Tests.Fakes;

/// <summary>
/// What Redis does for a fleet, in memory and on fake time: entries that expire, and a set-if-absent lease.
/// Written against the public <see cref="IOdcSharedTokenStore"/> only, as a SQL Server or NCache store would be.
/// </summary>
public sealed class InMemorySharedTokenStore(TimeProvider time, TimeSpan leaseWait) : IOdcSharedTokenStore
{
    private readonly ConcurrentDictionary<string, OdcSharedToken> _tokens = new();
    private readonly ConcurrentDictionary<string, (string Owner, DateTimeOffset Until)> _leases = new();
    private readonly object _leaseGate = new();

    public int Writes { get; private set; }

    public TimeSpan LeaseWait => leaseWait;

    public TimeSpan PollInterval => TimeSpan.FromMilliseconds(100);

    public Task<OdcSharedToken?> ReadAsync(string key, CancellationToken cancellationToken) =>
        Task.FromResult(_tokens.TryGetValue(key, out var token) && token.ExpiresAt > time.GetUtcNow() ? token : null);

    public Task WriteAsync(string key, OdcSharedToken token, CancellationToken cancellationToken)
    {
        _tokens[key] = token;
        Writes++;
        return Task.CompletedTask;
    }

    public Task<bool> TryTakeLeaseAsync(string key, string owner, CancellationToken cancellationToken)
    {
        lock (_leaseGate)
        {
            var now = time.GetUtcNow();
            if (_leases.TryGetValue(key, out var lease) && lease.Until > now)
            {
                return Task.FromResult(false);
            }

            _leases[key] = (owner, now + TimeSpan.FromSeconds(10));
            return Task.FromResult(true);
        }
    }

    public Task ReleaseLeaseAsync(string key, string owner, CancellationToken cancellationToken)
    {
        lock (_leaseGate)
        {
            if (_leases.TryGetValue(key, out var lease) && lease.Owner == owner)
            {
                _leases.TryRemove(key, out _);
            }
        }

        return Task.CompletedTask;
    }
}
