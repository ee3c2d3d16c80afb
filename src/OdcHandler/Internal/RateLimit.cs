using System.Threading.RateLimiting;

namespace OdcHandler.Internal;

/// <summary>
/// One of ODC's limits (a domain's pool or an endpoint's cap) for one host: never more than
/// <see cref="PermitLimit"/> permits handed out in any <see cref="Window"/>.
/// </summary>
/// <remarks>
/// A <see cref="SlidingWindowRateLimiter"/> counts a permit in the segment it was taken in and hands it back when
/// that segment leaves the window, so a permit taken late in a segment could come back up to one segment less than a
/// window after it was used. The limiter's window is therefore one segment longer than ODC's: a permit comes back no
/// sooner than <see cref="Window"/> after it was taken, at a cost of at most one segment (1/60) of throughput.
/// Replenishment is not the limiter's own timer (which runs on the wall clock; System.Threading.RateLimiting takes no
/// TimeProvider, dotnet/runtime#106447) but <see cref="OdcRateLimiter"/>'s, one segment per tick, on the injected
/// <see cref="TimeProvider"/>.
/// </remarks>
internal sealed class RateLimit
{
    public const int SegmentsPerWindow = 60;

    /// <summary>Waiting requests beyond this many fail at once rather than queue without bound.</summary>
    private const int MaxQueued = 1_000_000;

    private int _held;

    public RateLimit(string name, int permitLimit, TimeSpan window, string storeKey)
    {
        Name = name;
        StoreKey = storeKey;
        PermitLimit = permitLimit;
        Window = window;
        Limiter = new SlidingWindowRateLimiter(new SlidingWindowRateLimiterOptions
        {
            PermitLimit = permitLimit,
            // TryReplenish ignores a call that comes sooner than Window / SegmentsPerWindow after the last one, measured
            // on the wall clock (Stopwatch), even without auto-replenishment; with fake time that would ignore every call.
            // The limiter's own window is therefore a single tick; the real one is the segment count times our timer's period.
            Window = TimeSpan.FromTicks(1),
            SegmentsPerWindow = SegmentsPerWindow + 1,
            AutoReplenishment = false,
            QueueLimit = MaxQueued,
            QueueProcessingOrder = QueueProcessingOrder.OldestFirst,
        });
    }

    /// <summary>The limit's name in exceptions, logs and metric tags: the domain, or the method and endpoint path.</summary>
    public string Name { get; }

    /// <summary>The limit's key in a store the fleet shares: <c>{host}:{port}/{name}</c>, one budget per organisation and limit.</summary>
    public string StoreKey { get; }

    public int PermitLimit { get; }

    public TimeSpan Window { get; }

    public SlidingWindowRateLimiter Limiter { get; }

    /// <summary>Takes a permit if one is free and nobody is queued before us; the window limiters' leases are cached, so this allocates nothing.</summary>
    public bool TryTake()
    {
        using var lease = Limiter.AttemptAcquire(1);
        return lease.IsAcquired;
    }

    /// <summary>
    /// Waits in line for a permit; false when the line is full. A permit that had to be waited for comes with a
    /// <paramref name="handoffs"/> entry (the returned task) that the caller must end once the request has been handed
    /// to the network (<see cref="PermitHandoffs.End"/>): until then the window does not move on.
    /// </summary>
    public async ValueTask<(bool Acquired, Task? Handoff)> WaitAsync(PermitHandoffs handoffs, CancellationToken cancellationToken)
    {
        var acquiring = Limiter.AcquireAsync(1, cancellationToken);
        if (acquiring.IsCompleted)
        {
            using var ready = acquiring.Result;
            return (ready.IsAcquired, null);
        }

        var waiting = acquiring.AsTask();
        handoffs.Begin(waiting);
        try
        {
            using var lease = await waiting.ConfigureAwait(false);
            if (lease.IsAcquired)
            {
                return (true, waiting);
            }
        }
        catch
        {
            handoffs.End(waiting);
            throw;
        }

        handoffs.End(waiting);
        return (false, null);
    }

    /// <summary>
    /// After a 429 the organisation's budget is spent whatever we counted: take every free permit, so the requests
    /// behind this one wait for the window to move on instead of collecting 429s too.
    /// </summary>
    public void Drain()
    {
        var free = Limiter.GetStatistics()?.CurrentAvailablePermits ?? 0;
        if (free > 0)
        {
            Limiter.AttemptAcquire((int)Math.Min(free, PermitLimit)).Dispose();
        }
    }

    public long Queued => Limiter.GetStatistics()?.CurrentQueuedCount ?? 0;

    /// <summary>
    /// Whether a request holds one of this limit's permits while it waits for its other limit (an endpoint's permit
    /// while its domain's pool is spent). The permit was counted when taken, but the request leaves only later: this
    /// limit's window must not move on meanwhile, or the permit would come back before the request it counted has left.
    /// </summary>
    public bool IsHeld => Volatile.Read(ref _held) > 0;

    public void Hold() => Interlocked.Increment(ref _held);

    public void Unhold() => Interlocked.Decrement(ref _held);
}
