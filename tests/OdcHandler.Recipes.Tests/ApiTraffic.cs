using System.Collections.Concurrent;
using OdcHandler.Testing;

namespace OdcHandler.Recipes.Tests;

/// <summary>
/// What reached the fake ODC's API routes, seen from the bottom of the HttpClient pipeline (below OdcHandler), so
/// the Authorization header is the one actually sent. Bodies are not read here: reading a one-shot body would
/// change what the fake, and any replay, gets.
/// </summary>
public sealed class ApiTraffic
{
    private readonly ConcurrentQueue<SeenRequest> _seen = new();

    /// <summary>The API requests in the order they were sent (discovery and token requests left out).</summary>
    public IReadOnlyList<SeenRequest> Requests => [.. _seen];

    /// <summary>A primary handler over <paramref name="odc"/> that records each API request on its way in.</summary>
    public HttpMessageHandler CreatePrimaryHandler(FakeOdcServer odc) => new Recorder(this, odc.CreateHandler());

    private sealed class Recorder(ApiTraffic traffic, HttpMessageHandler inner) : DelegatingHandler(inner)
    {
        protected override Task<HttpResponseMessage> SendAsync(HttpRequestMessage request, CancellationToken cancellationToken)
        {
            if (request.RequestUri!.AbsolutePath.StartsWith("/api/", StringComparison.Ordinal))
            {
                traffic._seen.Enqueue(new SeenRequest(
                    request.Method,
                    request.RequestUri.PathAndQuery,
                    request.Headers.Authorization?.ToString(),
                    request.Content?.GetType().Name));
            }

            return base.SendAsync(request, cancellationToken);
        }
    }
}

/// <summary>One API request as sent.</summary>
public sealed record SeenRequest(HttpMethod Method, string PathAndQuery, string? Authorization, string? ContentType);
