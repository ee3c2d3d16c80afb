using Microsoft.Extensions.Logging;

namespace OdcHandler.Internal;

/// <summary>
/// Every log line OdcHandler writes. None takes a token or a secret as an argument, so none can log one.
/// </summary>
internal static partial class Log
{
    [LoggerMessage(EventId = 1, EventName = "DiscoveryFetched", Level = LogLevel.Debug,
        Message = "Fetched the discovery document from {DiscoveryEndpoint}; token endpoint {TokenEndpoint}, cached until {CachedUntil:O}.")]
    public static partial void DiscoveryFetched(this ILogger logger, Uri discoveryEndpoint, Uri tokenEndpoint, DateTimeOffset cachedUntil);

    [LoggerMessage(EventId = 2, EventName = "TokenAcquired", Level = LogLevel.Debug,
        Message = "Acquired an access token for client id {ClientId}: lifetime {Lifetime}, refresh from {RefreshAt:O}, expires at {ExpiresAt:O}.")]
    public static partial void TokenAcquired(this ILogger logger, string clientId, TimeSpan lifetime, DateTimeOffset refreshAt, DateTimeOffset expiresAt);

    [LoggerMessage(EventId = 3, EventName = "BackgroundRefreshStarted", Level = LogLevel.Debug,
        Message = "The access token for client id {ClientId} is due for refresh (expires at {ExpiresAt:O}); refreshing in the background while it is still used.")]
    public static partial void BackgroundRefreshStarted(this ILogger logger, string clientId, DateTimeOffset expiresAt);

    [LoggerMessage(EventId = 4, EventName = "BackgroundRefreshFailed", Level = LogLevel.Warning,
        Message = "Refreshing the access token for client id {ClientId} failed; the current token stays in use until it expires at {ExpiresAt:O}, next attempt from {NextAttemptAt:O}. {Reason}")]
    public static partial void BackgroundRefreshFailed(this ILogger logger, string clientId, DateTimeOffset expiresAt, DateTimeOffset nextAttemptAt, string reason);

    [LoggerMessage(EventId = 5, EventName = "TokenAcquisitionFailed", Level = LogLevel.Error,
        Message = "No access token could be acquired for client id {ClientId}; requests fail with OdcAuthenticationException until {CooldownUntil:O}, then the next one tries again. {Reason}")]
    public static partial void TokenAcquisitionFailed(this ILogger logger, string clientId, DateTimeOffset cooldownUntil, string reason);

    [LoggerMessage(EventId = 6, EventName = "TokenInvalidated", Level = LogLevel.Debug,
        Message = "Dropped the cached access token for client id {ClientId}.")]
    public static partial void TokenInvalidated(this ILogger logger, string clientId);

    [LoggerMessage(EventId = 7, EventName = "UnauthorizedRetry", Level = LogLevel.Debug,
        Message = "{Method} {Host} answered 401 to the access token; retrying once with a fresh token.")]
    public static partial void UnauthorizedRetry(this ILogger logger, HttpMethod method, string host);

    [LoggerMessage(EventId = 8, EventName = "UnauthorizedNotRetried", Level = LogLevel.Debug,
        Message = "{Method} {Host} answered 401 (token {Cause}); the request is not sent again because {Reason}.")]
    public static partial void UnauthorizedNotRetried(this ILogger logger, HttpMethod method, string host, string cause, string reason);

    [LoggerMessage(EventId = 9, EventName = "TokenNotAttached", Level = LogLevel.Trace,
        Message = "No access token attached to a request to {Host}: it is not the portal or an additional API host over https (or loopback).")]
    public static partial void TokenNotAttached(this ILogger logger, string host);

    [LoggerMessage(EventId = 10, EventName = "WarmUpFailed", Level = LogLevel.Warning,
        Message = "Acquiring the access token for HttpClient '{ClientName}' at start failed; the first request will try again. {Reason}")]
    public static partial void WarmUpFailed(this ILogger logger, string clientName, string reason);

    [LoggerMessage(EventId = 11, EventName = "SharedTokenStoreFailed", Level = LogLevel.Warning,
        Message = "The shared token store failed for client id {ClientId} ({ErrorType}: {Reason}); this instance goes on without it.")]
    public static partial void SharedTokenStoreFailed(this ILogger logger, string clientId, string errorType, string reason);

    [LoggerMessage(EventId = 12, EventName = "SharedTokenWaitTimedOut", Level = LogLevel.Information,
        Message = "Another instance held the token lease for client id {ClientId} but stored no token within {Wait}; fetching one here.")]
    public static partial void SharedTokenWaitTimedOut(this ILogger logger, string clientId, TimeSpan wait);

    [LoggerMessage(EventId = 20, EventName = "UnauthorizedKept", Level = LogLevel.Debug,
        Message = "{Method} {Host} answered 401; the access token is kept and the request is not sent again: {Reason}.")]
    public static partial void UnauthorizedKept(this ILogger logger, HttpMethod method, string host, string reason);

    [LoggerMessage(EventId = 30, EventName = "ClientSecretExpiring", Level = LogLevel.Warning,
        Message = "The client secret of ODC client id '{ClientId}' (HttpClient '{ClientName}') expires on {ExpiresOn:yyyy-MM-dd} at 23:59 UTC, in {DaysLeft} days: create a new secret in the ODC Portal, store it with its date and reload the configuration.")]
    public static partial void ClientSecretExpiring(this ILogger logger, string clientId, string clientName, DateOnly expiresOn, int daysLeft);

    [LoggerMessage(EventId = 31, EventName = "ClientSecretExpired", Level = LogLevel.Warning,
        Message = "The client secret of ODC client id '{ClientId}' (HttpClient '{ClientName}') expired on {ExpiresOn:yyyy-MM-dd} at 23:59 UTC by ClientSecretExpiresAt: create a new secret in the ODC Portal, store it with its date and reload the configuration.")]
    public static partial void ClientSecretExpired(this ILogger logger, string clientId, string clientName, DateOnly expiresOn);

    [LoggerMessage(EventId = 40, EventName = "RateLimitedResending", Level = LogLevel.Information,
        Message = "{Method} {Host} answered 429 under the rate limit '{LimitName}' (another application may share the quota); sending it again in {Delay} (resend {Resend}).")]
    public static partial void RateLimitedResending(this ILogger logger, HttpMethod method, string host, string limitName, TimeSpan delay, int resend);

    [LoggerMessage(EventId = 41, EventName = "RateLimitedReturned", Level = LogLevel.Warning,
        Message = "{Method} {Host} answered 429 under the rate limit '{LimitName}'; the 429 is returned because {Reason}.")]
    public static partial void RateLimitedReturned(this ILogger logger, HttpMethod method, string host, string limitName, string reason);

    [LoggerMessage(EventId = 42, EventName = "RateLimitWaitExceeded", Level = LogLevel.Warning,
        Message = "A request waited {MaxWait} for a permit under the rate limit '{LimitName}' ({PermitLimit} per {Window}) and was not sent.")]
    public static partial void RateLimitWaitExceeded(this ILogger logger, string limitName, int permitLimit, TimeSpan window, TimeSpan maxWait);

    [LoggerMessage(EventId = 50, EventName = "OrganizationUnknown", Level = LogLevel.Warning,
        Message = "No ODC credentials for host {PortalHost} (HttpClient {ClientName}); the request was not sent.")]
    public static partial void OrganizationUnknown(this ILogger logger, string portalHost, string clientName);

    [LoggerMessage(EventId = 51, EventName = "CredentialSourceFailed", Level = LogLevel.Error,
        Message = "The ODC credential source failed for host {PortalHost} ({ErrorType}); the request was not sent.")]
    public static partial void CredentialSourceFailed(this ILogger logger, string portalHost, string errorType);

    [LoggerMessage(EventId = 52, EventName = "OrganizationCredentialsChanged", Level = LogLevel.Information,
        Message = "The ODC credentials of host {PortalHost} changed (client id {PreviousClientId} -> {ClientId}); the next token is fetched with the new ones.")]
    public static partial void OrganizationCredentialsChanged(this ILogger logger, string portalHost, string previousClientId, string clientId);

    [LoggerMessage(EventId = 53, EventName = "OrganizationEvicted", Level = LogLevel.Debug,
        Message = "The ODC organisation at host {PortalHost} left the token cache ({Reason}); its timers stop.")]
    public static partial void OrganizationEvicted(this ILogger logger, string portalHost, string reason);

    [LoggerMessage(EventId = 43, EventName = "RateLimitStoreFailed", Level = LogLevel.Warning,
        Message = "The shared rate-limit store failed for HttpClient '{ClientName}' ({ErrorType}: {Reason}); this instance limits itself alone, with its in-process limiter, and asks the store again every {RetryInterval}.")]
    public static partial void RateLimitStoreFailed(this ILogger logger, string clientName, string errorType, string reason, TimeSpan retryInterval);

    [LoggerMessage(EventId = 44, EventName = "RateLimitStoreRecovered", Level = LogLevel.Information,
        Message = "The shared rate-limit store answers again for HttpClient '{ClientName}'; the fleet's permits are taken from it again.")]
    public static partial void RateLimitStoreRecovered(this ILogger logger, string clientName);
}
