using System.Collections.Concurrent;
using Microsoft.Extensions.Logging;
using Microsoft.Extensions.Options;

namespace OdcHandler.Internal;

/// <summary>
/// The limits of every HttpClient name <c>AddOdcRateLimiting</c> was called on. A singleton: IHttpClientFactory
/// builds a new handler chain every few minutes, and the permits taken must outlive each chain.
/// </summary>
internal sealed class OdcRateLimiterRegistry(
    IOptionsMonitor<OdcRateLimitOptions> options,
    TimeProvider time,
    IEnumerable<RateLimitStoreRegistration> stores,
    ILoggerFactory loggerFactory,
    IServiceProvider services) : IDisposable
{
    private readonly ConcurrentDictionary<string, Lazy<OdcRateLimiter>> _limiters = new(StringComparer.Ordinal);
    private readonly RateLimitStoreRegistration[] _stores = stores.ToArray();

    public OdcRateLimiter Get(string clientName) =>
        _limiters.GetOrAdd(clientName, name => new Lazy<OdcRateLimiter>(() => Create(name))).Value;

    public void Dispose()
    {
        foreach (var limiter in _limiters.Values.Where(l => l.IsValueCreated))
        {
            limiter.Value.Dispose();
            (limiter.Value.Fleet?.Store as IDisposable)?.Dispose();
        }
    }

    private OdcRateLimiter Create(string name)
    {
        var limiter = new OdcRateLimiter(options.Get(name), time);
        if (_stores.LastOrDefault(r => r.ClientName == name) is { } registration)
        {
            limiter.Fleet = new FleetPermits(name, registration.CreateStore(services), limiter, time, loggerFactory.CreateLogger<FleetPermits>());
        }

        return limiter;
    }
}
