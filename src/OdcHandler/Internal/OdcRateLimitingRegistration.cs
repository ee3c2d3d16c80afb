namespace OdcHandler.Internal;

/// <summary>Marks an HttpClient name that <c>AddOdcRateLimiting</c> was called on.</summary>
internal sealed record OdcRateLimitingRegistration(string ClientName);
