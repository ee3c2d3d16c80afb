namespace OdcHandler.Internal;

/// <summary>Marks an HttpClient name that <c>AddOdcAuthentication</c> was called on.</summary>
internal sealed record OdcClientRegistration(string ClientName);
