using System.Collections;
using System.Net;
using System.Text;
using Microsoft.Extensions.DependencyInjection;
using OdcHandler.Internal;
using OdcHandler.Tests.Fakes;

namespace OdcHandler.Tests.Internal;

/// <summary>
/// With <see cref="ClientCredentialStyle.BasicAuthHeader"/> the Basic value is as good as the secret: it must never
/// reach IHttpClientFactory's request logging on the backchannel (whose structured header values are not
/// redacted), nor stay on the request after the answer.
/// </summary>
public sealed class BackchannelCredentialsHandlerTests : IDisposable
{
    private const string BackchannelCategory = "System.Net.Http.HttpClient." + OdcAuthenticationDefaults.BackchannelHttpClientName + ".";

    private readonly FakeIdentityServer _server = new();
    private readonly CapturingLoggerProvider _logs = new();

    public void Dispose() => _logs.Dispose();

    private static string BasicValue =>
        Convert.ToBase64String(Encoding.UTF8.GetBytes(TokenEndpointClient.FormEncode(FakeIdentityServer.ClientId) + ":" + TokenEndpointClient.FormEncode(FakeIdentityServer.Secret)));

    [Fact]
    public async Task BasicAuthHeaderStyle_FullLifecycleAtTrace_NoLogEntryCarriesTheCredentials()
    {
        using var services = OdcTestHost.Build(_server, o => o.CredentialStyle = ClientCredentialStyle.BasicAuthHeader, logs: _logs);
        var client = services.Client();

        (await client.GetAsync("users")).Dispose();
        _server.RevokeAll();
        (await client.GetAsync("users")).Dispose();
        _server.Time.Advance(TimeSpan.FromHours(12));
        _server.TokenResponder = _ => FakeIdentityServer.Json(HttpStatusCode.Unauthorized, """{"error":"invalid_client"}""");
        await Assert.ThrowsAsync<OdcAuthenticationException>(() => client.GetAsync("users"));

        // The header did reach the identity service on every token request: the test is not vacuous.
        var tokenRequests = _server.Requests.Where(r => r.Uri == _server.TokenEndpoint).ToList();
        Assert.Equal(3, tokenRequests.Count);
        Assert.All(tokenRequests, r => Assert.Equal("Basic " + BasicValue, r.Authorization));

        // The factory's own request logging on the backchannel ran, with its header entries.
        Assert.Contains(_logs.Entries, e => e.Category == BackchannelCategory + "LogicalHandler" && e.EventId.Name == "RequestPipelineRequestHeader");
        Assert.Contains(_logs.Entries, e => e.Category == BackchannelCategory + "ClientHandler" && e.EventId.Name == "RequestHeader");

        string[] forbidden =
        [
            FakeIdentityServer.Secret,
            TokenEndpointClient.FormEncode(FakeIdentityServer.Secret),
            Uri.EscapeDataString(FakeIdentityServer.Secret),
            BasicValue,
        ];
        foreach (var entry in _logs.Entries)
        {
            var texts = new List<string> { entry.Message, entry.Exception?.ToString() ?? string.Empty };
            foreach (var pair in entry.State)
            {
                Render(pair.Key, texts, depth: 0);
                Render(pair.Value, texts, depth: 0);
            }

            foreach (var text in texts)
            {
                foreach (var secret in forbidden)
                {
                    Assert.False(text.Contains(secret, StringComparison.Ordinal), $"{entry.Category} {entry.EventId} carries '{secret}': {text}");
                }
            }
        }
    }

    [Fact]
    public async Task BasicAuthHeaderStyle_AfterTheAnswer_RequestMessageNoLongerCarriesTheHeader()
    {
        var seenByOuterHandler = new List<bool>();
        using var services = OdcTestHost.Build(_server, o => o.CredentialStyle = ClientCredentialStyle.BasicAuthHeader, services: collection =>
            collection.AddHttpClient(OdcAuthenticationDefaults.BackchannelHttpClientName)
                .AddHttpMessageHandler(() => new InspectingHandler(response =>
                {
                    lock (seenByOuterHandler)
                    {
                        seenByOuterHandler.Add(response.RequestMessage!.Headers.Contains("Authorization"));
                    }
                })));

        using var response = await services.Client().GetAsync("users");

        Assert.Equal(HttpStatusCode.OK, response.StatusCode);
        Assert.Equal([false, false], seenByOuterHandler);
        Assert.Equal("Basic " + BasicValue, Assert.Single(_server.Requests, r => r.Uri == _server.TokenEndpoint).Authorization);
    }

    [Fact]
    public async Task BasicAuthHeaderStyle_BackchannelRetries_EveryAttemptCarriesTheHeader()
    {
        var attempts = 0;
        _server.TokenResponder = _ => Interlocked.Increment(ref attempts) < 3
            ? new HttpResponseMessage(HttpStatusCode.ServiceUnavailable)
            : _server.IssueToken();
        using var services = OdcTestHost.Build(_server, o => o.CredentialStyle = ClientCredentialStyle.BasicAuthHeader);

        using var response = await services.Client().GetAsync("users");

        Assert.Equal(HttpStatusCode.OK, response.StatusCode);
        var tokenRequests = _server.Requests.Where(r => r.Uri == _server.TokenEndpoint).ToList();
        Assert.Equal(3, tokenRequests.Count);
        Assert.All(tokenRequests, r => Assert.Equal("Basic " + BasicValue, r.Authorization));
    }

    [Fact]
    public async Task FormBodyStyle_TokenRequest_CarriesNoAuthorizationHeader()
    {
        using var services = OdcTestHost.Build(_server);

        using var response = await services.Client().GetAsync("users");

        Assert.Null(Assert.Single(_server.Requests, r => r.Uri == _server.TokenEndpoint).Authorization);
    }

    /// <summary>Everything an exporter could write of a structured value: its ToString and, recursively, its parts.</summary>
    private static void Render(object? value, List<string> texts, int depth)
    {
        if (value is null || depth > 8)
        {
            return;
        }

        texts.Add(value.ToString() ?? string.Empty);
        if (value is string)
        {
            return;
        }

        if (value is IEnumerable sequence)
        {
            foreach (var item in sequence)
            {
                Render(item, texts, depth + 1);
            }
        }

        var type = value.GetType();
        if (type.IsGenericType && type.GetGenericTypeDefinition() == typeof(KeyValuePair<,>))
        {
            Render(type.GetProperty("Key")!.GetValue(value), texts, depth + 1);
            Render(type.GetProperty("Value")!.GetValue(value), texts, depth + 1);
        }
    }

    private sealed class InspectingHandler(Action<HttpResponseMessage> inspect) : DelegatingHandler
    {
        protected override async Task<HttpResponseMessage> SendAsync(HttpRequestMessage request, CancellationToken cancellationToken)
        {
            var response = await base.SendAsync(request, cancellationToken);
            inspect(response);
            return response;
        }
    }
}
