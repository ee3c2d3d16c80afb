using System.Collections.Concurrent;
using Microsoft.Extensions.Options;

namespace OdcHandler.Internal;

/// <summary>
/// The limits of every HttpClient name <c>AddOdcRateLimiting</c> was called on. A singleton: IHttpClientFactory
/// builds a new handler chain every few minutes, and the permits taken must outlive each chain.
/// </summary>
internal sealed class OdcRateLimiterRegistry(IOptionsMonitor<OdcRateLimitOptions> options, TimeProvider time) : IDisposable
{
    private readonly ConcurrentDictionary<string, Lazy<OdcRateLimiter>> _limiters = new(StringComparer.Ordinal);

    public OdcRateLimiter Get(string clientName) =>
        _limiters.GetOrAdd(clientName, name => new Lazy<OdcRateLimiter>(() => new OdcRateLimiter(options.Get(name), time))).Value;

    public void Dispose()
    {
        foreach (var limiter in _limiters.Values.Where(l => l.IsValueCreated))
        {
            limiter.Value.Dispose();
        }
    }
}
