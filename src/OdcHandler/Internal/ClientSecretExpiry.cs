using Microsoft.Extensions.Logging;

namespace OdcHandler.Internal;

/// <summary>
/// The life of one client name's secret, from <see cref="OdcAuthenticationOptions.ClientSecretExpiresAt"/>: what the
/// health check and the gauge report, and a warning once a day from <see cref="ReminderPeriod"/> before it expires.
/// </summary>
/// <remarks>
/// Per client name rather than per token manager: the date is a setting of the client, and a reload that changes only
/// the date keeps the manager (and its token). The provider feeds it every options instance the client's binding takes,
/// so a reload with a new secret and date moves the report, the warnings and the gauge at once, request or not.
/// </remarks>
internal sealed class ClientSecretExpiry : IDisposable
{
    /// <summary>How long before expiry the ODC Portal starts reminding; the health check and the warnings follow it.</summary>
    public static readonly TimeSpan ReminderPeriod = TimeSpan.FromDays(14);

    private static readonly TimeSpan s_warningInterval = TimeSpan.FromDays(1);

    // The longest a timer waits in one go; a date further away re-arms it then (ITimer accepts at most ~49 days).
    private static readonly TimeSpan s_longestTimer = TimeSpan.FromDays(30);

    private static readonly TimeOnly s_expiryTime = new(23, 59);

    private readonly string _clientName;
    private readonly TimeProvider _timeProvider;
    private readonly ILogger _logger;
    private ITimer? _timer;
    private readonly object _gate = new();
    private volatile SecretLife? _current;
    private SecretLife? _warnedFor;
    private DateTimeOffset _warnedAt;
    private bool _disposed;

    public ClientSecretExpiry(string clientName, TimeProvider timeProvider, ILogger logger)
    {
        _clientName = clientName;
        _timeProvider = timeProvider;
        _logger = logger;
    }

    public string ClientName => _clientName;

    /// <summary>The secret's life under the options last followed; <see langword="null"/> when no date is configured.</summary>
    public SecretLife? Current => _current;

    public TimeProvider TimeProvider => _timeProvider;

    /// <summary>23:59 UTC on the configured day, or <see langword="null"/> when none is configured.</summary>
    public static DateTimeOffset? ExpiresAtOf(OdcAuthenticationOptions options) =>
        options.ClientSecretExpiresAt is { } date ? new DateTimeOffset(date.ToDateTime(s_expiryTime), TimeSpan.Zero) : null;

    /// <summary>Takes the options the client now uses: reports, warnings and the gauge follow them from now on.</summary>
    public void Follow(OdcAuthenticationOptions options)
    {
        var next = options.ClientSecretExpiresAt is { } date && ExpiresAtOf(options) is { } expiresAt
            ? new SecretLife(options.ClientId ?? string.Empty, date, expiresAt)
            : null;
        SecretLife? warn;
        DateTimeOffset now;
        lock (_gate)
        {
            if (_disposed || (next is null && _current is null))
            {
                return;
            }

            _current = next;
            if (!TryArm(out now, out warn))
            {
                return;
            }
        }

        Warn(warn, now);
    }

    public void Dispose()
    {
        lock (_gate)
        {
            _disposed = true;
            _current = null;
        }

        _timer?.Dispose();
    }

    private void OnTimer()
    {
        SecretLife? warn;
        DateTimeOffset now;
        lock (_gate)
        {
            if (_disposed || !TryArm(out now, out warn))
            {
                return;
            }
        }

        Warn(warn, now);
    }

    /// <summary>
    /// Arms the timer from the clock; an application's <see cref="System.TimeProvider"/> that throws only costs a
    /// reminder (the next reload or health check still reports the date), never the caller that fed the options.
    /// </summary>
    private bool TryArm(out DateTimeOffset now, out SecretLife? warn)
    {
        try
        {
            now = _timeProvider.GetUtcNow();
            warn = Arm(now);
            return true;
        }
#pragma warning disable CA1031 // Whatever the application's clock throws, the options are followed.
        catch (Exception)
#pragma warning restore CA1031
        {
            now = default;
            warn = null;
            return false;
        }
    }

    /// <summary>
    /// Sets the timer to the next moment a warning is due and returns the secret to warn about now, if any: at most one
    /// warning a day for the same client id and date, so a reload that changes other settings does not repeat it.
    /// </summary>
    private SecretLife? Arm(DateTimeOffset now)
    {
        var current = _current;
        if (current is null)
        {
            _timer?.Change(Timeout.InfiniteTimeSpan, Timeout.InfiniteTimeSpan);
            return null;
        }

        var due = !current.IsReminderDue(now) ? current.ExpiresAt - ReminderPeriod
            : current == _warnedFor ? _warnedAt + s_warningInterval
            : now;
        SecretLife? warn = null;
        if (due <= now)
        {
            warn = current;
            _warnedFor = current;
            _warnedAt = now;
            due = now + s_warningInterval;
        }

        var wait = due - now;

        // Only clients with a date get a timer.
        _timer ??= _timeProvider.CreateTimer(static state => ((ClientSecretExpiry)state!).OnTimer(), this, Timeout.InfiniteTimeSpan, Timeout.InfiniteTimeSpan);
        _timer.Change(wait < s_longestTimer ? wait : s_longestTimer, Timeout.InfiniteTimeSpan);
        return warn;
    }

    private void Warn(SecretLife? life, DateTimeOffset now)
    {
        if (life is null)
        {
            return;
        }

        if (life.IsExpired(now))
        {
            _logger.ClientSecretExpired(life.ClientId, _clientName, life.Date);
        }
        else
        {
            _logger.ClientSecretExpiring(life.ClientId, _clientName, life.Date, (int)(life.ExpiresAt - now).TotalDays);
        }
    }

    /// <summary>One secret's expiry: the client id it belongs to, the day as configured and the moment (23:59 UTC that day).</summary>
    internal sealed record SecretLife(string ClientId, DateOnly Date, DateTimeOffset ExpiresAt)
    {
        public bool IsReminderDue(DateTimeOffset now) => now >= ExpiresAt - ReminderPeriod;

        public bool IsExpired(DateTimeOffset now) => now >= ExpiresAt;

        public TimeSpan TimeLeft(DateTimeOffset now) => ExpiresAt - now;
    }
}
