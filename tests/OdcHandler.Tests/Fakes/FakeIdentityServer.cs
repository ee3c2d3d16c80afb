using System.Collections.Concurrent;
using System.Net;
using System.Text;
using System.Text.Json;
using Microsoft.Extensions.Time.Testing;

namespace OdcHandler.Tests.Fakes;

/// <summary>
/// A scriptable stand-in for ODC's identity service and one API, answering in memory: discovery,
/// token endpoint and <c>/api/*</c>. Counts every call so tests can assert exact numbers.
/// </summary>
public sealed class FakeIdentityServer
{
    public const string Portal = "https://myorg.outsystems.dev";
    public const string ClientId = "my-client";
    public const string Secret = "a+b/c=d&e%f g";
    public const string Realm = "6a1b2c3d-0000-4000-8000-000000000001";

    private int _discoveryRequests;
    private int _tokenRequests;
    private int _apiRequests;
    private int _issued;

    public FakeIdentityServer(string portal = Portal)
    {
        PortalUri = new Uri(portal);
        TokenEndpoint = new Uri(PortalUri, $"/auth/realms/{Realm}/protocol/openid-connect/token");
    }

    public FakeTimeProvider Time { get; } = new(new DateTimeOffset(2026, 11, 30, 8, 0, 0, TimeSpan.Zero));

    public Uri PortalUri { get; }

    public Uri TokenEndpoint { get; set; }

    public int DiscoveryRequests => _discoveryRequests;

    public int TokenRequests => _tokenRequests;

    public int ApiRequests => _apiRequests;

    public int TokenLifetimeSeconds { get; set; } = 43200;

    public ConcurrentQueue<RecordedRequest> Requests { get; } = new();

    public ConcurrentDictionary<string, bool> ValidTokens { get; } = new();

    /// <summary>The fake time at which each token request arrived.</summary>
    public ConcurrentQueue<DateTimeOffset> TokenRequestTimes { get; } = new();

    /// <summary>When set, answers token requests instead of the default issuer.</summary>
    public Func<HttpRequestMessage, HttpResponseMessage>? TokenResponder { get; set; }

    /// <summary>When set, answers discovery instead of the default document.</summary>
    public Func<HttpRequestMessage, HttpResponseMessage>? DiscoveryResponder { get; set; }

    /// <summary>When set, API calls answer through it; by default a known token gets 200, anything else 401.</summary>
    public Func<RecordedRequest, Task<HttpResponseMessage>>? ApiResponder { get; set; }

    /// <summary>When set, token requests wait for it before answering.</summary>
    public TaskCompletionSource? TokenGate { get; set; }

    /// <summary>Counts token requests that have arrived, including those held at <see cref="TokenGate"/>.</summary>
    public SemaphoreSlim TokenRequestArrived { get; } = new(0);

    public void RevokeAll() => ValidTokens.Clear();

    public HttpMessageHandler CreateHandler() => new FakeHttpMessageHandler(HandleAsync);

    public static HttpResponseMessage Json(HttpStatusCode status, string json) =>
        new(status) { Content = new StringContent(json, Encoding.UTF8, "application/json") };

    public HttpResponseMessage IssueToken()
    {
        var token = $"token-{Interlocked.Increment(ref _issued)}";
        ValidTokens[token] = true;
        return Json(HttpStatusCode.OK, $$"""{"access_token":"{{token}}","expires_in":{{TokenLifetimeSeconds}},"token_type":"Bearer"}""");
    }

    private async Task<HttpResponseMessage> HandleAsync(HttpRequestMessage request, CancellationToken cancellationToken)
    {
        // Real handlers link the answer to its request; so does the fake.
        var response = await RespondAsync(request, cancellationToken);
        response.RequestMessage ??= request;
        return response;
    }

    private async Task<HttpResponseMessage> RespondAsync(HttpRequestMessage request, CancellationToken cancellationToken)
    {
        string? body = null;
        if (request.Content is not null)
        {
            // Copy rather than ReadAsString: reading would buffer the content and make any body replayable.
            using var copy = new MemoryStream();
            await request.Content.CopyToAsync(copy, cancellationToken);
            body = Encoding.UTF8.GetString(copy.ToArray());
        }

        var recorded = new RecordedRequest(
            request.Method,
            request.RequestUri!,
            request.Headers.TryGetValues("Authorization", out var values) ? string.Join(",", values) : null,
            body,
            request.Headers.TryGetValues("X-Request-Id", out var ids) ? ids.Single() : null);
        Requests.Enqueue(recorded);
        var path = request.RequestUri!.AbsolutePath;

        if (path == "/identity/.well-known/openid-configuration")
        {
            Interlocked.Increment(ref _discoveryRequests);
            return DiscoveryResponder?.Invoke(request) ?? Json(HttpStatusCode.OK, JsonSerializer.Serialize(new Dictionary<string, object>
            {
                ["issuer"] = new Uri(PortalUri, $"/auth/realms/{Realm}").ToString(),
                ["token_endpoint"] = TokenEndpoint.ToString(),
                ["jwks_uri"] = new Uri(PortalUri, $"/auth/realms/{Realm}/protocol/openid-connect/certs").ToString(),
                ["grant_types_supported"] = new[] { "client_credentials" },
            }));
        }

        if (request.Method == HttpMethod.Post && request.RequestUri == TokenEndpoint)
        {
            Interlocked.Increment(ref _tokenRequests);
            TokenRequestTimes.Enqueue(Time.GetUtcNow());
            TokenRequestArrived.Release();
            if (TokenGate is { } gate)
            {
                await gate.Task.WaitAsync(cancellationToken);
            }

            return TokenResponder?.Invoke(request) ?? IssueToken();
        }

        if (path.StartsWith("/api/", StringComparison.Ordinal))
        {
            Interlocked.Increment(ref _apiRequests);
            if (ApiResponder is { } respond)
            {
                return await respond(recorded);
            }

            var token = recorded.Authorization?.StartsWith("Bearer ", StringComparison.Ordinal) == true ? recorded.Authorization[7..] : null;
            return token is not null && ValidTokens.ContainsKey(token)
                ? Json(HttpStatusCode.OK, """{"ok":true}""")
                : Json(HttpStatusCode.Unauthorized, """{"type":"about:blank","title":"Unauthorized","status":401}""");
        }

        return new HttpResponseMessage(HttpStatusCode.NotFound);
    }
}
