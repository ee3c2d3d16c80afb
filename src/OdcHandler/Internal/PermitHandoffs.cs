using System.Collections.Concurrent;

namespace OdcHandler.Internal;

/// <summary>
/// The permits that were waited for and granted, but whose request has not been handed to the network yet.
/// </summary>
/// <remarks>
/// A window limiter counts a permit at the moment it is granted; the server counts the request when it arrives. A
/// granted waiter runs again on the thread pool, a little later. On a real clock that is microseconds of a one-second
/// segment. A fake clock, though, fires a minute of replenishment ticks back to back in one <c>Advance</c>: permits
/// granted at the first tick would reach the server with those of the last, inside one of its windows. So the window
/// does not move on while a granted request has not left: <see cref="OdcRateLimiter"/> skips a replenishment tick
/// (it only errs on the safe side, one segment later) until every such request has been sent. Only waiting requests
/// are tracked; a request that found its permits free costs nothing here.
/// </remarks>
internal sealed class PermitHandoffs
{
    private readonly ConcurrentDictionary<Task, byte> _waiting = new(ReferenceEqualityComparer.Instance);

    public void Begin(Task waiting) => _waiting.TryAdd(waiting, 0);

    public void End(Task? waiting)
    {
        if (waiting is not null)
        {
            _waiting.TryRemove(waiting, out _);
        }
    }

    /// <summary>Whether a wait has ended (granted, or cancelled) while its request has not yet gone on.</summary>
    public bool AnyPending()
    {
        if (_waiting.IsEmpty)
        {
            return false;
        }

        foreach (var entry in _waiting)
        {
            if (entry.Key.IsCompleted)
            {
                return true;
            }
        }

        return false;
    }
}
