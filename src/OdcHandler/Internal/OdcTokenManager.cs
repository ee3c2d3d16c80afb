using System.Diagnostics;
using System.Diagnostics.CodeAnalysis;
using Microsoft.Extensions.Logging;

namespace OdcHandler.Internal;

/// <summary>
/// The token state machine of one cache key: none → valid → refresh due → expired.
/// </summary>
/// <remarks>
/// Requests read an immutable <see cref="OdcAccessToken"/> snapshot without locking. Only a missing or
/// expired token makes a caller wait, and all waiting callers share one fetch, which runs on its own
/// cancellation so one caller giving up never cancels the others. Inside the refresh window the current
/// token keeps being served while one background fetch replaces it; if that fails, the old token is kept
/// until it really expires and the refresh is retried with back-off. After a failure with nothing usable
/// cached, callers get the same exception for <see cref="OdcAuthenticationOptions.FailureCooldown"/>
/// instead of calling the identity service again.
/// </remarks>
internal sealed class OdcTokenManager : ITokenSource, IDisposable
{
    private static readonly TimeSpan s_maxBackgroundRetryDelay = TimeSpan.FromMinutes(1);

    private volatile OdcClientSettings _settings;
    private readonly DiscoveryDocumentCache _discovery;
    private readonly TokenEndpointClient _tokenClient;
    private readonly TimeProvider _timeProvider;
    private readonly OdcTelemetry _telemetry;
    private readonly JitterSource _jitter;
    private readonly IOdcSharedTokenStore? _sharedStore;
    private readonly string _sharedName;
    private readonly ILogger _logger;
    private readonly CancellationTokenSource _shutdown = new();
    private readonly object _gate = new();

    private volatile TokenSlot? _slot;
    private volatile string? _rejectedValue;
    private volatile Task<OdcAccessToken>? _pending;
    private ActivityContext _pendingActivity;
    private OdcAuthenticationException? _failure;
    private DateTimeOffset _failureUntil;
    private OdcAuthenticationException? _refreshFailure;
    private DateTimeOffset _nextBackgroundAttempt;
    private int _backgroundFailures;
    private int _disposed;

    // A token fetched because the API rejected the previous one; if the API rejects it too within the
    // cool-down, the API refuses this client (a permission problem), not its token.
    private bool _replacingRejected;
    private OdcAccessToken? _replacementOfRejected;
    private DateTimeOffset _replacementFetchedAt;

    public OdcTokenManager(
        OdcClientSettings settings,
        DiscoveryDocumentCache discovery,
        TokenEndpointClient tokenClient,
        TimeProvider timeProvider,
        OdcTelemetry telemetry,
        JitterSource jitter,
        IOdcSharedTokenStore? sharedStore,
        ILogger logger)
    {
        _settings = settings;
        _discovery = discovery;
        _tokenClient = tokenClient;
        _timeProvider = timeProvider;
        _telemetry = telemetry;
        _jitter = jitter;
        _sharedStore = sharedStore;
        _sharedName = settings.CacheKey.SharedName();
        _logger = GuardedLogger.Wrap(logger);
    }

    public OdcClientSettings Settings => _settings;

    /// <summary>Takes reloaded options of the same credentials: timeouts, cool-down and refresh timing apply from the next use.</summary>
    public void UpdateSettings(OdcClientSettings settings)
    {
        Debug.Assert(settings.CacheKey == _settings.CacheKey, "A manager serves one set of credentials.");
        lock (_gate)
        {
            // A cool-down in progress takes the new length, counted from the same failure.
            _failureUntil += settings.Options.FailureCooldown - _settings.Options.FailureCooldown;
            _settings = settings;
        }
    }

    public OdcTelemetry Telemetry => _telemetry;

    /// <summary>Whether this manager was released (its credentials are no longer configured, or the application stopped).</summary>
    public bool IsDisposed => Volatile.Read(ref _disposed) != 0;

    /// <summary>Starts from a token another manager of the same credentials holds (a reload changed only lifecycle settings).</summary>
    public void Adopt(OdcAccessToken token)
    {
        if (token.IsExpired(_timeProvider.GetUtcNow()))
        {
            return;
        }

        lock (_gate)
        {
            _slot ??= new TokenSlot(token, _timeProvider);
        }
    }

    /// <summary>The cached token, valid or not; for observers such as the time-to-expiry gauge.</summary>
    public OdcAccessToken? Current => _slot?.Token;

    /// <summary>The hot path: no lock, no clock, no allocation; the slot's timer keeps its phase current.</summary>
    public bool TryGetUsable([NotNullWhen(true)] out OdcAccessToken? token)
    {
        var slot = _slot;
        if (slot is not null)
        {
            var phase = slot.Phase;
            if (phase != TokenSlot.Expired)
            {
                if (phase == TokenSlot.RefreshDue)
                {
                    StartBackgroundRefresh(slot);
                }

                _telemetry.CacheLookup(_settings.TelemetryClientId, hit: true);
                token = slot.Token;
                return true;
            }
        }

        token = null;
        return false;
    }

    public ValueTask<OdcAccessToken> GetAsync(CancellationToken cancellationToken)
    {
        if (TryGetUsable(out var token))
        {
            return new ValueTask<OdcAccessToken>(token);
        }

        _telemetry.CacheLookup(_settings.TelemetryClientId, hit: false);
        var fetch = JoinOrStartFetch();
        return new ValueTask<OdcAccessToken>(fetch.IsCompleted ? fetch : fetch.WaitAsync(cancellationToken));
    }

    public void Invalidate(OdcAccessToken? rejected) => Invalidate(rejected, rejectedByApi: false);

    bool ITokenSource.Invalidate(OdcAccessToken rejected) => Invalidate(rejected, rejectedByApi: true);

    /// <summary>Drops <paramref name="rejected"/> if it is still the cached token.</summary>
    /// <returns>
    /// Whether a retry would get another token: <see langword="false"/> when the API rejected a token that
    /// was itself fetched, less than <see cref="OdcAuthenticationOptions.FailureCooldown"/> ago, because the
    /// API had rejected its predecessor; that token is kept, since a new one would be refused the same way.
    /// </returns>
    public bool Invalidate(OdcAccessToken? rejected, bool rejectedByApi)
    {
        lock (_gate)
        {
            var slot = _slot;
            if (slot is null || (rejected is not null && !ReferenceEquals(slot.Token, rejected)))
            {
                return true;
            }

            if (rejectedByApi && ReferenceEquals(slot.Token, _replacementOfRejected)
                && _timeProvider.GetUtcNow() < _replacementFetchedAt + _settings.Options.FailureCooldown)
            {
                return false;
            }

            _slot = null;
            slot.Dispose();
            _replacingRejected = rejectedByApi;

            // A shared store may still hold the dropped token; it must not come back from there.
            _rejectedValue = slot.Token.Value;
        }

        _logger.TokenInvalidated(_settings.ClientId);
        return true;
    }

    /// <summary>The fetch in flight, or a completed task; lets callers (and tests) wait for a background refresh to settle.</summary>
    internal Task WhenFetchSettled()
    {
        var pending = _pending;
        return pending is null ? Task.CompletedTask : pending.ContinueWith(static _ => { }, CancellationToken.None, TaskContinuationOptions.ExecuteSynchronously, TaskScheduler.Default);
    }

    public TokenHealth GetHealth()
    {
        lock (_gate)
        {
            var now = _timeProvider.GetUtcNow();
            if (_slot?.Token is { } current && !current.IsExpired(now))
            {
                return _refreshFailure is { } refreshFailure
                    ? new TokenHealth(TokenHealthState.ServingOldToken, current.ExpiresAt, refreshFailure)
                    : new TokenHealth(TokenHealthState.Valid, current.ExpiresAt, null);
            }

            // The last failure is kept until a success, cool-down or not: with FailureCooldown = 0 the health
            // check's own attempt is over by the time it reads the state, and it must still say why.
            return _failure is { } failure && now < _failureUntil
                ? new TokenHealth(TokenHealthState.Failing, null, failure)
                : new TokenHealth(TokenHealthState.Unknown, null, _failure);
        }
    }

    public void Dispose()
    {
        if (Interlocked.Exchange(ref _disposed, 1) == 0)
        {
            _shutdown.Cancel();
            _shutdown.Dispose();
            lock (_gate)
            {
                _slot?.Dispose();
            }

            (_sharedStore as IDisposable)?.Dispose();
        }
    }

    private Task<OdcAccessToken> JoinOrStartFetch()
    {
        TaskCompletionSource<OdcAccessToken> owner;
        lock (_gate)
        {
            var now = _timeProvider.GetUtcNow();
            if (_slot?.Token is { } current && !current.IsExpired(now))
            {
                return Task.FromResult(current);
            }

            if (_pending is { } pending)
            {
                LinkWaiterToFetch(_pendingActivity);
                return pending;
            }

            if (_failure is { } failure && now < _failureUntil)
            {
                return Task.FromException<OdcAccessToken>(failure);
            }

            if (_disposed != 0)
            {
                return Task.FromException<OdcAccessToken>(new OdcAuthenticationException(
                    $"The credentials of client id '{_settings.ClientId}' were replaced (the options were reloaded) while this request waited for a token; send it again."));
            }

            owner = new TaskCompletionSource<OdcAccessToken>(TaskCreationOptions.RunContinuationsAsynchronously);
            _pending = owner.Task;
        }

        _ = FetchAsync(owner, background: false);
        return owner.Task;
    }

    private void StartBackgroundRefresh(TokenSlot slot)
    {
        if (_pending is not null)
        {
            return;
        }

        var current = slot.Token;
        TaskCompletionSource<OdcAccessToken> owner;
        lock (_gate)
        {
            if (_pending is not null || !ReferenceEquals(_slot, slot) || !TryGetUtcNow(out var now) || now < _nextBackgroundAttempt)
            {
                return;
            }

            owner = new TaskCompletionSource<OdcAccessToken>(TaskCreationOptions.RunContinuationsAsynchronously);
            _pending = owner.Task;
        }

        _logger.BackgroundRefreshStarted(_settings.ClientId, current.ExpiresAt);

        // Off the request's thread, and outside its trace: the request that noticed the refresh window
        // neither pays for the fetch nor becomes its parent (the fetch's span links to it instead).
        var trigger = Activity.Current?.Context ?? default;
        _ = Task.Run(() =>
        {
            Activity.Current = null;
            return FetchAsync(owner, background: true, trigger);
        });
    }

    /// <summary>
    /// Runs one fetch to completion and settles <paramref name="owner"/>; never throws. Whatever the
    /// application's code (clock, loggers, meter and activity listeners) throws on the way, the owner is
    /// settled and <see cref="_pending"/> cleared, or every later caller would wait for it forever.
    /// </summary>
    private async Task FetchAsync(TaskCompletionSource<OdcAccessToken> owner, bool background, ActivityContext trigger = default)
    {
        long started = 0;
        Activity? activity = null;
        try
        {
            started = _timeProvider.GetTimestamp();
            activity = OdcTelemetry.StartActivity(
                "odc.token.acquire",
                ActivityKind.Internal,
                tags: [new("odc.client.id", _settings.ClientId), new("odc.token.refresh", background)],
                links: trigger == default ? null : [new ActivityLink(trigger)]);
            lock (_gate)
            {
                _pendingActivity = activity?.Context ?? default;
            }

            var token = await AcquireAsync(_shutdown.Token).ConfigureAwait(false);
            var slot = new TokenSlot(token, _timeProvider);
            lock (_gate)
            {
                _replacementOfRejected = _replacingRejected ? token : null;
                _replacementFetchedAt = _timeProvider.GetUtcNow();
                _replacingRejected = false;
                _slot?.Dispose();
                _slot = slot;
                _pending = null;
                _failure = null;
                _refreshFailure = null;
                _backgroundFailures = 0;
                _nextBackgroundAttempt = default;
            }

            _telemetry.Acquired(_settings.TelemetryClientId, _timeProvider, started, failure: null);
            owner.TrySetResult(token);
        }
        catch (Exception exception)
        {
            var failure = exception as OdcAuthenticationException
                ?? new OdcAuthenticationException($"Acquiring an access token for client id '{_settings.ClientId}' failed unexpectedly ({exception.GetType().Name}).", exception);
            try
            {
                activity?.SetStatus(ActivityStatusCode.Error, failure.Error ?? "token acquisition failed");
                activity?.SetTag("error.type", OdcTelemetry.ErrorType(failure));
                _telemetry.Acquired(_settings.TelemetryClientId, _timeProvider, started, failure);
                RecordFailure(failure);
            }
            finally
            {
                lock (_gate)
                {
                    if (ReferenceEquals(_pending, owner.Task))
                    {
                        _pending = null;
                    }
                }

                owner.TrySetException(failure);

                // A background refresh may have no waiter; reading the exception marks it observed.
                _ = owner.Task.Exception;
            }
        }
        finally
        {
            OdcTelemetry.StopActivity(activity);
        }
    }

    private void RecordFailure(OdcAuthenticationException failure)
    {
        // Without a clock there is no cool-down or back-off to compute: the next caller simply tries again.
        var now = TryGetUtcNow(out var utcNow) ? utcNow : DateTimeOffset.MinValue;
        OdcAccessToken? stillValid;
        DateTimeOffset until;
        lock (_gate)
        {
            _pending = null;
            stillValid = _slot?.Token is { } current && !current.IsExpired(now) ? current : null;
            if (stillValid is not null)
            {
                _backgroundFailures++;
                _refreshFailure = failure;
                var delay = TimeSpan.FromTicks(Math.Min(
                    _settings.Options.FailureCooldown.Ticks * (1L << Math.Min(_backgroundFailures - 1, 16)),
                    s_maxBackgroundRetryDelay.Ticks));
                _nextBackgroundAttempt = until = now + delay;
            }
            else
            {
                _failure = failure;
                _failureUntil = until = now + _settings.Options.FailureCooldown;
            }
        }

        if (stillValid is not null)
        {
            _telemetry.RefreshFailed(_settings.TelemetryClientId, failure);
            _logger.BackgroundRefreshFailed(_settings.ClientId, stillValid.ExpiresAt, until, failure.Message);
        }
        else
        {
            _logger.TokenAcquisitionFailed(_settings.ClientId, until, failure.Message);
        }
    }

    /// <summary>The time, unless the application's <see cref="TimeProvider"/> throws: then the caller decides without it.</summary>
    private bool TryGetUtcNow(out DateTimeOffset now)
    {
        try
        {
            now = _timeProvider.GetUtcNow();
            return true;
        }
        catch (Exception)
        {
            now = default;
            return false;
        }
    }

    private async Task<OdcAccessToken> AcquireAsync(CancellationToken cancellationToken)
    {
        if (_sharedStore is not { } store)
        {
            return await RequestTokenAsync(cancellationToken).ConfigureAwait(false);
        }

        // Another instance may already hold a good token; else one instance (the lease holder) asks the
        // identity service and the others wait for its answer, a bounded time, then ask themselves.
        // A store that fails costs one bounded command: after the first failure this acquisition asks the
        // identity service at once and leaves the store alone (a lease it took expires by itself).
        var read = await ReadSharedAsync(store, cancellationToken).ConfigureAwait(false);
        if (read.Failed)
        {
            return await RequestTokenAsync(cancellationToken).ConfigureAwait(false);
        }

        if (read.Token is { } shared)
        {
            return shared;
        }

        var owner = Guid.NewGuid().ToString("N");
        var lease = await TrySharedAsync(() => store.TryTakeLeaseAsync(_sharedName, owner, cancellationToken)).ConfigureAwait(false);
        if (lease.Failed)
        {
            return await RequestTokenAsync(cancellationToken).ConfigureAwait(false);
        }

        if (lease.Value)
        {
            // The previous holder may have stored its token and released the lease between our read and
            // our lease: look once more before asking the identity service.
            var again = await ReadSharedAsync(store, cancellationToken).ConfigureAwait(false);
            if (again.Token is { } storedMeanwhile)
            {
                await ReleaseLeaseAsync(store, owner).ConfigureAwait(false);
                return storedMeanwhile;
            }

            OdcAccessToken token;
            try
            {
                token = await RequestTokenAsync(cancellationToken).ConfigureAwait(false);
            }
            catch when (!again.Failed)
            {
                await ReleaseLeaseAsync(store, owner).ConfigureAwait(false);
                throw;
            }

            if (!again.Failed)
            {
                var written = await TrySharedAsync(async () =>
                {
                    await store.WriteAsync(_sharedName, new OdcSharedToken(token.Value, token.ExpiresAt, token.Lifetime), cancellationToken).ConfigureAwait(false);
                    return true;
                }).ConfigureAwait(false);
                if (!written.Failed)
                {
                    await ReleaseLeaseAsync(store, owner).ConfigureAwait(false);
                }
            }

            return token;
        }

        var waitUntil = _timeProvider.GetUtcNow() + store.LeaseWait;
        while (_timeProvider.GetUtcNow() < waitUntil)
        {
            await Task.Delay(store.PollInterval, _timeProvider, cancellationToken).ConfigureAwait(false);
            var poll = await ReadSharedAsync(store, cancellationToken).ConfigureAwait(false);
            if (poll.Failed)
            {
                return await RequestTokenAsync(cancellationToken).ConfigureAwait(false);
            }

            if (poll.Token is { } fetchedByAnother)
            {
                return fetchedByAnother;
            }
        }

        _logger.SharedTokenWaitTimedOut(_settings.ClientId, store.LeaseWait);
        return await RequestTokenAsync(cancellationToken).ConfigureAwait(false);
    }

    private async Task ReleaseLeaseAsync(IOdcSharedTokenStore store, string owner) =>
        await TrySharedAsync(async () =>
        {
            await store.ReleaseLeaseAsync(_sharedName, owner, CancellationToken.None).ConfigureAwait(false);
            return true;
        }).ConfigureAwait(false);

    /// <summary>A token from the shared store that this instance would not refresh yet (or none), and whether the store failed.</summary>
    private async Task<(bool Failed, OdcAccessToken? Token)> ReadSharedAsync(IOdcSharedTokenStore store, CancellationToken cancellationToken)
    {
        var read = await TrySharedAsync(() => store.ReadAsync(_sharedName, cancellationToken)).ConfigureAwait(false);
        var shared = read.Value;
        if (read.Failed || shared is null || shared.AccessToken.Length == 0 || !OdcAccessToken.IsHeaderSafe(shared.AccessToken)
            || string.Equals(shared.AccessToken, _rejectedValue, StringComparison.Ordinal))
        {
            return (read.Failed, null);
        }

        var token = new OdcAccessToken(shared.AccessToken, shared.ExpiresAt, shared.ExpiresAt - RefreshLead(shared.Lifetime), shared.Lifetime);
        return (false, _timeProvider.GetUtcNow() < token.RefreshAt ? token : null);
    }

    /// <summary>
    /// A shared store that fails, is slow or answers garbage never fails a request: the failure is logged and
    /// reported, and the caller goes on without the store.
    /// </summary>
    private async Task<(bool Failed, T? Value)> TrySharedAsync<T>(Func<Task<T>> operation)
    {
        try
        {
            return (false, await operation().ConfigureAwait(false));
        }
        catch (Exception exception) when (exception is not OperationCanceledException || !_shutdown.IsCancellationRequested)
        {
            _logger.SharedTokenStoreFailed(_settings.ClientId, exception.GetType().Name, exception.Message);
            return (true, default);
        }
    }

    private async Task<OdcAccessToken> RequestTokenAsync(CancellationToken cancellationToken)
    {
        var tokenEndpoint = await _discovery.GetTokenEndpointAsync(_settings, cancellationToken).ConfigureAwait(false);
        var requestedAt = _timeProvider.GetUtcNow();
        TokenResponse response;
        try
        {
            response = await _tokenClient.RequestTokenAsync(tokenEndpoint, _settings, cancellationToken).ConfigureAwait(false);
        }
        catch (OdcAuthenticationException exception) when (exception.StatusCode is { } status && Backchannel.IsUnavailable(status))
        {
            // The realm moved or the cached document is stale: look it up afresh next time.
            _discovery.Invalidate(_settings.Endpoints.Discovery);
            throw;
        }

        // Measured from before the request was sent, so the token is never thought to live longer than it does.
        var expiresAt = requestedAt + response.Lifetime;
        var token = new OdcAccessToken(response.AccessToken, expiresAt, expiresAt - RefreshLead(response.Lifetime), response.Lifetime);
        _logger.TokenAcquired(_settings.ClientId, response.Lifetime, token.RefreshAt, expiresAt);
        return token;
    }

    /// <summary>
    /// How long before expiry the refresh starts: <see cref="OdcAuthenticationOptions.RefreshBeforeExpiry"/>
    /// (at most half the lifetime), plus a random share of <see cref="OdcAuthenticationOptions.RefreshJitter"/>
    /// (at most a quarter of the lifetime) so that a fleet of instances does not refresh in the same second.
    /// The jitter only ever makes the refresh earlier.
    /// </summary>
    private TimeSpan RefreshLead(TimeSpan lifetime)
    {
        var before = Math.Min(_settings.Options.RefreshBeforeExpiry.Ticks, lifetime.Ticks / 2);
        var jitterRange = Math.Min(_settings.Options.RefreshJitter.Ticks, lifetime.Ticks / 4);
        return TimeSpan.FromTicks(before + (long)(jitterRange * _jitter.NextFraction()));
    }

    /// <summary>A caller that waits for a fetch another caller started records the link to its span.</summary>
    private static void LinkWaiterToFetch(ActivityContext fetch)
    {
#if NET9_0_OR_GREATER
        if (fetch != default && Activity.Current is { } waiting)
        {
            waiting.AddLink(new ActivityLink(fetch));
        }
#else
        _ = fetch;
#endif
    }
}
