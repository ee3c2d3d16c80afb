using System.Collections.Concurrent;
using System.Net;
using System.Net.Http.Headers;
using System.Text;
using System.Text.Json;

namespace OdcHandler.Testing;

/// <summary>
/// An in-memory emulation of ODC's identity service (Keycloak behind the portal) and API surface, to
/// plug in as the primary handler of the HttpClients that use OdcHandler. Thread-safe.
/// </summary>
/// <remarks>
/// <para>
/// It behaves as ODC is documented to: discovery at <c>/identity/.well-known/openid-configuration</c> with a
/// Keycloak-shaped document whose issuer (<c>/auth/realms/{guid}</c>) does not match the discovery
/// address; a token endpoint accepting <c>client_secret_post</c> and HTTP Basic, decoding the form
/// strictly and answering Keycloak-style errors (<c>invalid_client</c> with 401); tokens whose
/// <c>expires_in</c> follows <see cref="TokenLifetime"/> on the given <see cref="TimeProvider"/>; and API
/// routes under <c>/api/</c> that answer 401 with a ProblemDetails body for a missing, unknown, expired
/// or revoked token. It enforces ODC's published rate limits (<see cref="OdcRateLimitTable.Published"/>) on
/// that clock, answering 429 with a ProblemDetails body and no <c>Retry-After</c>, as ODC does.
/// </para>
/// <para>
/// By default it knows one client, <see cref="DefaultClientId"/> with <see cref="DefaultClientSecret"/>,
/// and tokens live 12 hours.
/// </para>
/// </remarks>
public sealed class FakeOdcServer
{
    /// <summary>The id of the client every new server knows.</summary>
    public const string DefaultClientId = "odc-test-client";

    /// <summary>The secret of <see cref="DefaultClientId"/>; it holds characters that must be form-encoded.</summary>
    public const string DefaultClientSecret = "test+secret/with=reserved&chars% and spaces";

    private const string DiscoveryPath = "/identity/.well-known/openid-configuration";

    private static readonly Uri s_defaultPortal = new("https://myorg.outsystems.dev");
    private static readonly string[] s_grantTypes = ["authorization_code", "client_credentials", "refresh_token"];
    private static readonly string[] s_authMethods = ["client_secret_basic", "client_secret_post"];
    private static readonly string[] s_responseTypes = ["code"];
    private static readonly string[] s_subjectTypes = ["public"];
    private static readonly string[] s_signingAlgorithms = ["RS256"];

    private readonly ConcurrentDictionary<string, IssuedToken> _tokens = new(StringComparer.Ordinal);
    private readonly List<Route> _routes = [];
    private readonly object _gate = new();
    private int _discoveryRequests;
    private int _tokenRequests;
    private int _apiRequests;
    private int _rejectedApiRequests;
    private int _failuresLeft;
    private HttpStatusCode _failureStatus;
    private TimeSpan? _failureRetryAfter;
    private readonly object _rateGate = new();
    private readonly Dictionary<string, Queue<DateTimeOffset>> _windows = new(StringComparer.OrdinalIgnoreCase);
    private readonly Dictionary<string, int> _throttledByDomain = new(StringComparer.Ordinal);
    private OdcRateLimitTable? _rateLimits = OdcRateLimitTable.Published;
    private int _throttledApiRequests;

    /// <summary>Creates a fake for <c>https://myorg.outsystems.dev</c> on the system clock.</summary>
    public FakeOdcServer()
        : this(s_defaultPortal, TimeProvider.System)
    {
    }

    /// <summary>Creates a fake for <c>https://myorg.outsystems.dev</c>.</summary>
    /// <param name="timeProvider">The clock for token lifetimes and latency, typically a <c>FakeTimeProvider</c>.</param>
    public FakeOdcServer(TimeProvider timeProvider)
        : this(s_defaultPortal, timeProvider)
    {
    }

    /// <summary>Creates a fake for a given portal address on the system clock, for example the loopback address it is served on.</summary>
    /// <param name="portal">The portal's scheme, host and port, as clients address it.</param>
    public FakeOdcServer(Uri portal)
        : this(portal, TimeProvider.System)
    {
    }

    /// <summary>Creates a fake for a given portal address.</summary>
    /// <param name="portal">The portal's scheme, host and port, as clients address it.</param>
    /// <param name="timeProvider">The clock for token lifetimes and latency.</param>
    public FakeOdcServer(Uri portal, TimeProvider timeProvider)
    {
        ArgumentNullException.ThrowIfNull(portal);
        ArgumentNullException.ThrowIfNull(timeProvider);
        PortalUri = new Uri(portal.GetLeftPart(UriPartial.Authority) + "/");
        TimeProvider = timeProvider;
        RealmId = Guid.NewGuid();
        Clients.Add(DefaultClientId, DefaultClientSecret);
    }

    /// <summary>The portal address the discovery document and token endpoint are built on.</summary>
    public Uri PortalUri { get; }

    /// <summary>The portal's domain, as <c>OdcAuthenticationOptions.PortalDomain</c> takes it.</summary>
    public string PortalDomain => PortalUri.IsDefaultPort && PortalUri.Scheme == Uri.UriSchemeHttps
        ? PortalUri.Host
        : PortalUri.GetLeftPart(UriPartial.Authority);

    /// <summary>The Keycloak realm's id, which appears in the issuer and the token endpoint.</summary>
    public Guid RealmId { get; }

    /// <summary>The clock the server reads.</summary>
    public TimeProvider TimeProvider { get; }

    /// <summary>The discovery document's address.</summary>
    public Uri DiscoveryEndpoint => new(PortalUri, DiscoveryPath);

    /// <summary>The token endpoint's address, as the discovery document names it.</summary>
    public Uri TokenEndpoint => new(PortalUri, $"/auth/realms/{RealmId}/protocol/openid-connect/token");

    /// <summary>The issuer, which (as ODC's) does not match the discovery address.</summary>
    public Uri Issuer => new(PortalUri, $"/auth/realms/{RealmId}");

    /// <summary>The API clients it accepts.</summary>
    public FakeOdcClients Clients { get; } = new();

    /// <summary>How long issued tokens live. By default, 12 hours, as ODC's.</summary>
    public TimeSpan TokenLifetime { get; set; } = TimeSpan.FromHours(12);

    /// <summary>Delay added before every answer, on <see cref="TimeProvider"/>. By default, none.</summary>
    public TimeSpan Latency { get; set; }

    /// <summary>
    /// The rate limits enforced on API requests with a valid token, counted on <see cref="TimeProvider"/>: beyond
    /// one, the request is answered 429 with a ProblemDetails body and no <c>Retry-After</c>, and not processed.
    /// By default, <see cref="OdcRateLimitTable.Published"/> (ODC's: 100 a minute per API domain, 10 for
    /// environment configurations, 5 or 10 on many POST endpoints). <see langword="null"/> turns limits off.
    /// </summary>
    /// <remarks>Setting it starts counting afresh; <see cref="ThrottledApiRequests"/> keeps its count.</remarks>
    public OdcRateLimitTable? RateLimits
    {
        get => Volatile.Read(ref _rateLimits);
        set
        {
            lock (_rateGate)
            {
                _windows.Clear();
                Volatile.Write(ref _rateLimits, value);
            }
        }
    }

    /// <summary>How many discovery requests arrived.</summary>
    public int DiscoveryRequests => Volatile.Read(ref _discoveryRequests);

    /// <summary>How many token requests arrived, refused ones included.</summary>
    public int TokenRequests => Volatile.Read(ref _tokenRequests);

    /// <summary>How many API requests arrived, rejected ones included.</summary>
    public int ApiRequests => Volatile.Read(ref _apiRequests);

    /// <summary>How many API requests were answered 401 for their token.</summary>
    public int RejectedApiRequests => Volatile.Read(ref _rejectedApiRequests);

    /// <summary>How many API requests were answered 429 because of <see cref="RateLimits"/>.</summary>
    public int ThrottledApiRequests => Volatile.Read(ref _throttledApiRequests);

    /// <summary>
    /// How many API requests were answered 429, per domain (<see cref="OdcDomainRateLimit.Name"/>, for example
    /// <c>identity</c>); a snapshot. Domains that refused none are absent.
    /// </summary>
    public IReadOnlyDictionary<string, int> ThrottledApiRequestsByDomain
    {
        get
        {
            lock (_rateGate)
            {
                return new Dictionary<string, int>(_throttledByDomain, StringComparer.Ordinal);
            }
        }
    }

    /// <summary>Makes every token issued so far invalid, as revoking sessions does: the next API call with one gets 401.</summary>
    public void RevokeAllTokens() => _tokens.Clear();

    /// <summary>Suspends a client, as the ODC Portal does: its tokens stop working at once and the token endpoint refuses it.</summary>
    /// <param name="clientId">The client to suspend.</param>
    public void SuspendClient(string clientId) => Clients.SetSuspended(clientId, suspended: true);

    /// <summary>Lets a suspended client get tokens again (its old tokens stay invalid).</summary>
    /// <param name="clientId">The client to resume.</param>
    public void ResumeClient(string clientId) => Clients.SetSuspended(clientId, suspended: false);

    /// <summary>Answers the next <paramref name="count"/> token requests with <paramref name="status"/> and no token.</summary>
    /// <param name="count">How many requests fail.</param>
    /// <param name="status">The status they get, for example 503 or 429.</param>
    /// <param name="retryAfter">A <c>Retry-After</c> header to send with them, if any.</param>
    public void FailNextTokenRequests(int count, HttpStatusCode status, TimeSpan? retryAfter = null)
    {
        ArgumentOutOfRangeException.ThrowIfNegative(count);
        lock (_gate)
        {
            _failuresLeft = count;
            _failureStatus = status;
            _failureRetryAfter = retryAfter;
        }
    }

    /// <summary>Answers GET requests to a path template such as <c>/api/identity/v1/users/{key}</c>.</summary>
    /// <param name="template">The path, with <c>{name}</c> for a segment that varies.</param>
    /// <param name="handler">Returns an object (sent as 200 JSON), a <see cref="FakeOdcResponse"/>, or <see langword="null"/> (204).</param>
    /// <returns>This server.</returns>
    public FakeOdcServer MapGet(string template, Func<FakeOdcRequest, object?> handler) => Map(HttpMethod.Get, template, handler);

    /// <summary>Answers POST requests to a path template.</summary>
    /// <param name="template">The path, with <c>{name}</c> for a segment that varies.</param>
    /// <param name="handler">Returns an object (sent as 200 JSON), a <see cref="FakeOdcResponse"/>, or <see langword="null"/> (204).</param>
    /// <returns>This server.</returns>
    public FakeOdcServer MapPost(string template, Func<FakeOdcRequest, object?> handler) => Map(HttpMethod.Post, template, handler);

    /// <summary>Answers requests of any method to a path template. Later mappings of the same method and template win.</summary>
    /// <param name="method">The HTTP method.</param>
    /// <param name="template">The path, with <c>{name}</c> for a segment that varies; it must start with <c>/api/</c>.</param>
    /// <param name="handler">Returns an object (sent as 200 JSON), a <see cref="FakeOdcResponse"/>, or <see langword="null"/> (204).</param>
    /// <returns>This server.</returns>
    /// <exception cref="ArgumentException">The template is not under <c>/api/</c>.</exception>
    public FakeOdcServer Map(HttpMethod method, string template, Func<FakeOdcRequest, object?> handler)
    {
        ArgumentNullException.ThrowIfNull(method);
        ArgumentNullException.ThrowIfNull(handler);
        if (template is null || !template.StartsWith("/api/", StringComparison.Ordinal))
        {
            throw new ArgumentException("ODC's APIs live under /api/: give a template such as \"/api/identity/v1/users\".", nameof(template));
        }

        lock (_gate)
        {
            _routes.Insert(0, new Route(method, template.Trim('/').Split('/'), handler));
        }

        return this;
    }

    /// <summary>A handler to use as an HttpClient's primary handler; each call returns a new one over this server.</summary>
    /// <returns>The handler.</returns>
    public HttpMessageHandler CreateHandler() => new FakeOdcHttpMessageHandler(this);

    /// <summary>Answers one request; what <see cref="CreateHandler"/> calls, and what a host that serves the fake over HTTP calls.</summary>
    /// <param name="request">The request.</param>
    /// <param name="cancellationToken">Stops the added latency.</param>
    /// <returns>The answer.</returns>
    public async Task<HttpResponseMessage> HandleAsync(HttpRequestMessage request, CancellationToken cancellationToken = default)
    {
        ArgumentNullException.ThrowIfNull(request);
        if (Latency > TimeSpan.Zero)
        {
            await Task.Delay(Latency, TimeProvider, cancellationToken).ConfigureAwait(false);
        }

        var path = request.RequestUri?.AbsolutePath ?? "/";
        var response = path switch
        {
            DiscoveryPath when request.Method == HttpMethod.Get => Discovery(),
            _ when path == TokenEndpoint.AbsolutePath => request.Method == HttpMethod.Post
                ? await TokenAsync(request, cancellationToken).ConfigureAwait(false)
                : new HttpResponseMessage(HttpStatusCode.MethodNotAllowed),
            _ when path.StartsWith("/api/", StringComparison.Ordinal) => await ApiAsync(request, cancellationToken).ConfigureAwait(false),
            _ => new HttpResponseMessage(HttpStatusCode.NotFound),
        };
        response.RequestMessage ??= request;
        return response;
    }

    private HttpResponseMessage Discovery()
    {
        Interlocked.Increment(ref _discoveryRequests);
        var realm = Issuer.ToString();
        return Json(HttpStatusCode.OK, new Dictionary<string, object>
        {
            ["issuer"] = realm,
            ["authorization_endpoint"] = realm + "/protocol/openid-connect/auth",
            ["token_endpoint"] = TokenEndpoint.ToString(),
            ["introspection_endpoint"] = realm + "/protocol/openid-connect/token/introspect",
            ["jwks_uri"] = realm + "/protocol/openid-connect/certs",
            ["grant_types_supported"] = s_grantTypes,
            ["token_endpoint_auth_methods_supported"] = s_authMethods,
            ["response_types_supported"] = s_responseTypes,
            ["subject_types_supported"] = s_subjectTypes,
            ["id_token_signing_alg_values_supported"] = s_signingAlgorithms,
        });
    }

    private async Task<HttpResponseMessage> TokenAsync(HttpRequestMessage request, CancellationToken cancellationToken)
    {
        Interlocked.Increment(ref _tokenRequests);
        lock (_gate)
        {
            if (_failuresLeft > 0)
            {
                _failuresLeft--;
                var failure = new HttpResponseMessage(_failureStatus);
                if (_failureRetryAfter is { } retryAfter)
                {
                    failure.Headers.RetryAfter = new RetryConditionHeaderValue(retryAfter);
                }

                return failure;
            }
        }

        if (request.Content?.Headers.ContentType?.MediaType != "application/x-www-form-urlencoded")
        {
            return OAuthError(HttpStatusCode.BadRequest, "invalid_request", "Content-Type must be application/x-www-form-urlencoded");
        }

        var body = await request.Content.ReadAsStringAsync(cancellationToken).ConfigureAwait(false);
        if (!FormDecoding.TryParse(body, out var form))
        {
            return OAuthError(HttpStatusCode.BadRequest, "invalid_request", "Malformed form body: every parameter must be name=value, percent-encoded, and appear once");
        }

        if (!form.TryGetValue("grant_type", out var grantType) || grantType != "client_credentials")
        {
            return OAuthError(HttpStatusCode.BadRequest, "unsupported_grant_type", "Unsupported grant_type");
        }

        string? clientId;
        string? clientSecret;
        if (request.Headers.Authorization is { Scheme: var scheme } basic && scheme.Equals("Basic", StringComparison.OrdinalIgnoreCase))
        {
            if (form.ContainsKey("client_secret"))
            {
                return OAuthError(HttpStatusCode.BadRequest, "invalid_request", "Client credentials given both in the Authorization header and in the body");
            }

            if (!FormDecoding.TryParseBasic(basic.Parameter, out clientId, out clientSecret))
            {
                return OAuthError(HttpStatusCode.Unauthorized, "invalid_client", "Invalid client or Invalid client credentials");
            }
        }
        else
        {
            form.TryGetValue("client_id", out clientId);
            form.TryGetValue("client_secret", out clientSecret);
        }

        if (clientId is null || clientSecret is null || !Clients.Authenticates(clientId, clientSecret))
        {
            return OAuthError(HttpStatusCode.Unauthorized, "invalid_client", "Invalid client or Invalid client credentials");
        }

        var now = TimeProvider.GetUtcNow();
        var lifetime = TokenLifetime;
        var token = IssueJwt(clientId, now, lifetime);
        _tokens[token] = new IssuedToken(clientId, now + lifetime);
        return Json(HttpStatusCode.OK, new Dictionary<string, object>
        {
            ["access_token"] = token,
            ["expires_in"] = (long)lifetime.TotalSeconds,
            ["refresh_expires_in"] = 0,
            ["token_type"] = "Bearer",
            ["not-before-policy"] = 0,
            ["scope"] = "profile email",
        });
    }

    private async Task<HttpResponseMessage> ApiAsync(HttpRequestMessage request, CancellationToken cancellationToken)
    {
        Interlocked.Increment(ref _apiRequests);
        var now = TimeProvider.GetUtcNow();
        var authorization = request.Headers.Authorization;
        if (authorization is null || !authorization.Scheme.Equals("Bearer", StringComparison.OrdinalIgnoreCase) || authorization.Parameter is null
            || !_tokens.TryGetValue(authorization.Parameter, out var issued) || now >= issued.ExpiresAt || !Clients.IsActive(issued.ClientId))
        {
            Interlocked.Increment(ref _rejectedApiRequests);
            var detail = authorization is null ? "No access token was sent." : "The access token is unknown, expired or revoked.";
            return FakeOdcResponse.Problem(HttpStatusCode.Unauthorized, "Unauthorized", detail).ToHttpResponse();
        }

        var segments = request.RequestUri!.AbsolutePath.Trim('/').Split('/');
        Route[] routes;
        lock (_gate)
        {
            routes = [.. _routes];
        }

        var pathMatched = false;
        Route? matched = null;
        IReadOnlyDictionary<string, string>? values = null;
        foreach (var route in routes)
        {
            if (!route.TryMatch(segments, out var routeValues))
            {
                continue;
            }

            pathMatched = true;
            if (route.Method == request.Method)
            {
                (matched, values) = (route, routeValues);
                break;
            }
        }

        if (RateLimits is { } limits && RefusedByRateLimit(limits, request.Method, segments[1..], matched?.Segments[1..], now) is { } refusal)
        {
            return FakeOdcResponse.Problem(HttpStatusCode.TooManyRequests, "Too Many Requests", refusal).ToHttpResponse();
        }

        if (matched is { } answering)
        {
            var body = request.Content is null ? null : await request.Content.ReadAsStringAsync(cancellationToken).ConfigureAwait(false);
            var fakeRequest = new FakeOdcRequest(request.Method, request.RequestUri, values!, FormDecoding.ParseQuery(request.RequestUri.Query), string.IsNullOrEmpty(body) ? null : body, issued.ClientId);
            return answering.Handler(fakeRequest) switch
            {
                null => FakeOdcResponse.NoContent.ToHttpResponse(),
                FakeOdcResponse response => response.ToHttpResponse(),
                var value => FakeOdcResponse.Json(HttpStatusCode.OK, value).ToHttpResponse(),
            };
        }

        return pathMatched
            ? FakeOdcResponse.Problem(HttpStatusCode.MethodNotAllowed, "Method Not Allowed").ToHttpResponse()
            : FakeOdcResponse.Problem(HttpStatusCode.NotFound, "Not Found", $"No fake route for {request.RequestUri.AbsolutePath}; map one with MapGet or MapPost.").ToHttpResponse();
    }

    // Takes a permit from every limit that applies, or from none when one is used up (a refused request is not
    // processed, so it uses up nothing); returns why it refused, or null. path and routeTemplate are the segments
    // after "api"; the answering route's template is what makes "one endpoint" for a cap on each endpoint.
    private string? RefusedByRateLimit(OdcRateLimitTable table, HttpMethod method, string[] path, string[]? routeTemplate, DateTimeOffset now)
    {
        var domain = table.FindDomain(path);
        var checks = new List<(string Key, int Limit, string Scope)>();
        foreach (var cap in table.FindEndpointLimits(method, path))
        {
            var endpoint = cap.AppliesToEachEndpoint ? string.Join('/', routeTemplate ?? path) : cap.PathTemplate;
            checks.Add(("endpoint " + method.Method + " " + endpoint, cap.PermitsPerMinute, $"{method.Method} {endpoint}"));
        }

        if (domain is not null)
        {
            checks.Add(("domain " + domain.Name, domain.PermitsPerMinute, $"the {domain.Name} API ({string.Join(", ", domain.PathPrefixes)})"));
        }

        if (checks.Count == 0)
        {
            return null;
        }

        lock (_rateGate)
        {
            foreach (var (key, limit, scope) in checks)
            {
                if (!_windows.TryGetValue(key, out var window))
                {
                    _windows[key] = window = new Queue<DateTimeOffset>();
                }

                // A permit comes back exactly 60 s after it was taken: never more than the limit in any 60 s.
                while (window.Count > 0 && now - window.Peek() >= OdcRateLimitTable.Window)
                {
                    window.Dequeue();
                }

                if (window.Count >= limit)
                {
                    var counted = domain?.Name ?? path[0];
                    _throttledByDomain[counted] = _throttledByDomain.GetValueOrDefault(counted) + 1;
                    Interlocked.Increment(ref _throttledApiRequests);
                    return $"More than {limit} requests in 60 seconds to {scope}.";
                }
            }

            foreach (var (key, _, _) in checks)
            {
                _windows[key].Enqueue(now);
            }
        }

        return null;
    }

    private string IssueJwt(string clientId, DateTimeOffset now, TimeSpan lifetime)
    {
        var header = Base64Url("""{"alg":"RS256","typ":"JWT","kid":"fake-odc"}""");
        var payload = Base64Url(JsonSerializer.Serialize(new Dictionary<string, object>
        {
            ["iss"] = Issuer.ToString(),
            ["sub"] = clientId,
            ["azp"] = clientId,
            ["client_id"] = clientId,
            ["iat"] = now.ToUnixTimeSeconds(),
            ["exp"] = (now + lifetime).ToUnixTimeSeconds(),
            ["jti"] = Guid.NewGuid().ToString(),
        }));
        return $"{header}.{payload}.{Base64Url("fake-signature")}";
    }

    private static string Base64Url(string text) =>
        Convert.ToBase64String(Encoding.UTF8.GetBytes(text)).TrimEnd('=').Replace('+', '-').Replace('/', '_');

    private static HttpResponseMessage OAuthError(HttpStatusCode status, string error, string description) =>
        Json(status, new Dictionary<string, object> { ["error"] = error, ["error_description"] = description });

    private static HttpResponseMessage Json(HttpStatusCode status, object body) =>
        new(status) { Content = new StringContent(JsonSerializer.Serialize(body), Encoding.UTF8, "application/json") };

    private sealed record IssuedToken(string ClientId, DateTimeOffset ExpiresAt);

    private sealed record Route(HttpMethod Method, string[] Segments, Func<FakeOdcRequest, object?> Handler)
    {
        public bool TryMatch(string[] path, out IReadOnlyDictionary<string, string> values)
        {
            var captured = new Dictionary<string, string>(StringComparer.Ordinal);
            values = captured;
            if (path.Length != Segments.Length)
            {
                return false;
            }

            for (var i = 0; i < path.Length; i++)
            {
                var segment = Segments[i];
                if (segment.Length > 2 && segment[0] == '{' && segment[^1] == '}')
                {
                    captured[segment[1..^1]] = Uri.UnescapeDataString(path[i]);
                }
                else if (!segment.Equals(path[i], StringComparison.OrdinalIgnoreCase))
                {
                    return false;
                }
            }

            return true;
        }
    }
}
