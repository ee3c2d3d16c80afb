using Microsoft.Extensions.DependencyInjection;

namespace OdcHandler.Internal;

/// <summary>
/// OdcHandler's settings belong to one named HttpClient (its options, limits and token are found by that name). The
/// builder <c>ConfigureHttpClientDefaults</c> gives has no name: settings made there would apply to no client at all,
/// silently, so they are refused with what to do instead.
/// </summary>
internal static class NamedClientBuilder
{
    public static void Require(IHttpClientBuilder builder, string method)
    {
        ArgumentNullException.ThrowIfNull(builder);
        if (builder.Name is null)
        {
            throw new InvalidOperationException(
                $"{method} applies to one named HttpClient, and this builder has none (ConfigureHttpClientDefaults): it would apply to no client. " +
                "Call it on the builder that AddHttpClient returns, for each client that calls ODC.");
        }
    }
}
