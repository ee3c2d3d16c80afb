namespace OdcHandler;

/// <summary>
/// Permits that the instances of an application take from one shared budget (Redis, SQL Server…), so that a
/// fleet together stays within ODC's rate limits instead of each instance on its own. Registered for a client with
/// <c>UseRateLimitStore</c>; <c>OdcHandler.Redis</c> implements it for Redis (<c>UseRedisRateLimits</c>).
/// </summary>
/// <remarks>
/// <para>
/// Semantics: never more than a limit's count of permits taken under its key in any <c>window</c>. A request takes
/// one permit from each limit it counts against (its API domain's pool and, for some endpoints, the endpoint's cap)
/// together, atomically: either all are taken or none is, so a refused attempt consumes nothing.
/// </para>
/// <para>
/// Time: <c>now</c> comes from the calling instance's <see cref="TimeProvider"/>, so the instances' clocks must
/// agree closely (NTP): an instance whose clock is ahead by <em>s</em> sees permits leave the window <em>s</em>
/// early. OdcHandler passes a window one sixtieth longer than <see cref="OdcRateLimitOptions.Window"/> (61 s for
/// 60 s), the same margin its in-process limiter keeps, which also covers the time between taking a permit and the
/// request reaching ODC.
/// </para>
/// <para>
/// Failures: throw when the store cannot answer (down, timed out), and bound every call in time. The failure is
/// logged once as a warning and the instance falls back to its in-process limiter, asking the store again every
/// 30 seconds (on its <see cref="TimeProvider"/>) until it answers; never a failed request because of the store.
/// </para>
/// <para>
/// Keys: <c>{host}:{port}/{limit}</c> in lower case, for example <c>myorg.outsystems.dev:443/identity</c> or
/// <c>myorg.outsystems.dev:443/post deployments/v1/deployment-operations</c>: one budget per ODC organisation and
/// limit, shared by every HttpClient name and instance that uses the store. A store that implements
/// <see cref="IDisposable"/> is disposed with the limiters.
/// </para>
/// </remarks>
public interface IOdcRateLimitStore
{
    /// <summary>Takes one permit from every limit in <paramref name="limits"/>, or none if any of them has none free.</summary>
    /// <param name="limits">The limits the request counts against: each a key and the most permits in any window. Never empty.</param>
    /// <param name="now">The calling instance's time, from its <see cref="TimeProvider"/>.</param>
    /// <param name="window">The span in which no more than each limit may be taken.</param>
    /// <param name="cancellationToken">The request's cancellation.</param>
    /// <returns>
    /// <c>Wait</c>: <see cref="TimeSpan.Zero"/> when the permits were taken; otherwise, with nothing taken, how long from
    /// <paramref name="now"/> until every refusing limit can have a permit free again (the caller asks again then).
    /// <c>RefusedBy</c>, when something was refused: the index in <paramref name="limits"/> of the refusing limit whose
    /// permit comes free last, which the request's <see cref="OdcRateLimitExceededException"/> names if it waits no
    /// longer; ignored when the permits were taken.
    /// </returns>
    ValueTask<(TimeSpan Wait, int RefusedBy)> TryAcquireAsync(IReadOnlyList<(string Key, int Limit)> limits, DateTimeOffset now, TimeSpan window, CancellationToken cancellationToken);
}
