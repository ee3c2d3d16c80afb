using Microsoft.Extensions.Time.Testing;

namespace OdcHandler.Demo;

/// <summary>
/// Wraps a <see cref="FakeTimeProvider"/> and remembers when each of its timers is next due, so time can move straight
/// to the next thing that waits for it (a rate limiter's replenishment, a retry delay) instead of in small steps.
/// </summary>
/// <remarks>Shared by the demo (<see cref="SteppingClock"/>) and the rate-limit measurement tests, which link this file.</remarks>
internal sealed class SteppingTimeProvider(FakeTimeProvider inner) : TimeProvider
{
    private readonly object _gate = new();
    private readonly HashSet<Timer> _timers = [];
    private long _activity;

    public FakeTimeProvider Inner => inner;

    /// <summary>Grows whenever a timer is set, changed or disposed: something is still arranging to wait.</summary>
    public long Activity => Volatile.Read(ref _activity);

    public override DateTimeOffset GetUtcNow() => inner.GetUtcNow();

    public override long GetTimestamp() => inner.GetTimestamp();

    public override long TimestampFrequency => inner.TimestampFrequency;

    public override TimeZoneInfo LocalTimeZone => inner.LocalTimeZone;

    public override ITimer CreateTimer(TimerCallback callback, object? state, TimeSpan dueTime, TimeSpan period)
    {
        var timer = new Timer(this);
        timer.Inner = inner.CreateTimer(s => { timer.Fired(); callback(s); }, state, Timeout.InfiniteTimeSpan, Timeout.InfiniteTimeSpan);
        timer.Change(dueTime, period);
        return timer;
    }

    /// <summary>The earliest time a live timer fires, or null when none is armed.</summary>
    public DateTimeOffset? NextDue()
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

    /// <summary>Moves fake time to the next due timer (at most <paramref name="max"/> ahead, at least 1 ms).</summary>
    public void AdvanceToNext(TimeSpan max)
    {
        var now = inner.GetUtcNow();
        var step = NextDue() is { } due ? due - now : max;
        inner.Advance(step < TimeSpan.FromMilliseconds(1) ? TimeSpan.FromMilliseconds(1) : step > max ? max : step);
    }

    /// <summary>A timer that remembers when it is next due.</summary>
    private sealed class Timer(SteppingTimeProvider owner) : ITimer
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
