using System.Collections.Concurrent;
using System.Diagnostics.CodeAnalysis;
using Microsoft.Extensions.Caching.Memory;
using Microsoft.Extensions.Logging;
using Microsoft.Extensions.Options;

namespace OdcHandler.Internal;

/// <summary>
/// The organisations of one multi-organisation HttpClient: one <see cref="OdcOrganizationEntry"/> per portal host in
/// an <see cref="IMemoryCache"/> (size 1 each, sliding idle expiration), each with its own <see cref="OdcTokenManager"/>.
/// </summary>
/// <remarks>
/// <para>
/// Every organisation reuses the single-organisation machinery as it is: its options are composed from
/// <see cref="OdcOrganizationsOptions"/> and the source's credentials and checked by the same validator, its
/// <see cref="OdcEndpoints"/> decide where its token may go, and its manager has its own single flight, refresh
/// ahead, cool-down and backchannel circuit (per identity host). Nothing is shared between organisations but the
/// discovery cache (keyed by address) and the token endpoint client, so one organisation's outage, suspended client
/// or slow identity service never delays or cools down another's requests.
/// </para>
/// <para>
/// The source is asked when a host is first seen (concurrent requests share one call), and again when that
/// organisation must fetch a token after having had one or a failure; credentials that differ get a new manager and
/// the old one is let go. An evicted entry's manager is disposed once no request waits on it.
/// </para>
/// </remarks>
internal sealed class OdcOrganizationCache : IDisposable
{
    /// <summary>The <c>odc.client.id</c> and <c>server.address</c> metric tag when organisations are not tagged.</summary>
    public const string UntaggedOrganization = "organizations";

    private readonly string _clientName;
    private readonly OdcOrganizationsOptions _options;
    private readonly IOdcCredentialSource _source;
    private readonly IMemoryCache _cache;
    private readonly bool _ownsCache;
    private readonly DiscoveryDocumentCache _discovery;
    private readonly TokenEndpointClient _tokenClient;
    private readonly TimeProvider _timeProvider;
    private readonly JitterSource _jitter;
    private readonly ILoggerFactory _loggerFactory;
    private readonly ILogger _logger;
    private readonly ConcurrentDictionary<string, Task<OdcOrganizationEntry>> _creating = new(StringComparer.Ordinal);
    private readonly ConcurrentDictionary<string, OdcOrganizationEntry> _live = new(StringComparer.Ordinal);
    private readonly ITimer _probe;
    private readonly object _probeKey = new();
    private readonly bool _systemClock;
    private readonly long _touchInterval;
    private readonly long _expiresAfter;
    private readonly TimeSpan _slidingExpiration;
    private readonly object _makingRoom = new();
    private readonly PostEvictionDelegate _evicted;
    private readonly CancellationTokenSource _shutdown = new();
    private readonly Lazy<IOdcSharedTokenStore>? _sharedStore;
    private int _liveManagers;

    public OdcOrganizationCache(
        string clientName,
        OdcOrganizationsOptions options,
        IOdcCredentialSource source,
        IMemoryCache? applicationCache,
        DiscoveryDocumentCache discovery,
        TokenEndpointClient tokenClient,
        TimeProvider timeProvider,
        OdcTelemetry telemetry,
        JitterSource jitter,
        ILoggerFactory loggerFactory,
        Func<IOdcSharedTokenStore>? createSharedStore = null)
    {
        var validation = new OdcOrganizationsOptionsValidator().Validate(clientName, options);
        if (validation.Failed)
        {
            throw new OptionsValidationException(clientName, typeof(OdcOrganizationsOptions), validation.Failures);
        }

        _clientName = clientName;
        _options = options;
        _source = source;
        _discovery = discovery;
        _tokenClient = tokenClient;
        _timeProvider = timeProvider;
        Telemetry = telemetry;
        _jitter = jitter;
        _loggerFactory = loggerFactory;
        _logger = GuardedLogger.Wrap(loggerFactory.CreateLogger<OdcOrganizationCache>());
        _evicted = OnEvicted;

        // One store (one Redis connection) for all organisations, created when the first one needs it.
        _sharedStore = createSharedStore is null ? null : new Lazy<IOdcSharedTokenStore>(createSharedStore);
        if (applicationCache is null)
        {
            _cache = new MemoryCache(
                new MemoryCacheOptions { SizeLimit = options.SizeLimit, Clock = new TimeProviderClock(timeProvider) },
                loggerFactory);
            _ownsCache = true;
        }
        else
        {
            _cache = applicationCache;
        }

        // Environment.TickCount64 costs a fraction of a precise timestamp; a fake clock is read as it is. A request touches
        // the cache entry at most every second (a quarter of a shorter IdleExpiration), and the entry's sliding expiration
        // is that much longer than IdleExpiration, so an organisation is never let go sooner than IdleExpiration after
        // its last request, and at most that much later.
        _systemClock = ReferenceEquals(timeProvider, TimeProvider.System);
        var touch = TouchInterval(options.IdleExpiration);
        _slidingExpiration = options.IdleExpiration + touch;
        _touchInterval = InClockUnits(touch);
        _expiresAfter = InClockUnits(_slidingExpiration);
        _probe = timeProvider.CreateTimer(static state => ((OdcOrganizationCache)state!).Probe(), this, TimeSpan.FromMinutes(1), TimeSpan.FromMinutes(1));
    }

    public string ClientName => _clientName;

    public OdcTelemetry Telemetry { get; }

    public bool TagOrganization => _options.TagOrganizationInMetrics;

    /// <summary>The organisations with an entry that is not yet let go (evicted entries count until their callback ran).</summary>
    public ICollection<OdcOrganizationEntry> Entries => _live.Values;

    /// <summary>Managers not yet disposed, for tests of what eviction releases.</summary>
    internal int LiveManagers => Volatile.Read(ref _liveManagers);

    /// <summary>Entries in OdcHandler's own cache; <see langword="null"/> when the application's cache is used.</summary>
    internal int? CachedCount => _ownsCache ? ((MemoryCache)_cache).Count : null;

    internal IMemoryCache Cache => _cache;

    /// <summary>Whether a request to <paramref name="address"/> can be an organisation's: https, or plain http on loopback (or anywhere with RequireHttps off).</summary>
    public bool IsOrganizationAddress([NotNullWhen(true)] Uri? address) =>
        address is { IsAbsoluteUri: true } && OdcEndpoints.IsSecureEnough(address, _options.RequireHttps);

    /// <summary>
    /// The warm path: the entry of the address's organisation, if cached. No source call, no lock; MemoryCache (whose
    /// clock and bookkeeping cost more than the rest of the path) is touched at most once a second per organisation.
    /// </summary>
    public bool TryGetCached(Uri address, [NotNullWhen(true)] out OdcOrganizationEntry? entry)
    {
        if (_live.TryGetValue(KeyOf(address), out entry) && !entry.IsEvicted && !entry.HasLeftCache)
        {
            var now = Now();
            var lastUsed = Volatile.Read(ref entry.LastUsed);
            if (now - lastUsed >= _expiresAfter)
            {
                // Idle past its expiration, though MemoryCache has not looked yet: it is let go now, and this request
                // asks the source as a new organisation's would (it may no longer have credentials for the host).
                entry.LeaveCache();
                _cache.Remove(CacheKey(entry.Key));
                entry = null;
                return false;
            }

            if (lastUsed != now)
            {
                // Written only when the clock moved, so busy threads do not fight over the line.
                Volatile.Write(ref entry.LastUsed, now);
            }

            if (now - Volatile.Read(ref entry.LastTouched) >= _touchInterval)
            {
                Volatile.Write(ref entry.LastTouched, now);
                _cache.TryGetValue(CacheKey(entry.Key), out _);
            }

            return true;
        }

        entry = null;
        return false;
    }

    /// <summary>
    /// The state of the address's organisation, leased (release it when the request is done), asking the source
    /// when the host is new or its organisation must fetch a token again.
    /// </summary>
    /// <exception cref="OdcAuthenticationException">No credentials for the host, or the source failed or gave invalid ones.</exception>
    public async ValueTask<OdcOrganizationState> LeaseAsync(Uri address, CancellationToken cancellationToken)
    {
        var key = KeyOf(address);
        for (var attempt = 0; ; attempt++)
        {
            if (!TryGetCached(address, out var entry))
            {
                entry = await GetOrCreateAsync(key, address).WaitAsync(cancellationToken).ConfigureAwait(false);
                if (entry.TakeCreationLease() is { } created)
                {
                    return created;
                }
            }

            var state = await CurrentAsync(entry, cancellationToken).ConfigureAwait(false);
            if (state.TryLease())
            {
                return state;
            }

            // Let go between the lookup and the lease (evicted, or refused at once by a full cache): look again.
            if (attempt >= 8)
            {
                throw new OdcAuthenticationException($"The ODC organisation at host '{entry.PortalHost}' was evicted from the token cache while this request waited for it; the cache's size limit is too small for the organisations in use. Send the request again.");
            }
        }
    }

    /// <summary>After the API rejected <paramref name="rejected"/>'s token: its organisation's state for a fresh token, asking the source again.</summary>
    public async ValueTask<OdcOrganizationState> LeaseForRetryAsync(OdcOrganizationState rejected, CancellationToken cancellationToken)
    {
        var state = await CurrentAsync(rejected.Entry, cancellationToken).ConfigureAwait(false);
        return state.TryLease() ? state : await LeaseAsync(rejected.Entry.Portal, cancellationToken).ConfigureAwait(false);
    }

    public void Dispose()
    {
        _probe.Dispose();
        _shutdown.Cancel();
        foreach (var entry in _live.Values)
        {
            if (_ownsCache)
            {
                entry.Evict();
            }
            else
            {
                try
                {
                    _cache.Remove(CacheKey(entry.Key));
                }
                catch (ObjectDisposedException)
                {
                    // The application's cache went first; its entries are gone with it.
                }

                entry.Evict();
            }
        }

        if (_ownsCache)
        {
            _cache.Dispose();
        }

        if (_sharedStore is { IsValueCreated: true, Value: IDisposable store })
        {
            store.Dispose();
        }

        _shutdown.Dispose();
    }

    /// <summary>The entry's state, after asking the source again when the organisation must fetch a token it already fetched once.</summary>
    private Task<OdcOrganizationState> CurrentAsync(OdcOrganizationEntry entry, CancellationToken cancellationToken)
    {
        var state = entry.State;
        if (!state.HasBeenUsed || state.Manager.TryGetUsable(out _) || state.Manager.GetHealth().State == TokenHealthState.Failing)
        {
            // New from the source, or a token to serve, or cooling down after a failure: the cool-down spares the
            // source as it spares the identity service.
            return Task.FromResult(state);
        }

        if (entry.LastSourceFailure is { } failure && _timeProvider.GetElapsedTime(failure.Timestamp) < _options.FailureCooldown)
        {
            // The source failed moments ago: the cool-down spares it as it spares the identity service.
            return Task.FromException<OdcOrganizationState>(new OdcAuthenticationException(failure.Message));
        }

        return entry.AskAgain(AskAgainAsync).WaitAsync(cancellationToken);
    }

    private async Task<OdcOrganizationState> AskAgainAsync(OdcOrganizationEntry entry)
    {
        OdcOrganizationCredentials? credentials;
        OdcOrganizationState current;
        OdcOrganizationState? next = null;
        try
        {
            credentials = await AskSourceAsync(entry.PortalHost).ConfigureAwait(false);
            current = entry.State;
            if (credentials is not null && !credentials.SameAs(current.Credentials))
            {
                // Checked before the ask counts as done: credentials that are not valid are a failure of the source, not
                // a reason to go on with the ones it no longer gives.
                next = CreateState(entry, credentials);
            }
        }
        catch (OdcAuthenticationException e) when (!_shutdown.IsCancellationRequested)
        {
            entry.RecordSourceFailure(e.Message, _timeProvider.GetTimestamp());
            throw;
        }

        entry.ClearSourceFailure();
        if (credentials is null)
        {
            _cache.Remove(CacheKey(entry.Key));
            throw NoCredentials(entry.PortalHost);
        }

        current.MarkAsked();
        if (next is null)
        {
            return current;
        }

        if (!entry.Replace(current, next))
        {
            next.Retire();
            return entry.State;
        }

        _logger.OrganizationCredentialsChanged(entry.PortalHost, current.Credentials.ClientId, credentials.ClientId);
        return next;
    }

    private Task<OdcOrganizationEntry> GetOrCreateAsync(string key, Uri address)
    {
        if (_creating.TryGetValue(key, out var creating))
        {
            return creating;
        }

        var owner = new TaskCompletionSource<OdcOrganizationEntry>(TaskCreationOptions.RunContinuationsAsynchronously);
        creating = _creating.GetOrAdd(key, owner.Task);
        if (ReferenceEquals(creating, owner.Task))
        {
            _ = CreateAsync(owner, key, address);
        }

        return creating;
    }

    private async Task CreateAsync(TaskCompletionSource<OdcOrganizationEntry> owner, string key, Uri address)
    {
        try
        {
            // Another request may have created it between our lookup and our claim.
            if (TryGetCached(address, out var cached))
            {
                owner.SetResult(cached);
                return;
            }

            var portalHost = address.Authority;
            var credentials = await AskSourceAsync(portalHost).ConfigureAwait(false) ?? throw NoCredentials(portalHost);
            var entry = new OdcOrganizationEntry(key, portalHost, new Uri(address.GetLeftPart(UriPartial.Authority) + "/"));
            entry.Initialize(CreateState(entry, credentials));
            entry.LastUsed = entry.LastTouched = Now();
            _live[key] = entry;
            lock (_makingRoom)
            {
                MakeRoom(entry);
                using var cacheEntry = _cache.CreateEntry(CacheKey(key));
                cacheEntry.Value = entry;
                cacheEntry.Size = 1;
                cacheEntry.SlidingExpiration = _slidingExpiration;
                cacheEntry.RegisterPostEvictionCallback(_evicted, this);
            }

            owner.SetResult(entry);
        }
#pragma warning disable CA1031 // Every failure goes to the waiting requests.
        catch (Exception e)
#pragma warning restore CA1031
        {
            owner.SetException(e);
        }
        finally
        {
            _creating.TryRemove(new KeyValuePair<string, Task<OdcOrganizationEntry>>(key, owner.Task));
        }
    }

    private OdcOrganizationState CreateState(OdcOrganizationEntry entry, OdcOrganizationCredentials credentials)
    {
        var options = _options.ForOrganization(entry.Portal.GetLeftPart(UriPartial.Authority), credentials);
        var name = $"{_clientName} ({entry.PortalHost})";
        var validation = new OdcAuthenticationOptionsValidator().Validate(name, options);
        if (validation.Failed)
        {
            throw new OdcAuthenticationException(
                $"The credentials the credential source gave for host '{entry.PortalHost}' are not valid: {string.Join(" ", validation.Failures)}");
        }

        var settings = new OdcClientSettings(name, options, _options.TagOrganizationInMetrics ? null : UntaggedOrganization);
        var manager = new OdcTokenManager(
            settings, _discovery, _tokenClient, _timeProvider, Telemetry, _jitter,
            _sharedStore is null ? null : new BorrowedSharedTokenStore(_sharedStore.Value),
            _loggerFactory.CreateLogger<OdcTokenManager>());
        Interlocked.Increment(ref _liveManagers);
        return new OdcOrganizationState(entry, credentials, manager, () => Interlocked.Decrement(ref _liveManagers));
    }

    private async Task<OdcOrganizationCredentials?> AskSourceAsync(string portalHost)
    {
        using var timeout = new CancellationTokenSource(_options.BackchannelTimeout, _timeProvider);
        using var linked = CancellationTokenSource.CreateLinkedTokenSource(timeout.Token, _shutdown.Token);
        try
        {
            // Bounded even when the source ignores its token: a source that never answers must not hold every
            // later request to this host (they join this one call).
            return await _source.GetCredentialsAsync(portalHost, linked.Token).AsTask()
                .WaitAsync(_options.BackchannelTimeout, _timeProvider, _shutdown.Token).ConfigureAwait(false);
        }
        catch (Exception e) when (e is TimeoutException || (e is OperationCanceledException && timeout.IsCancellationRequested && !_shutdown.IsCancellationRequested))
        {
            _logger.CredentialSourceFailed(portalHost, "timeout");
            throw new OdcAuthenticationException(
                $"The ODC credential source ({_source.GetType().Name}) did not answer for host '{portalHost}' within {_options.BackchannelTimeout.TotalSeconds:0.#} s (BackchannelTimeout); the request was not sent.");
        }
        catch (Exception e) when (e is not OdcAuthenticationException)
        {
            // Neither the source's message nor its exception is kept: they are the application's, and may quote what it
            // read (a connection string, a secret); an exception logged with its inner exceptions would print them.
            _logger.CredentialSourceFailed(portalHost, e.GetType().Name);
            throw new OdcAuthenticationException(
                $"The ODC credential source ({_source.GetType().Name}) failed for host '{portalHost}' with {e.GetType().FullName}; the request was not sent. Its message is not repeated here, as it may quote a secret: look at the source's own logs.");
        }
    }

    private OdcAuthenticationException NoCredentials(string portalHost)
    {
        _logger.OrganizationUnknown(portalHost, _clientName);
        return new OdcAuthenticationException(
            $"No ODC credentials for host '{portalHost}': the credential source ({_source.GetType().Name}) of HttpClient '{_clientName}' knows no organisation there. The request was not sent.");
    }

    private void OnEvicted(object key, object? value, EvictionReason reason, object? state)
    {
        if (value is OdcOrganizationEntry entry && reason != EvictionReason.None)
        {
            _live.TryRemove(new KeyValuePair<string, OdcOrganizationEntry>(entry.Key, entry));
            entry.Evict();
            if (_logger.IsEnabled(LogLevel.Debug))
            {
                _logger.OrganizationEvicted(entry.PortalHost, reason.ToString());
            }
        }
    }

    /// <summary>
    /// In OdcHandler's own cache, lets the least recently used organisation go when the cache is full, before a new one
    /// is added. MemoryCache itself would refuse the newcomer (dropping the organisation just served, whose next request
    /// would ask the source and fetch again), compact on another thread by its last touch rather than its last use, and
    /// below a SizeLimit of 20 free nothing at all (5 % of the size, rounded down).
    /// </summary>
    private void MakeRoom(OdcOrganizationEntry newcomer)
    {
        if (!_ownsCache)
        {
            return;
        }

        var cache = (MemoryCache)_cache;
        if (cache.Count < _options.SizeLimit)
        {
            return;
        }

        // By the last request, not the last touch; one already taken out (its eviction callback pending) is not counted.
        foreach (var oldest in _live.Values
            .Where(candidate => !ReferenceEquals(candidate, newcomer) && !candidate.IsEvicted && !candidate.HasLeftCache)
            .OrderBy(candidate => Volatile.Read(ref candidate.LastUsed))
            .ToList())
        {
            oldest.LeaveCache();
            cache.Remove(oldest.Key);
            if (cache.Count < _options.SizeLimit)
            {
                return;
            }
        }
    }

    /// <summary>How often a request touches its organisation's cache entry: every second, or a quarter of a shorter idle expiration.</summary>
    internal static TimeSpan TouchInterval(TimeSpan idleExpiration) =>
        idleExpiration / 4 < TimeSpan.FromSeconds(1) ? idleExpiration / 4 : TimeSpan.FromSeconds(1);

    private long Now() => _systemClock ? Environment.TickCount64 : _timeProvider.GetTimestamp();

    private long InClockUnits(TimeSpan span) => _systemClock
        ? Math.Max(1, (long)span.TotalMilliseconds)
        : Math.Max(1, (long)(span.TotalSeconds * _timeProvider.TimestampFrequency));

    /// <summary>
    /// MemoryCache looks for expired entries only when it is accessed; without requests an idle organisation would keep
    /// its manager (and its refresh timer) long after its idle expiration. Once a minute the cache is accessed for that.
    /// </summary>
    private void Probe()
    {
        try
        {
            if (_cache is MemoryCache own && _ownsCache)
            {
                // Removes what has expired now, rather than starting a scan on another thread.
                own.Compact(0);
            }
            else
            {
                _cache.TryGetValue(_probeKey, out _);
            }
        }
#pragma warning disable CA1031 // A timer callback: an application cache disposed under us must not crash the process.
        catch (Exception)
#pragma warning restore CA1031
        {
        }
    }

    /// <summary>
    /// The host for https on the default port, as every ODC portal is addressed: <see cref="Uri.Host"/> is kept by the
    /// <see cref="Uri"/>, so the warm path allocates nothing for it (<see cref="Uri.Authority"/> is built on every call).
    /// Anything else keeps scheme and port, so http and https on one loopback port are not one organisation.
    /// </summary>
    private static string KeyOf(Uri address) =>
        address.Scheme == Uri.UriSchemeHttps && address.IsDefaultPort ? address.Host : address.GetLeftPart(UriPartial.Authority);

    /// <summary>In the application's cache, a key no other code can collide with; in OdcHandler's own, the string itself.</summary>
    private object CacheKey(string key) => _ownsCache ? key : new OrganizationCacheKey(this, key);

    private sealed record OrganizationCacheKey(OdcOrganizationCache Owner, string Key);
}
