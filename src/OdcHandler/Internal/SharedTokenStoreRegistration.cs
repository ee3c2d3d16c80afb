namespace OdcHandler.Internal;

/// <summary>Says that the HttpClient named <see cref="ClientName"/> shares its token through a store.</summary>
internal sealed record SharedTokenStoreRegistration(string ClientName, Func<IServiceProvider, IOdcSharedTokenStore> CreateStore);
