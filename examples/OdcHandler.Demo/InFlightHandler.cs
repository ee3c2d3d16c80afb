namespace OdcHandler.Demo;

/// <summary>Counts the requests a client starts and has out, so <see cref="SteppingClock"/> can tell when one may be waiting for time.</summary>
internal sealed class InFlightHandler(InFlightHandler.Counts counts) : DelegatingHandler
{
    protected override async Task<HttpResponseMessage> SendAsync(HttpRequestMessage request, CancellationToken cancellationToken)
    {
        Interlocked.Increment(ref counts.Started);
        Interlocked.Increment(ref counts.Out);
        try
        {
            return await base.SendAsync(request, cancellationToken).ConfigureAwait(false);
        }
        finally
        {
            Interlocked.Decrement(ref counts.Out);
        }
    }

    /// <summary>Requests started and not yet answered; shared by every handler chain of the client.</summary>
    internal sealed class Counts
    {
#pragma warning disable SA1401, CA1051 // Interlocked needs the fields themselves.
        public int Started;
        public int Out;
#pragma warning restore SA1401, CA1051
    }
}
