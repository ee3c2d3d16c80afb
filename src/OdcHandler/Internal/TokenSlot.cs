namespace OdcHandler.Internal;

/// <summary>
/// A cached token with its phase (fresh, refresh due, expired), moved on by a timer from the injected
/// <see cref="TimeProvider"/> rather than by reading the clock on every request.
/// </summary>
/// <remarks>
/// Reading the time costs about 30 ns on Linux, as much as everything else the handler does per request;
/// a volatile read of the phase costs nothing. The timer re-reads the clock when it fires and re-arms
/// itself if it fired early, so a phase is never entered before its moment. A timer that fires late (a
/// starved thread pool) only lets a token be used a little past its expiry, which the 401 retry covers;
/// everything that waits for a token still decides by the clock.
/// </remarks>
internal sealed class TokenSlot : IDisposable
{
    public const int Fresh = 0;
    public const int RefreshDue = 1;
    public const int Expired = 2;

    /// <summary>System timers take at most about 49 days; a longer wait is re-armed when it fires.</summary>
    private static readonly TimeSpan s_longestTimer = TimeSpan.FromDays(30);

    /// <summary>How soon the phase is looked at again when the clock failed.</summary>
    private static readonly TimeSpan s_clockRetry = TimeSpan.FromSeconds(1);

    private readonly TimeProvider _timeProvider;
    private readonly ITimer _timer;
    private volatile int _phase;

    public TokenSlot(OdcAccessToken token, TimeProvider timeProvider)
    {
        Token = token;
        _timeProvider = timeProvider;
        _timer = timeProvider.CreateTimer(static state => ((TokenSlot)state!).Update(), this, Timeout.InfiniteTimeSpan, Timeout.InfiniteTimeSpan);
        Update();
    }

    public OdcAccessToken Token { get; }

    public int Phase => _phase;

    public void Dispose() => _timer.Dispose();

    private void Update()
    {
        DateTimeOffset now;
        try
        {
            now = _timeProvider.GetUtcNow();
        }
        catch (Exception)
        {
            // The application's clock failed: an exception here would be lost on a timer thread (or end the
            // process) and the phase would never move on, serving the token past its expiry. Look again soon.
            Arm(s_clockRetry);
            return;
        }

        int phase;
        TimeSpan untilNext;
        if (now >= Token.ExpiresAt)
        {
            phase = Expired;
            untilNext = Timeout.InfiniteTimeSpan;
        }
        else if (now >= Token.RefreshAt)
        {
            phase = RefreshDue;
            untilNext = Token.ExpiresAt - now;
        }
        else
        {
            phase = Fresh;
            untilNext = Token.RefreshAt - now;
        }

        // Phases only move forward, whatever order timer callbacks run in.
        if (phase > _phase)
        {
            _phase = phase;
        }

        if (untilNext != Timeout.InfiniteTimeSpan)
        {
            Arm(untilNext < s_longestTimer ? untilNext : s_longestTimer);
        }
    }

    private void Arm(TimeSpan dueTime)
    {
        try
        {
            _timer.Change(dueTime, Timeout.InfiniteTimeSpan);
        }
        catch (ObjectDisposedException)
        {
            // The token was replaced while this callback ran; its phase no longer matters.
        }
    }
}
