using System.Collections.Concurrent;
using System.Diagnostics.Metrics;
using Microsoft.Extensions.Logging;
using Microsoft.Extensions.Options;

namespace OdcHandler.Internal;

/// <summary>
/// The singleton that owns every token: one <see cref="OdcTokenManager"/> per <see cref="TokenCacheKey"/>,
/// shared by all handler chains and by <see cref="IOdcAccessTokenProvider"/> callers.
/// </summary>
/// <remarks>
/// Tokens live here rather than in <c>IMemoryCache</c>: a handler resolves its manager once per handler
/// chain and then reads one field per request, where a cache lookup would hash a key and read the
/// cache's own clock on every request. Freshness is decided by the injected <see cref="TimeProvider"/>.
/// </remarks>
internal sealed class OdcAccessTokenProvider : IOdcAccessTokenProvider, IDisposable
{
    private readonly IOptionsMonitor<OdcAuthenticationOptions> _optionsMonitor;
    private readonly HashSet<string> _registeredNames;
    private readonly Dictionary<string, SharedTokenStoreRegistration> _sharedStores;
    private readonly IServiceProvider _services;
    private readonly DiscoveryDocumentCache _discovery;
    private readonly TokenEndpointClient _tokenClient;
    private readonly TimeProvider _timeProvider;
    private readonly OdcTelemetry _telemetry;
    private readonly JitterSource _jitter;
    private readonly ILoggerFactory _loggerFactory;
    private readonly ConcurrentDictionary<TokenCacheKey, OdcTokenManager> _managers = new();
    private readonly ConcurrentDictionary<string, (OdcAuthenticationOptions Options, OdcTokenManager Manager)> _byName = new(StringComparer.Ordinal);
    private readonly object _createGate = new();

    public OdcAccessTokenProvider(
        IOptionsMonitor<OdcAuthenticationOptions> optionsMonitor,
        IEnumerable<OdcClientRegistration> registrations,
        IEnumerable<SharedTokenStoreRegistration> sharedStores,
        IServiceProvider services,
        DiscoveryDocumentCache discovery,
        TokenEndpointClient tokenClient,
        TimeProvider timeProvider,
        OdcTelemetry telemetry,
        JitterSource jitter,
        ILoggerFactory loggerFactory)
    {
        _optionsMonitor = optionsMonitor;
        _registeredNames = new HashSet<string>(registrations.Select(r => r.ClientName), StringComparer.Ordinal);
        _sharedStores = sharedStores.GroupBy(r => r.ClientName, StringComparer.Ordinal).ToDictionary(g => g.Key, g => g.Last(), StringComparer.Ordinal);
        _services = services;
        _discovery = discovery;
        _tokenClient = tokenClient;
        _timeProvider = timeProvider;
        _telemetry = telemetry;
        _jitter = jitter;
        _loggerFactory = loggerFactory;
        telemetry.Meter.CreateObservableGauge(
            "odc.token.time_to_expiry", ObserveTimeToExpiry, "s", "Seconds until the cached token of each client expires (negative once expired).");
    }

    /// <summary>The names of the clients AddOdcAuthentication was called on.</summary>
    public IReadOnlyCollection<string> ClientNames => _registeredNames;

    public ValueTask<OdcAccessToken> GetTokenAsync(string clientName, CancellationToken cancellationToken = default) =>
        GetManager(clientName).GetAsync(cancellationToken);

    public void InvalidateToken(string clientName, OdcAccessToken? rejectedToken = null) =>
        GetManager(clientName).Invalidate(rejectedToken);

    /// <summary>
    /// The manager for a client name under its current options; options reloaded with other
    /// credentials lead to another manager, so a rotated secret never reuses the old one's token.
    /// </summary>
    public OdcTokenManager GetManager(string clientName)
    {
        ArgumentNullException.ThrowIfNull(clientName);
        if (!_registeredNames.Contains(clientName))
        {
            throw new InvalidOperationException(
                $"No ODC client named '{clientName}' is registered. Call AddOdcAuthentication on the HttpClient builder of that name (for a typed client, the name is the type's name).");
        }

        var options = _optionsMonitor.Get(clientName);
        if (_byName.TryGetValue(clientName, out var known) && ReferenceEquals(known.Options, options))
        {
            return known.Manager;
        }

        lock (_createGate)
        {
            var settings = new OdcClientSettings(clientName, options);
            var manager = _managers.GetOrAdd(settings.CacheKey, _ => new OdcTokenManager(
                settings, _discovery, _tokenClient, _timeProvider, _telemetry, _jitter,
                _sharedStores.TryGetValue(clientName, out var shared) ? shared.CreateStore(_services) : null,
                _loggerFactory.CreateLogger<OdcTokenManager>()));
            _byName[clientName] = (options, manager);
            return manager;
        }
    }

    public BearerTokenHandler CreateHandler(string clientName)
    {
        var manager = GetManager(clientName);
        return new BearerTokenHandler(manager, manager.Settings.Endpoints, _loggerFactory.CreateLogger<BearerTokenHandler>(), _telemetry);
    }

    private IEnumerable<Measurement<double>> ObserveTimeToExpiry()
    {
        var now = _timeProvider.GetUtcNow();
        foreach (var manager in _managers.Values)
        {
            if (manager.Current is { } token)
            {
                yield return new Measurement<double>((token.ExpiresAt - now).TotalSeconds, new KeyValuePair<string, object?>("odc.client.id", manager.Settings.ClientId));
            }
        }
    }

    public void Dispose()
    {
        foreach (var manager in _managers.Values)
        {
            manager.Dispose();
        }
    }
}
