using System.Collections.Concurrent;
using Microsoft.Extensions.Logging;

namespace OdcHandler.Internal;

/// <summary>
/// Fetches and caches the token endpoint from each discovery document, one fetch at a time per
/// document however many clients share it. Failures are not cached here: the token manager's
/// cool-down decides when to try again.
/// </summary>
/// <remarks>
/// The cache holds what the document says; whether a client may send its secret there (https, the
/// document's own host) is checked against that client's options on every acquisition, so a document
/// fetched for a lenient client never lowers a strict client's checks.
/// </remarks>
internal sealed class DiscoveryDocumentCache(IHttpClientFactory httpClientFactory, TimeProvider timeProvider, ILogger<DiscoveryDocumentCache> logger)
{
    private const int MaxDocumentBytes = 1024 * 1024;
    private const string What = "discovery document";

    private readonly ConcurrentDictionary<Uri, Slot> _slots = new();
    private readonly ILogger _logger = GuardedLogger.Wrap(logger);

    public async Task<Uri> GetTokenEndpointAsync(OdcClientSettings settings, CancellationToken cancellationToken)
    {
        var tokenEndpoint = await GetDocumentedTokenEndpointAsync(settings, cancellationToken).ConfigureAwait(false);
        try
        {
            EnsureSecretMayGoTo(tokenEndpoint, settings);
        }
        catch (OdcAuthenticationException)
        {
            // A document that names a refused endpoint is read afresh next time (after the manager's cool-down).
            Invalidate(settings.Endpoints.Discovery);
            throw;
        }

        return tokenEndpoint;
    }

    private Task<Uri> GetDocumentedTokenEndpointAsync(OdcClientSettings settings, CancellationToken cancellationToken)
    {
        var slot = _slots.GetOrAdd(settings.Endpoints.Discovery, static _ => new Slot());
        TaskCompletionSource<Uri> owner;
        lock (slot)
        {
            if (slot.TokenEndpoint is { } cached && timeProvider.GetUtcNow() < slot.CachedUntil)
            {
                return Task.FromResult(cached);
            }

            if (slot.Pending is { } pending)
            {
                return pending;
            }

            owner = new TaskCompletionSource<Uri>(TaskCreationOptions.RunContinuationsAsynchronously);
            slot.Pending = owner.Task;
        }

        _ = FetchAsync(slot, owner, settings, cancellationToken);
        return owner.Task;
    }

    /// <summary>Forgets a cached document, for example after its token endpoint answered 404.</summary>
    public void Invalidate(Uri discoveryEndpoint)
    {
        if (_slots.TryGetValue(discoveryEndpoint, out var slot))
        {
            lock (slot)
            {
                slot.TokenEndpoint = null;
            }
        }
    }

    private async Task FetchAsync(Slot slot, TaskCompletionSource<Uri> owner, OdcClientSettings settings, CancellationToken cancellationToken)
    {
        try
        {
            var tokenEndpoint = await FetchTokenEndpointAsync(settings, cancellationToken).ConfigureAwait(false);
            var cachedUntil = timeProvider.GetUtcNow() + settings.Options.DiscoveryCacheDuration;
            lock (slot)
            {
                slot.TokenEndpoint = tokenEndpoint;
                slot.CachedUntil = cachedUntil;
                slot.Pending = null;
            }

            _logger.DiscoveryFetched(settings.Endpoints.Discovery, tokenEndpoint, cachedUntil);
            owner.TrySetResult(tokenEndpoint);
        }
        catch (Exception exception)
        {
            // Whatever failed (the application's clock included), the fetch in flight is cleared and settled:
            // every client of this document waits on it.
            lock (slot)
            {
                if (ReferenceEquals(slot.Pending, owner.Task))
                {
                    slot.Pending = null;
                }
            }

            owner.TrySetException(exception);
        }
    }

    private async Task<Uri> FetchTokenEndpointAsync(OdcClientSettings settings, CancellationToken cancellationToken)
    {
        var discovery = settings.Endpoints.Discovery;
        using var request = new HttpRequestMessage(HttpMethod.Get, discovery);
        request.Headers.Accept.ParseAdd("application/json");
        var (response, body) = await Backchannel.SendAsync(httpClientFactory, timeProvider, request, settings, What, "odc.discovery", MaxDocumentBytes, cancellationToken).ConfigureAwait(false);
        using var answer = response;

        if (!response.IsSuccessStatusCode)
        {
            throw new OdcAuthenticationException(
                $"The discovery document at {discovery} answered HTTP {(int)response.StatusCode} {response.ReasonPhrase}. Check PortalDomain (or DiscoveryEndpoint): ODC serves it at https://<your portal domain>{OdcAuthenticationDefaults.DiscoveryPath}.",
                error: null, errorDescription: null, response.StatusCode);
        }

        using var document = BackchannelResponse.ParseObject(body, response, What);
        var value = BackchannelResponse.GetString(document.RootElement, "token_endpoint", What, response);
        if (string.IsNullOrWhiteSpace(value))
        {
            throw new OdcAuthenticationException(
                $"The discovery document at {discovery} has no \"token_endpoint\"; it is not an OpenID Connect discovery document. Check PortalDomain (or DiscoveryEndpoint).",
                error: null, errorDescription: null, response.StatusCode);
        }

        if (!Uri.TryCreate(value, UriKind.Absolute, out var tokenEndpoint)
            || (tokenEndpoint.Scheme != Uri.UriSchemeHttps && tokenEndpoint.Scheme != Uri.UriSchemeHttp))
        {
            throw new OdcAuthenticationException(
                $"The discovery document at {discovery} has a \"token_endpoint\" that is not an absolute http(s) address.",
                error: null, errorDescription: null, response.StatusCode);
        }

        return tokenEndpoint;
    }

    /// <summary>The client secret goes only over https (or loopback http, as the client's options allow) and only to the discovery document's own host.</summary>
    private static void EnsureSecretMayGoTo(Uri tokenEndpoint, OdcClientSettings settings)
    {
        var discovery = settings.Endpoints.Discovery;
        if (!OdcEndpoints.IsSecureEnough(tokenEndpoint, settings.Options.RequireHttps))
        {
            throw new OdcAuthenticationException(
                $"The discovery document at {discovery} names a plain-http token endpoint ({tokenEndpoint.GetLeftPart(UriPartial.Authority)}); the client secret is never sent unencrypted, so it was refused.",
                error: null, errorDescription: null, statusCode: null);
        }

        if (!string.Equals(tokenEndpoint.Host, discovery.Host, StringComparison.OrdinalIgnoreCase) || tokenEndpoint.Port != discovery.Port)
        {
            throw new OdcAuthenticationException(
                $"The discovery document at {discovery} names a token endpoint on another host ({tokenEndpoint.GetLeftPart(UriPartial.Authority)}); the client secret is sent only to the discovery document's own host, so it was refused.",
                error: null, errorDescription: null, statusCode: null);
        }
    }

    private sealed class Slot
    {
        public Uri? TokenEndpoint { get; set; }

        public DateTimeOffset CachedUntil { get; set; }

        public Task<Uri>? Pending { get; set; }
    }
}
