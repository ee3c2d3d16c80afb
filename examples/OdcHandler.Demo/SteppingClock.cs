using System.Diagnostics;

namespace OdcHandler.Demo;

/// <summary>
/// Drives a <see cref="SteppingTimeProvider"/>: the virtual clock stands still while the program works and, once it is
/// stuck waiting, moves straight to the next timer that is due: a rate limiter's replenishment, a retry delay. <see cref="DemoClock"/> jumps as soon as a
/// timer is set, which suits polling but not a rate limiter: every request that waits also sets a timeout (the
/// limiter's MaxWait, 2 minutes), and jumping to it would count minutes nobody waited.
/// </summary>
internal static class SteppingClock
{
    /// <summary>
    /// Runs <paramref name="work"/> on <paramref name="clock"/>, moving time to the next due timer whenever
    /// <paramref name="isWaiting"/> holds and nothing has moved for a moment of real time: neither
    /// <paramref name="progress"/> nor the clock's timers.
    /// </summary>
    /// <param name="clock">The clock the work runs on.</param>
    /// <param name="work">What to run.</param>
    /// <param name="isWaiting">Whether the work has a request out (it may be waiting for time to pass).</param>
    /// <param name="progress">A count that grows as the work gets anywhere, such as requests that reached the server.</param>
    /// <returns>What <paramref name="work"/> returned.</returns>
    public static async Task<T> RunAsync<T>(this SteppingTimeProvider clock, Func<Task<T>> work, Func<bool> isWaiting, Func<long> progress)
    {
        var running = Task.Run(work);
        var last = -1L;
        var quiet = Stopwatch.StartNew();
        while (!running.IsCompleted)
        {
            await Task.WhenAny(running, Task.Delay(1)).ConfigureAwait(false);
            var now = progress() + clock.Activity;
            if (now != last || !isWaiting() || ThreadPool.PendingWorkItemCount != 0)
            {
                last = now;
                quiet.Restart();
                continue;
            }

            // Moving time while the work is merely busy (a retry policy about to set its delay, say) jumps past what
            // it was about to wait for: cheap to risk for the next second, not for a far timer (a token's expiry).
            // Early steps only ever make the run look slower, never faster than the limits allow.
            if (clock.NextDue() is { } due && quiet.Elapsed >= (due - clock.GetUtcNow() <= TimeSpan.FromSeconds(1) ? TimeSpan.FromMilliseconds(10) : TimeSpan.FromMilliseconds(100))
                && !running.IsCompleted)
            {
                var step = due - clock.GetUtcNow();
                clock.Inner.Advance(step > TimeSpan.Zero ? step : TimeSpan.Zero);
                quiet.Restart();
            }
        }

        return await running.ConfigureAwait(false);
    }
}
