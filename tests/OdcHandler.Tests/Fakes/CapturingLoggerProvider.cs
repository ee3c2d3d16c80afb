using System.Collections.Concurrent;
using Microsoft.Extensions.Logging;

namespace OdcHandler.Tests.Fakes;

/// <summary>Captures every log entry at every level: the formatted text and the structured state, as exporters see it.</summary>
public sealed class CapturingLoggerProvider : ILoggerProvider
{
    public ConcurrentQueue<LogEntry> Entries { get; } = new();

    public ILogger CreateLogger(string categoryName) => new CapturingLogger(categoryName, Entries);

    public void Dispose()
    {
    }

    /// <summary>Every string a log exporter could write: category, message, each state value and the exception.</summary>
    public IEnumerable<string> AllText() => Entries.SelectMany(entry =>
        new[] { entry.Category, entry.Message, entry.Exception?.ToString() ?? string.Empty }
            .Concat(entry.State.Select(pair => $"{pair.Key}={FormatValue(pair.Value)}")));

    private static string FormatValue(object? value) => value switch
    {
        null => string.Empty,
        string text => text,
        System.Collections.IEnumerable sequence => string.Join(",", sequence.Cast<object?>().Select(FormatValue)),
        _ => value.ToString() ?? string.Empty,
    };

    public sealed record LogEntry(string Category, LogLevel Level, EventId EventId, string Message, IReadOnlyList<KeyValuePair<string, object?>> State, Exception? Exception);

    private sealed class CapturingLogger(string category, ConcurrentQueue<LogEntry> entries) : ILogger
    {
        public IDisposable? BeginScope<TState>(TState state)
            where TState : notnull => null;

        public bool IsEnabled(LogLevel logLevel) => true;

        public void Log<TState>(LogLevel logLevel, EventId eventId, TState state, Exception? exception, Func<TState, Exception?, string> formatter)
        {
            var pairs = state is IEnumerable<KeyValuePair<string, object?>> structured ? structured.ToList() : [];
            entries.Enqueue(new LogEntry(category, logLevel, eventId, formatter(state, exception), pairs, exception));
        }
    }
}
