using Microsoft.Extensions.Time.Testing;

namespace OdcHandler.Demo;

/// <summary>
/// A virtual clock for the demo's long-running operations: whenever a timer is set, time jumps to it, so
/// polling a deployment at ODC's cadence (5 s, then 30 s) shows the real schedule without the wall-clock wait.
/// Only the polling and the fake's operations run on it; OdcHandler's tokens stay on the system clock.
/// </summary>
internal sealed class DemoClock : TimeProvider
{
    private readonly FakeTimeProvider _time = new(DateTimeOffset.UtcNow);

    public override DateTimeOffset GetUtcNow() => _time.GetUtcNow();

    public override long GetTimestamp() => _time.GetTimestamp();

    public override long TimestampFrequency => _time.TimestampFrequency;

    public override ITimer CreateTimer(TimerCallback callback, object? state, TimeSpan dueTime, TimeSpan period)
    {
        var timer = _time.CreateTimer(callback, state, dueTime, period);
        if (dueTime > TimeSpan.Zero && dueTime != Timeout.InfiniteTimeSpan)
        {
            // Jump after CreateTimer has returned, so the caller holds its timer before it fires.
            ThreadPool.QueueUserWorkItem(_ => _time.Advance(dueTime));
        }

        return timer;
    }
}
