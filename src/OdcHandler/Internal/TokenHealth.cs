namespace OdcHandler.Internal;

/// <summary>What a token manager can say of itself to a health check, without calling anyone.</summary>
internal enum TokenHealthState
{
    /// <summary>A valid token is cached and nothing has failed since.</summary>
    Valid,

    /// <summary>A valid token is cached but refreshing it fails.</summary>
    ServingOldToken,

    /// <summary>The last acquisition failed and the cool-down is still on.</summary>
    Failing,

    /// <summary>No token and no cool-down on: only an acquisition can tell. <see cref="TokenHealth.Failure"/> is the last failure since the last success, if any.</summary>
    Unknown,
}

/// <summary>A manager's state at one moment.</summary>
internal sealed record TokenHealth(TokenHealthState State, DateTimeOffset? ExpiresAt, OdcAuthenticationException? Failure);
