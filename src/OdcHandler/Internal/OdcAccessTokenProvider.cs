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
/// <para>
/// Tokens live here rather than in <c>IMemoryCache</c>: a handler resolves its client's binding once per
/// handler chain and then reads two fields per request, where a cache lookup would hash a key and read
/// the cache's own clock on every request. Freshness is decided by the injected <see cref="TimeProvider"/>.
/// </para>
/// <para>
/// Each client name has an <see cref="OdcClientBinding"/> that follows its options across reloads. When a
/// reload changes the credentials (a rotated secret), the client moves to the manager of the new ones and
/// the old manager, once no client uses it, is released: its timers stop, its shared store closes and
/// the time-to-expiry gauge no longer reports it.
/// </para>
/// </remarks>
internal sealed class OdcAccessTokenProvider : IOdcAccessTokenProvider, IDisposable
{
    private readonly Dictionary<string, OdcClientBinding> _bindings;
    private readonly Dictionary<string, ClientSecretExpiry> _secretExpiries;
    private readonly Dictionary<string, SharedTokenStoreRegistration> _sharedStores;
    private readonly IServiceProvider _services;
    private readonly DiscoveryDocumentCache _discovery;
    private readonly TokenEndpointClient _tokenClient;
    private readonly TimeProvider _timeProvider;
    private readonly OdcTelemetry _telemetry;
    private readonly JitterSource _jitter;
    private readonly ILoggerFactory _loggerFactory;
    private readonly ConcurrentDictionary<TokenCacheKey, OdcTokenManager> _managers = new();

    /// <summary>How many client bindings use each manager; guarded by <see cref="_managersGate"/>.</summary>
    private readonly Dictionary<OdcTokenManager, int> _users = new(ReferenceEqualityComparer.Instance);
    private readonly object _managersGate = new();

    public OdcAccessTokenProvider(
        IOptionsMonitor<OdcAuthenticationOptions> optionsMonitor,
        IEnumerable<IOptionsChangeTokenSource<OdcAuthenticationOptions>> changeSources,
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
        _sharedStores = sharedStores.GroupBy(r => r.ClientName, StringComparer.Ordinal).ToDictionary(g => g.Key, g => g.Last(), StringComparer.Ordinal);
        _services = services;
        _discovery = discovery;
        _tokenClient = tokenClient;
        _timeProvider = timeProvider;
        _telemetry = telemetry;
        _jitter = jitter;
        _loggerFactory = loggerFactory;
        var sources = changeSources.ToList();
        var names = registrations.Select(r => r.ClientName).Distinct(StringComparer.Ordinal).ToList();
        var secretLogger = loggerFactory.CreateLogger<ClientSecretExpiry>();
        _secretExpiries = names.ToDictionary(name => name, name => new ClientSecretExpiry(name, timeProvider, secretLogger), StringComparer.Ordinal);
        _bindings = names.ToDictionary(
            name => name,
            name => new OdcClientBinding(name, optionsMonitor, sources, Bind, (previous, next) => Rebound(name, previous, next)),
            StringComparer.Ordinal);
        foreach (var name in names)
        {
            FollowSecretExpiry(optionsMonitor, name);
        }

        telemetry.Meter.CreateObservableGauge(
            "odc.token.time_to_expiry", ObserveTimeToExpiry, "s", "Seconds until the cached token of each client expires (negative once expired).");
        telemetry.Meter.CreateObservableGauge(
            "odc.client_secret.time_to_expiry", ObserveSecretTimeToExpiry, "s", "Seconds until each client's secret expires by ClientSecretExpiresAt (negative once past).");
    }

    public OdcTelemetry Telemetry => _telemetry;

    /// <summary>The names of the clients AddOdcAuthentication was called on.</summary>
    public IReadOnlyCollection<string> ClientNames => _bindings.Keys;

    public ValueTask<OdcAccessToken> GetTokenAsync(string clientName, CancellationToken cancellationToken = default) =>
        GetManager(clientName).GetAsync(cancellationToken);

    public void InvalidateToken(string clientName, OdcAccessToken? rejectedToken = null) =>
        GetManager(clientName).Invalidate(rejectedToken);

    /// <summary>The binding of a registered client name, which follows its options across reloads.</summary>
    public OdcClientBinding GetBinding(string clientName)
    {
        ArgumentNullException.ThrowIfNull(clientName);
        return _bindings.TryGetValue(clientName, out var binding)
            ? binding
            : throw new InvalidOperationException(
                $"No ODC client named '{clientName}' is registered. Call AddOdcAuthentication on the HttpClient builder of that name (for a typed client, the name is the type's name).");
    }

    /// <summary>The life of a registered client's secret under its current options.</summary>
    public ClientSecretExpiry GetSecretExpiry(string clientName)
    {
        _ = GetBinding(clientName).Current;
        return _secretExpiries[clientName];
    }

    /// <summary>The manager for a client name under its current options.</summary>
    public OdcTokenManager GetManager(string clientName) => GetBinding(clientName).Current.Manager!;

    public BearerTokenHandler CreateHandler(string clientName) =>
        new(GetBinding(clientName), _loggerFactory.CreateLogger<BearerTokenHandler>(), _telemetry);

    /// <summary>The managers in use, for observers such as the time-to-expiry gauge (and tests).</summary>
    internal ICollection<OdcTokenManager> Managers => _managers.Values;

    private OdcClientView Bind(string clientName, OdcAuthenticationOptions options)
    {
        var settings = new OdcClientSettings(clientName, options);
        lock (_managersGate)
        {
            if (_managers.TryGetValue(settings.CacheKey, out var manager))
            {
                // Same credentials: the token stays, the lifecycle settings (timeouts, cool-down…) follow the reload.
                manager.UpdateSettings(settings);
            }
            else
            {
                manager = new OdcTokenManager(
                    settings, _discovery, _tokenClient, _timeProvider, _telemetry, _jitter,
                    _sharedStores.TryGetValue(clientName, out var shared) ? shared.CreateStore(_services) : null,
                    _loggerFactory.CreateLogger<OdcTokenManager>());

                // Same credentials under other lifecycle settings (a reloaded cool-down, say): the token they hold is
                // just as good, so a reload costs no token request.
                foreach (var sibling in _managers.Values)
                {
                    if (sibling.Settings.CacheKey.SameCredentials(settings.CacheKey) && sibling.Current is { } token)
                    {
                        manager.Adopt(token);
                        break;
                    }
                }

                _managers[settings.CacheKey] = manager;
            }

            _users[manager] = _users.GetValueOrDefault(manager) + 1;
            return new OdcClientView(options, settings.Endpoints, manager, manager);
        }
    }

    /// <summary>
    /// The secret's date is followed from the provider's start, before the client is first used, so the warnings and
    /// the gauge do not wait for a request. Options that are not valid yet are reported by the first request instead.
    /// </summary>
    private void FollowSecretExpiry(IOptionsMonitor<OdcAuthenticationOptions> optionsMonitor, string clientName)
    {
        try
        {
            _secretExpiries[clientName].Follow(optionsMonitor.Get(clientName));
        }
        catch (OptionsValidationException)
        {
            // The first use throws it to the caller; until then there is no date to follow.
        }
    }

    /// <summary>Follows the client's new options and releases the manager it left if no other client uses it.</summary>
    private void Rebound(string clientName, OdcClientView? previous, OdcClientView next)
    {
        _secretExpiries[clientName].Follow(next.Options);
        if (previous?.Manager is not { } left)
        {
            return;
        }

        lock (_managersGate)
        {
            var users = _users.GetValueOrDefault(left) - 1;
            if (users > 0)
            {
                _users[left] = users;
                return;
            }

            _users.Remove(left);
            _managers.TryRemove(new KeyValuePair<TokenCacheKey, OdcTokenManager>(left.Settings.CacheKey, left));
        }

        left.Dispose();
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

    /// <summary>
    /// One measurement per client id, the soonest expiry of those configured for it: two client names with the same
    /// credentials would otherwise report twice, and an alert on the gauge must see the date that comes first.
    /// </summary>
    private IEnumerable<Measurement<double>> ObserveSecretTimeToExpiry()
    {
        var now = _timeProvider.GetUtcNow();
        var soonest = new Dictionary<string, TimeSpan>(StringComparer.Ordinal);
        foreach (var expiry in _secretExpiries.Values)
        {
            if (expiry.Current is { } life)
            {
                var left = life.TimeLeft(now);
                soonest[life.ClientId] = soonest.TryGetValue(life.ClientId, out var known) && known < left ? known : left;
            }
        }

        foreach (var (clientId, left) in soonest)
        {
            yield return new Measurement<double>(left.TotalSeconds, new KeyValuePair<string, object?>("odc.client.id", clientId));
        }
    }

    public void Dispose()
    {
        foreach (var binding in _bindings.Values)
        {
            binding.Dispose();
        }

        foreach (var expiry in _secretExpiries.Values)
        {
            expiry.Dispose();
        }

        foreach (var manager in _managers.Values)
        {
            manager.Dispose();
        }
    }
}
