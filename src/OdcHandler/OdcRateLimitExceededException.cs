namespace OdcHandler;

/// <summary>
/// A request waited longer than <see cref="OdcRateLimitOptions.MaxWait"/> for a permit under one of ODC's rate
/// limits and was not sent.
/// </summary>
public sealed class OdcRateLimitExceededException : HttpRequestException
{
    /// <summary>Creates an exception for the limit that had no permit.</summary>
    /// <param name="limitName">The limit: an API domain (<c>identity</c>) or an endpoint (<c>POST deployments/v1/deployment-operations</c>).</param>
    /// <param name="permitLimit">The requests that limit allows per <paramref name="window"/>.</param>
    /// <param name="window">The window the limit counts over.</param>
    /// <param name="waited">How long the request waited.</param>
    public OdcRateLimitExceededException(string limitName, int permitLimit, TimeSpan window, TimeSpan waited)
        : base($"The request was not sent: no permit under the rate limit '{limitName}' ({permitLimit} requests per {window}) within {waited}. Raise OdcRateLimitOptions.MaxWait, or send fewer requests.")
    {
        LimitName = limitName;
        PermitLimit = permitLimit;
        Window = window;
    }

    /// <summary>The limit that had no permit: an API domain or a method and endpoint path.</summary>
    public string LimitName { get; }

    /// <summary>The requests the limit allows per <see cref="Window"/>.</summary>
    public int PermitLimit { get; }

    /// <summary>The window the limit counts over.</summary>
    public TimeSpan Window { get; }
}
