using System.Net;
using System.Text;

namespace OdcHandler.Benchmarks;

/// <summary>
/// Discovery and token endpoints answered in memory, counting token requests; optionally failing with 500,
/// or holding every token request until released so that a crowd of callers can gather first.
/// </summary>
public sealed class InMemoryIdentity : HttpMessageHandler
{
    public const string Portal = "https://myorg.outsystems.dev";
    public const string TokenPath = "/auth/realms/bench/protocol/openid-connect/token";

    private int _tokenRequests;
    private int _discoveryRequests;

    public int TokenRequests => _tokenRequests;

    public int DiscoveryRequests => _discoveryRequests;

    public bool Fail { get; set; }

    public TaskCompletionSource? Gate { get; set; }

    protected override async Task<HttpResponseMessage> SendAsync(HttpRequestMessage request, CancellationToken cancellationToken)
    {
        var path = request.RequestUri!.AbsolutePath;
        if (path.EndsWith("/.well-known/openid-configuration", StringComparison.Ordinal))
        {
            Interlocked.Increment(ref _discoveryRequests);
            var issuer = path[..^"/.well-known/openid-configuration".Length];
            return Json($$"""
                {"issuer":"{{Portal}}{{issuer}}","token_endpoint":"{{Portal}}{{TokenPath}}","authorization_endpoint":"{{Portal}}/auth/realms/bench/protocol/openid-connect/auth","jwks_uri":"{{Portal}}/auth/realms/bench/protocol/openid-connect/certs","response_types_supported":["code"],"subject_types_supported":["public"],"id_token_signing_alg_values_supported":["RS256"]}
                """);
        }

        if (path == TokenPath)
        {
            var n = Interlocked.Increment(ref _tokenRequests);
            if (Gate is { } gate)
            {
                await gate.Task.ConfigureAwait(false);
            }

            return Fail
                ? new HttpResponseMessage(HttpStatusCode.InternalServerError)
                : Json($$"""{"access_token":"eyJhbGciOiJSUzI1NiJ9.bench-token-{{n}}.signature","expires_in":43200,"token_type":"Bearer"}""");
        }

        return new HttpResponseMessage(HttpStatusCode.NotFound);
    }

    private static HttpResponseMessage Json(string json) =>
        new(HttpStatusCode.OK) { Content = new StringContent(json, Encoding.UTF8, "application/json") };
}
