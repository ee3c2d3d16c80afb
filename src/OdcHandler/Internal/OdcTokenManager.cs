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
/// until it really expires. After a failure with nothing usable cached, callers get the same exception
/// for <see cref="OdcAuthenticationOptions.FailureCooldown"/> instead of calling the identity service again.
/// </remarks>
internal sealed class OdcTokenManager : ITokenSource, IDisposable
{
    private static readonly TimeSpan s_maxBackgroundRetryDelay = TimeSpan.FromMinutes(1);

    private readonly OdcClientSettings _settings;
    private readonly DiscoveryDocumentCache _discovery;
    private readonly TokenEndpointClient _tokenClient;
    private readonly TimeProvider _timeProvider;
    private readonly ILogger _logger;
    private readonly CancellationTokenSource _shutdown = new();
    private readonly object _gate = new();

    private volatile OdcAccessToken? _current;
    private Task<OdcAccessToken>? _pending;
    private OdcAuthenticationException? _failure;
    private DateTimeOffset _failureUntil;
    private DateTimeOffset _nextBackgroundAttempt;
    private int _backgroundFailures;
    private int _disposed;

    public OdcTokenManager(
        OdcClientSettings settings,
        DiscoveryDocumentCache discovery,
        TokenEndpointClient tokenClient,
        TimeProvider timeProvider,
        ILogger logger)
    {
        _settings = settings;
        _discovery = discovery;
        _tokenClient = tokenClient;
        _timeProvider = timeProvider;
        _logger = logger;
    }

    public OdcClientSettings Settings => _settings;

    /// <summary>The fetch in flight, or a completed task; lets callers (and tests) wait for a background refresh to settle.</summary>
    internal Task WhenFetchSettled()
    {
        var pending = _pending;
        return pending is null ? Task.CompletedTask : pending.ContinueWith(static _ => { }, CancellationToken.None, TaskContinuationOptions.ExecuteSynchronously, TaskScheduler.Default);
    }

    public bool TryGetUsable([NotNullWhen(true)] out OdcAccessToken? token)
    {
        var current = _current;
        if (current is not null)
        {
            var now = _timeProvider.GetUtcNow();
            if (now < current.RefreshAt)
            {
                token = current;
                return true;
            }

            if (now < current.ExpiresAt)
            {
                StartBackgroundRefresh(current, now);
                token = current;
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

        var fetch = JoinOrStartFetch();
        return new ValueTask<OdcAccessToken>(fetch.IsCompleted ? fetch : fetch.WaitAsync(cancellationToken));
    }

    public void Invalidate(OdcAccessToken? rejected)
    {
        lock (_gate)
        {
            var current = _current;
            if (current is null || (rejected is not null && !ReferenceEquals(current, rejected)))
            {
                return;
            }

            _current = null;
        }

        _logger.TokenInvalidated(_settings.ClientId);
    }

    public void Dispose()
    {
        if (Interlocked.Exchange(ref _disposed, 1) == 0)
        {
            _shutdown.Cancel();
            _shutdown.Dispose();
        }
    }

    private Task<OdcAccessToken> JoinOrStartFetch()
    {
        TaskCompletionSource<OdcAccessToken> owner;
        lock (_gate)
        {
            var now = _timeProvider.GetUtcNow();
            if (_current is { } current && !current.IsExpired(now))
            {
                return Task.FromResult(current);
            }

            if (_pending is { } pending)
            {
                return pending;
            }

            if (_failure is { } failure && now < _failureUntil)
            {
                return Task.FromException<OdcAccessToken>(failure);
            }

            owner = new TaskCompletionSource<OdcAccessToken>(TaskCreationOptions.RunContinuationsAsynchronously);
            _pending = owner.Task;
        }

        _ = FetchAsync(owner);
        return owner.Task;
    }

    private void StartBackgroundRefresh(OdcAccessToken current, DateTimeOffset now)
    {
        if (_pending is not null || now < _nextBackgroundAttempt)
        {
            return;
        }

        TaskCompletionSource<OdcAccessToken> owner;
        lock (_gate)
        {
            if (_pending is not null || now < _nextBackgroundAttempt || !ReferenceEquals(_current, current))
            {
                return;
            }

            owner = new TaskCompletionSource<OdcAccessToken>(TaskCreationOptions.RunContinuationsAsynchronously);
            _pending = owner.Task;
        }

        _logger.BackgroundRefreshStarted(_settings.ClientId, current.ExpiresAt);

        // Off the request's thread: the request that noticed the refresh window must not pay for the fetch.
        _ = Task.Run(() => FetchAsync(owner));
    }

    /// <summary>Runs one fetch to completion and settles <paramref name="owner"/>; never throws.</summary>
    private async Task FetchAsync(TaskCompletionSource<OdcAccessToken> owner)
    {
        try
        {
            var token = await AcquireAsync(_shutdown.Token).ConfigureAwait(false);
            lock (_gate)
            {
                _current = token;
                _pending = null;
                _failure = null;
                _backgroundFailures = 0;
                _nextBackgroundAttempt = default;
            }

            owner.SetResult(token);
        }
        catch (Exception exception)
        {
            var failure = exception as OdcAuthenticationException
                ?? new OdcAuthenticationException($"Acquiring an access token for client id '{_settings.ClientId}' failed unexpectedly ({exception.GetType().Name}).", exception);
            RecordFailure(failure);
            owner.SetException(failure);

            // A background refresh may have no waiter; reading the exception marks it observed.
            _ = owner.Task.Exception;
        }
    }

    private void RecordFailure(OdcAuthenticationException failure)
    {
        var now = _timeProvider.GetUtcNow();
        OdcAccessToken? stillValid;
        DateTimeOffset until;
        lock (_gate)
        {
            _pending = null;
            stillValid = _current is { } current && !current.IsExpired(now) ? current : null;
            if (stillValid is not null)
            {
                _backgroundFailures++;
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
            _logger.BackgroundRefreshFailed(_settings.ClientId, stillValid.ExpiresAt, until, failure.Message);
        }
        else
        {
            _logger.TokenAcquisitionFailed(_settings.ClientId, until, failure.Message);
        }
    }

    private async Task<OdcAccessToken> AcquireAsync(CancellationToken cancellationToken)
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
        var refreshBefore = TimeSpan.FromTicks(Math.Min(_settings.Options.RefreshBeforeExpiry.Ticks, response.Lifetime.Ticks / 2));
        var token = new OdcAccessToken(response.AccessToken, expiresAt, expiresAt - refreshBefore);
        _logger.TokenAcquired(_settings.ClientId, response.Lifetime, token.RefreshAt, expiresAt);
        return token;
    }
}
