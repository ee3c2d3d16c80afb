using System.Diagnostics;
using Microsoft.Extensions.Time.Testing;

namespace OdcHandler.Demo;

/// <summary>
/// A virtual clock that stands still while the program works and, once it is stuck waiting, moves straight to the
/// next timer that is due: a rate limiter's replenishment, a retry delay. <see cref="DemoClock"/> jumps as soon as a
/// timer is set, which suits polling but not a rate limiter: every request that waits also sets a timeout (the
/// limiter's MaxWait, 2 minutes), and jumping to it would count minutes nobody waited.
/// </summary>
internal sealed class SteppingClock : TimeProvider
{
    private readonly FakeTimeProvider _time = new(DateTimeOffset.UtcNow);
    private readonly object _gate = new();
    private readonly HashSet<Timer> _timers = [];
    private long _activity;

    public override DateTimeOffset GetUtcNow() => _time.GetUtcNow();

    public override long GetTimestamp() => _time.GetTimestamp();

    public override long TimestampFrequency => _time.TimestampFrequency;

    public override ITimer CreateTimer(TimerCallback callback, object? state, TimeSpan dueTime, TimeSpan period)
    {
        var timer = new Timer(this);
        timer.Inner = _time.CreateTimer(s => { timer.Fired(); callback(s); }, state, Timeout.InfiniteTimeSpan, Timeout.InfiniteTimeSpan);
        timer.Change(dueTime, period);
        return timer;
    }

    /// <summary>
    /// Runs <paramref name="work"/>, moving time to the next due timer whenever <paramref name="isWaiting"/> holds and
    /// nothing has moved for a moment of real time: neither <paramref name="progress"/> nor this clock's timers.
    /// </summary>
    /// <param name="work">What to run.</param>
    /// <param name="isWaiting">Whether the work has a request out (it may be waiting for time to pass).</param>
    /// <param name="progress">A count that grows as the work gets anywhere, such as requests that reached the server.</param>
    /// <returns>What <paramref name="work"/> returned.</returns>
    public async Task<T> RunAsync<T>(Func<Task<T>> work, Func<bool> isWaiting, Func<long> progress)
    {
        var running = Task.Run(work);
        var last = -1L;
        var quiet = Stopwatch.StartNew();
        while (!running.IsCompleted)
        {
            await Task.WhenAny(running, Task.Delay(1)).ConfigureAwait(false);
            var now = progress() + Volatile.Read(ref _activity);
            if (now != last || !isWaiting() || ThreadPool.PendingWorkItemCount != 0)
            {
                last = now;
                quiet.Restart();
                continue;
            }

            // Moving time while the work is merely busy (a retry policy about to set its delay, say) jumps past what
            // it was about to wait for: cheap to risk for the next second, not for a far timer (a token's expiry).
            // Early steps only ever make the run look slower, never faster than the limits allow.
            if (NextDue() is { } due && quiet.Elapsed >= (due - GetUtcNow() <= TimeSpan.FromSeconds(1) ? TimeSpan.FromMilliseconds(10) : TimeSpan.FromMilliseconds(100))
                && !running.IsCompleted)
            {
                var step = due - GetUtcNow();
                _time.Advance(step > TimeSpan.Zero ? step : TimeSpan.Zero);
                quiet.Restart();
            }
        }

        return await running.ConfigureAwait(false);
    }

    private DateTimeOffset? NextDue()
    {
        lock (_gate)
        {
            DateTimeOffset? next = null;
            foreach (var timer in _timers)
            {
                if (timer.Due is { } due && (next is null || due < next))
                {
                    next = due;
                }
            }

            return next;
        }
    }

    /// <summary>A timer that remembers when it is next due.</summary>
    private sealed class Timer(SteppingClock owner) : ITimer
    {
        private TimeSpan _period = Timeout.InfiniteTimeSpan;

        public ITimer Inner { get; set; } = null!;

        public DateTimeOffset? Due { get; private set; }

        public bool Change(TimeSpan dueTime, TimeSpan period)
        {
            Interlocked.Increment(ref owner._activity);
            lock (owner._gate)
            {
                _period = period;
                Due = dueTime == Timeout.InfiniteTimeSpan ? null : owner.GetUtcNow() + dueTime;
                if (Due is null)
                {
                    owner._timers.Remove(this);
                }
                else
                {
                    owner._timers.Add(this);
                }
            }

            return Inner.Change(dueTime, period);
        }

        public void Fired()
        {
            lock (owner._gate)
            {
                Due = _period == Timeout.InfiniteTimeSpan || _period == TimeSpan.Zero ? null : owner.GetUtcNow() + _period;
                if (Due is null)
                {
                    owner._timers.Remove(this);
                }
            }
        }

        public void Dispose()
        {
            Interlocked.Increment(ref owner._activity);
            lock (owner._gate)
            {
                owner._timers.Remove(this);
            }

            Inner.Dispose();
        }

        public ValueTask DisposeAsync()
        {
            Dispose();
            return ValueTask.CompletedTask;
        }
    }
}
