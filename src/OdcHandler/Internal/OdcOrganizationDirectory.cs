using Microsoft.Extensions.Caching.Memory;
using Microsoft.Extensions.DependencyInjection;
using Microsoft.Extensions.Logging;
using Microsoft.Extensions.Options;

namespace OdcHandler.Internal;

/// <summary>The singleton that owns the <see cref="OdcOrganizationCache"/> of every multi-organisation client, created on first use.</summary>
internal sealed class OdcOrganizationDirectory(IEnumerable<OdcOrganizationsRegistration> registrations, IServiceProvider services) : IDisposable
{
    private readonly Dictionary<string, Lazy<OdcOrganizationCache>> _caches = registrations
        .GroupBy(r => r.ClientName, StringComparer.Ordinal)
        .ToDictionary(g => g.Key, g => new Lazy<OdcOrganizationCache>(() => Create(g.Last(), services)), StringComparer.Ordinal);

    public IReadOnlyCollection<string> ClientNames => _caches.Keys;

    public bool IsRegistered(string clientName) => _caches.ContainsKey(clientName);

    /// <exception cref="InvalidOperationException">No multi-organisation client has that name.</exception>
    public OdcOrganizationCache Get(string clientName) =>
        _caches.TryGetValue(clientName, out var cache)
            ? cache.Value
            : throw new InvalidOperationException(
                $"No multi-organisation ODC client named '{clientName}' is registered. Call AddOdcAuthentication<TCredentialSource>() on the HttpClient builder of that name.");

    public OdcOrganizationsHandler CreateHandler(string clientName) =>
        new(Get(clientName), services.GetRequiredService<ILoggerFactory>().CreateLogger<OdcOrganizationsHandler>());

    public void Dispose()
    {
        foreach (var cache in _caches.Values)
        {
            if (cache.IsValueCreated)
            {
                cache.Value.Dispose();
            }
        }
    }

    private static OdcOrganizationCache Create(OdcOrganizationsRegistration registration, IServiceProvider services) =>
        new(
            registration.ClientName,
            services.GetRequiredService<IOptionsMonitor<OdcOrganizationsOptions>>().Get(registration.ClientName),
            (IOdcCredentialSource)services.GetRequiredService(registration.CredentialSourceType),
            ApplicationCache(services),
            services.GetRequiredService<DiscoveryDocumentCache>(),
            services.GetRequiredService<TokenEndpointClient>(),
            services.GetRequiredService<TimeProvider>(),
            services.GetRequiredService<OdcTelemetry>(),
            services.GetRequiredService<JitterSource>(),
            services.GetRequiredService<ILoggerFactory>(),
            services.GetServices<SharedTokenStoreRegistration>().LastOrDefault(r => string.Equals(r.ClientName, registration.ClientName, StringComparison.Ordinal)) is { } shared
                ? () => shared.CreateStore(services)
                : null);

    /// <summary>
    /// The application's own cache, when it registered one with a size limit (<c>AddMemoryCache(o =&gt; o.SizeLimit = …)</c>);
    /// without a limit its entries would grow with the number of organisations, so OdcHandler keeps its own then.
    /// </summary>
    private static IMemoryCache? ApplicationCache(IServiceProvider services) =>
        services.GetService<IOptions<MemoryCacheOptions>>()?.Value.SizeLimit is not null
            ? services.GetService<IMemoryCache>()
            : null;
}
