using Microsoft.Extensions.Logging;

namespace OdcHandler.Internal;

/// <summary>
/// Takes a request's permits from the store the fleet shares (<see cref="IOdcRateLimitStore"/>), asking again when
/// the store says one can be free, for at most <see cref="OdcRateLimiter.MaxWait"/>. While the store fails, the
/// instance limits itself with its in-process limiter; one request asks the store again every
/// <see cref="RetryInterval"/>.
/// </summary>
/// <remarks>
/// Each permit taken from the store is also taken, without waiting, from the in-process limits, so that an instance
/// falling back knows what it sent in the last window and does not start with a full budget of its own.
/// </remarks>
internal sealed class FleetPermits(string clientName, IOdcRateLimitStore store, OdcRateLimiter limiter, TimeProvider time, ILogger logger)
{
    public static readonly TimeSpan RetryInterval = TimeSpan.FromSeconds(30);

    private readonly object _gate = new();
    private bool _down;
    private bool _probing;
    private DateTimeOffset _retryAt;

    public IOdcRateLimitStore Store => store;

    /// <summary>
    /// True when the store gave the permits; false when it cannot be used now (the caller takes local permits).
    /// </summary>
    /// <exception cref="OdcRateLimitExceededException">No permit within <see cref="OdcRateLimiter.MaxWait"/>.</exception>
    /// <param name="endpoint">The endpoint's cap, if it has one.</param>
    /// <param name="domain">The domain's pool, if it has one.</param>
    /// <param name="deadline">When the request's MaxWait ends; a local wait after this one ends there too.</param>
    /// <param name="cancellationToken">The caller's cancellation.</param>
    public async ValueTask<bool> TryAcquireAsync(RateLimit? endpoint, RateLimit? domain, DateTimeOffset deadline, CancellationToken cancellationToken)
    {
        (string Key, int Limit)[] limits = endpoint is null ? [(domain!.StoreKey, domain.PermitLimit)]
            : domain is null ? [(endpoint.StoreKey, endpoint.PermitLimit)]
            : [(endpoint.StoreKey, endpoint.PermitLimit), (domain.StoreKey, domain.PermitLimit)];

        // The in-process limiter's margin: a permit comes back one segment after the window, never sooner.
        var window = limiter.Window + (limiter.Window / RateLimit.SegmentsPerWindow);
        while (true)
        {
            if (!TryEnter(out var probe))
            {
                return false;
            }

            var now = time.GetUtcNow();
            TimeSpan wait;
            int refusedBy;
            try
            {
                (wait, refusedBy) = await store.TryAcquireAsync(limits, now, window, cancellationToken).ConfigureAwait(false);
            }
            catch (OperationCanceledException) when (cancellationToken.IsCancellationRequested)
            {
                // The caller gave up: says nothing about the store.
                if (probe)
                {
                    lock (_gate)
                    {
                        _probing = false;
                    }
                }

                throw;
            }
            catch (Exception exception)
            {
                Leave(probe, exception);
                return false;
            }

            Leave(probe, failure: null);
            if (wait <= TimeSpan.Zero)
            {
                endpoint?.TryTake();
                domain?.TryTake();
                return true;
            }

            now = time.GetUtcNow();
            if (now >= deadline)
            {
                // The limit the store says refused (limits are [endpoint, domain] when there are two).
                var limit = limits.Length == 2 && refusedBy == 1 ? domain! : endpoint ?? domain!;
                logger.RateLimitWaitExceeded(limit.Name, limit.PermitLimit, limit.Window, limiter.MaxWait);
                throw new OdcRateLimitExceededException(limit.Name, limit.PermitLimit, limit.Window, limiter.MaxWait);
            }

            await limiter.SleepAsync(wait < deadline - now ? wait : deadline - now, cancellationToken).ConfigureAwait(false);
        }
    }

    /// <summary>Up: everyone asks the store. Down: only one request at a time, once <see cref="RetryInterval"/> has passed.</summary>
    private bool TryEnter(out bool probe)
    {
        lock (_gate)
        {
            probe = false;
            if (!_down)
            {
                return true;
            }

            if (_probing || time.GetUtcNow() < _retryAt)
            {
                return false;
            }

            _probing = probe = true;
            return true;
        }
    }

    private void Leave(bool probe, Exception? failure)
    {
        bool wasDown;
        lock (_gate)
        {
            if (probe)
            {
                _probing = false;
            }

            wasDown = _down;
            if (failure is not null)
            {
                _down = true;
                _retryAt = time.GetUtcNow() + RetryInterval;
            }
            else
            {
                _down = false;
            }
        }

        // Logged on the change only: an outage is one warning, however many requests it touches.
        if (failure is not null && !wasDown)
        {
            logger.RateLimitStoreFailed(clientName, failure.GetType().Name, failure.Message, RetryInterval);
        }
        else if (failure is null && wasDown)
        {
            logger.RateLimitStoreRecovered(clientName);
        }
    }
}
