using System.Net;
using Microsoft.Extensions.DependencyInjection;
using Microsoft.Extensions.Logging;
using OdcHandler.Tests.Fakes;

namespace OdcHandler.Tests;

/// <summary>The secret and the tokens never reach a log (text or structured state), an exception or a ToString.</summary>
public sealed class SecretHygieneTests : IDisposable
{
    private readonly FakeIdentityServer _server = new();
    private readonly CapturingLoggerProvider _logs = new();

    public void Dispose() => _logs.Dispose();

    private void AssertNoSecretsLogged()
    {
        var tokens = _server.Requests.Select(r => r.Authorization).OfType<string>()
            .Where(a => a.StartsWith("Bearer ", StringComparison.Ordinal)).Select(a => a[7..]).Distinct().ToList();
        Assert.NotEmpty(tokens);
        Assert.NotEmpty(_logs.Entries);
        foreach (var text in _logs.AllText())
        {
            Assert.True(!text.Contains(FakeIdentityServer.Secret, StringComparison.Ordinal) && tokens.All(t => !text.Contains(t, StringComparison.Ordinal)), "Logged: " + text);
            Assert.DoesNotContain(FakeIdentityServer.Secret, text, StringComparison.Ordinal);
            Assert.DoesNotContain(Uri.EscapeDataString(FakeIdentityServer.Secret), text, StringComparison.Ordinal);
            foreach (var token in tokens)
            {
                Assert.DoesNotContain(token, text, StringComparison.Ordinal);
            }
        }
    }

    [Fact]
    public async Task FullLifecycleAtTrace_LogsNeitherSecretNorToken()
    {
        using var services = OdcTestHost.Build(_server, logs: _logs);
        var client = services.Client();
        (await client.GetAsync("users")).Dispose();
        _server.RevokeAll();
        (await client.GetAsync("users")).Dispose();
        _server.Time.Advance(TimeSpan.FromHours(12));
        _server.TokenResponder = _ => FakeIdentityServer.Json(HttpStatusCode.Unauthorized, """{"error":"invalid_client"}""");
        await Assert.ThrowsAsync<OdcAuthenticationException>(() => client.GetAsync("users"));

        AssertNoSecretsLogged();
        Assert.Contains(_logs.Entries, e => e.EventId.Name == "TokenAcquired" && e.Level == LogLevel.Debug);
        Assert.Contains(_logs.Entries, e => e.EventId.Name == "UnauthorizedRetry");
        Assert.Contains(_logs.Entries, e => e.EventId.Name == "TokenAcquisitionFailed" && e.Level == LogLevel.Error);
    }

    [Fact]
    public async Task HttpClientFactoryRequestLogging_NeverCarriesTheAuthorizationValue()
    {
        using var services = OdcTestHost.Build(_server, logs: _logs);

        (await services.Client().GetAsync("users")).Dispose();

        var headerLogs = _logs.Entries.Where(e => e.Category.StartsWith("System.Net.Http.HttpClient.odc.", StringComparison.Ordinal)
            && e.EventId.Name == "RequestHeader").ToList();
        Assert.NotEmpty(headerLogs);
        AssertNoSecretsLogged();
    }

    [Fact]
    public async Task HttpClientFactoryRequestLogging_KeepsTheUsersOwnRedaction()
    {
        using var services = OdcTestHost.Build(_server, logs: _logs, services: collection =>
            collection.AddHttpClient(OdcTestHost.ClientName).RedactLoggedHeaders(["X-Api-Key"]));
        using var request = new HttpRequestMessage(HttpMethod.Get, "users");
        request.Headers.Add("X-Api-Key", "users-key-value");
        request.Headers.Add("X-Visible", "visible-value");

        (await services.Client().SendAsync(request)).Dispose();

        // The factory applies redaction to the formatted text only; that is where the user's choice must still hold.
        var messages = string.Join("\n", _logs.Entries.Select(e => e.Message));
        Assert.DoesNotContain("users-key-value", messages, StringComparison.Ordinal);
        Assert.Contains("visible-value", messages, StringComparison.Ordinal);
        AssertNoSecretsLogged();
    }

    [Fact]
    public async Task TokenToString_DoesNotShowTheValue()
    {
        using var services = OdcTestHost.Build(_server);

        var token = await services.GetRequiredService<IOdcAccessTokenProvider>().GetTokenAsync(OdcTestHost.ClientName);

        Assert.DoesNotContain(token.Value, token.ToString(), StringComparison.Ordinal);
        Assert.Contains("***", token.ToString(), StringComparison.Ordinal);
    }
}
