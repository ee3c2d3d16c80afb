using OdcHandler;
using OdcHandler.Internal;

namespace Microsoft.Extensions.DependencyInjection;

/// <summary>Shares an ODC client's access token between the instances of an application through a store of your choice.</summary>
public static class OdcSharedTokenStoreHttpClientBuilderExtensions
{
    /// <summary>
    /// Makes the instances of an application share this client's token through <paramref name="createStore"/>'s
    /// store, so that one instance fetches it and the others use it. For Redis, use <c>UseRedisTokenCache</c>
    /// from the <c>OdcHandler.Redis</c> package, which calls this.
    /// </summary>
    /// <param name="builder">The HttpClient builder, with <c>AddOdcAuthentication</c>.</param>
    /// <param name="createStore">
    /// Creates the store; called once per set of credentials, when the client's token is first needed. A store
    /// that implements <see cref="IDisposable"/> is disposed with the token cache.
    /// </param>
    /// <returns>The value of <paramref name="builder"/>.</returns>
    /// <remarks>
    /// The store is asked only when the instance has no usable token in memory; requests that have one never
    /// wait for it. Store failures never fail a request: the instance fetches its own token. See
    /// <see cref="IOdcSharedTokenStore"/> for the contract. Called again for the same client, the last store wins.
    /// </remarks>
    /// <exception cref="InvalidOperationException">The builder has no client name (it is <c>ConfigureHttpClientDefaults</c>'s).</exception>
    public static IHttpClientBuilder UseSharedTokenStore(this IHttpClientBuilder builder, Func<IServiceProvider, IOdcSharedTokenStore> createStore)
    {
        NamedClientBuilder.Require(builder, nameof(UseSharedTokenStore));
        ArgumentNullException.ThrowIfNull(createStore);
        builder.Services.AddSingleton(new SharedTokenStoreRegistration(builder.Name, createStore));
        return builder;
    }
}
