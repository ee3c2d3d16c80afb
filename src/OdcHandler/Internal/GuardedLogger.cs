using Microsoft.Extensions.Logging;

namespace OdcHandler.Internal;

/// <summary>
/// A logger whose provider's failures stay in the provider: a log line is never worth a request, and an
/// exception thrown between two steps of the token state machine would leave it half-way (a fetch marked
/// in flight that never settles).
/// </summary>
internal sealed class GuardedLogger : ILogger
{
    private readonly ILogger _inner;

    private GuardedLogger(ILogger inner) => _inner = inner;

    public static ILogger Wrap(ILogger logger) => logger as GuardedLogger ?? new GuardedLogger(logger);

    public IDisposable? BeginScope<TState>(TState state)
        where TState : notnull
    {
        try
        {
            return _inner.BeginScope(state);
        }
        catch (Exception)
        {
            return null;
        }
    }

    public bool IsEnabled(LogLevel logLevel)
    {
        try
        {
            return _inner.IsEnabled(logLevel);
        }
        catch (Exception)
        {
            return false;
        }
    }

    public void Log<TState>(LogLevel logLevel, EventId eventId, TState state, Exception? exception, Func<TState, Exception?, string> formatter)
    {
        try
        {
            _inner.Log(logLevel, eventId, state, exception, formatter);
        }
        catch (Exception)
        {
            // The application's logging failed; the operation being logged goes on regardless.
        }
    }
}
