namespace OdcHandler.Demo;

/// <summary>
/// ODC's suggested cadence for polling a long-running operation (a build, a deployment, a bulk user import):
/// every 5 seconds for the first 30 seconds, then every 30 seconds.
/// </summary>
public static class OdcPolling
{
    private static readonly TimeSpan s_fast = TimeSpan.FromSeconds(5);
    private static readonly TimeSpan s_slow = TimeSpan.FromSeconds(30);

    /// <summary>The wait before the next poll, given how long ago the operation was started.</summary>
    /// <param name="elapsed">Time since the operation was started.</param>
    /// <returns>5 seconds in the first 30 seconds, 30 seconds afterwards.</returns>
    public static TimeSpan NextDelay(TimeSpan elapsed) => elapsed < s_slow ? s_fast : s_slow;

    /// <summary>Polls until <paramref name="isDone"/> holds, waiting on <paramref name="time"/> between polls.</summary>
    /// <typeparam name="T">The operation's shape.</typeparam>
    /// <param name="poll">Gets the operation once.</param>
    /// <param name="isDone">Whether it has ended.</param>
    /// <param name="time">The clock to wait on.</param>
    /// <param name="cancellationToken">Stops the polling.</param>
    /// <returns>The ended operation.</returns>
    public static async Task<T> UntilDoneAsync<T>(Func<CancellationToken, Task<T>> poll, Func<T, bool> isDone, TimeProvider time, CancellationToken cancellationToken)
    {
        ArgumentNullException.ThrowIfNull(poll);
        ArgumentNullException.ThrowIfNull(isDone);
        ArgumentNullException.ThrowIfNull(time);
        var started = time.GetTimestamp();
        while (true)
        {
            var operation = await poll(cancellationToken).ConfigureAwait(false);
            if (isDone(operation))
            {
                return operation;
            }

            await Task.Delay(NextDelay(time.GetElapsedTime(started)), time, cancellationToken).ConfigureAwait(false);
        }
    }
}
