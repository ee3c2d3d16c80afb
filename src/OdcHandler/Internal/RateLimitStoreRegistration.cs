namespace OdcHandler.Internal;

/// <summary>Says that the HttpClient named <see cref="ClientName"/> takes its permits from a store the fleet shares.</summary>
internal sealed record RateLimitStoreRegistration(string ClientName, Func<IServiceProvider, IOdcRateLimitStore> CreateStore);
