using System.Net;
using System.Net.Http.Json;
using System.Text.Json.Serialization;
using System.Threading.Channels;
using Microsoft.Extensions.Configuration;
using Microsoft.Extensions.DependencyInjection;
using Microsoft.Extensions.Logging.Abstractions;
using Microsoft.Extensions.Options;
using NSubstitute;
using OdcHandler.Internal;
using OdcHandler.Tests.Fakes;

namespace OdcHandler.Tests.Attacks;

/// <summary>
/// A reviewer's attempts to break the promises of the last round. Each test here failed on the code it was
/// written against: it shows a promise that does not hold.
/// </summary>
public sealed class ReviewAttackTests
{
    private const string UrlSafeSecret = "Sup3rS3cretValue9";

    private readonly FakeIdentityServer _server = new();

    // Promise 3: invalid reloaded options fail requests, also for the public constructor with a custom provider.
    [Fact]
    public async Task Reload_InvalidOptions_PublicConstructorWithCustomProvider_FailsClosedInsteadOfKeepingTheOldHosts()
    {
        var source = new ReloadableConfiguration();
        source.Replace(new Dictionary<string, string?>
        {
            ["Odc:PortalDomain"] = FakeIdentityServer.Portal,
            ["Odc:ClientId"] = FakeIdentityServer.ClientId,
            ["Odc:ClientSecret"] = FakeIdentityServer.Secret,
            ["Odc:AdditionalApiHosts:0"] = "files.example.com",
        });
        var configuration = new ConfigurationBuilder().Add(source).Build();
        var collection = new ServiceCollection();
        collection.AddOptions<OdcAuthenticationOptions>("custom")
            .Bind(configuration.GetSection("Odc"))
            .Validate(o => !string.IsNullOrEmpty(o.ClientId), "ClientId is required.");
        using var services = collection.BuildServiceProvider();
        var monitor = services.GetRequiredService<IOptionsMonitor<OdcAuthenticationOptions>>();
        var provider = Substitute.For<IOdcAccessTokenProvider>();
#pragma warning disable CA2012 // NSubstitute configures the call; the ValueTask it returns is never consumed here.
        provider.GetTokenAsync("custom", Arg.Any<CancellationToken>())
            .Returns(_ => new ValueTask<OdcAccessToken>(new OdcAccessToken("app-token", DateTimeOffset.MaxValue)));
#pragma warning restore CA2012
        using var handler = new BearerTokenHandler(provider, monitor, NullLoggerFactory.Instance, "custom") { InnerHandler = _server.CreateHandler() };
        using var client = new HttpClient(handler);
        (await client.GetAsync(new Uri("https://files.example.com/api/blob"))).Dispose();
        Assert.Equal("Bearer app-token", _server.Requests.Last().Authorization);

        // The application's configuration no longer validates (the monitor throws that into the reload).
        _ = Record.Exception(() => source.Replace(new Dictionary<string, string?>
        {
            ["Odc:PortalDomain"] = FakeIdentityServer.Portal,
            ["Odc:ClientId"] = string.Empty,
            ["Odc:ClientSecret"] = FakeIdentityServer.Secret,
            ["Odc:AdditionalApiHosts:0"] = "files.example.com",
        }));
        var sent = _server.Requests.Count;
        var outcome = await Record.ExceptionAsync(async () => (await client.GetAsync(new Uri("https://files.example.com/api/blob"))).Dispose());

        // Promised: the request fails (fail closed). Observed: sent with the token under the last valid options.
        Assert.DoesNotContain(_server.Requests.Skip(sent), r => r.Authorization == "Bearer app-token");
        Assert.IsType<OptionsValidationException>(outcome);
    }

    // Promise 3 (cool-down follows a reload) and "each client checks against its own options":
    // two client names sharing credentials, only one of them reloaded.
    [Fact]
    public async Task SharedCredentials_OnlyOneClientReloadsItsCooldown_EachClientKeepsItsOwnCooldown()
    {
        _server.TokenResponder = _ => FakeIdentityServer.Json(HttpStatusCode.BadRequest, """{"error":"invalid_client"}""");
        var source = new ReloadableConfiguration();
        Dictionary<string, string?> Settings(string cooldownA) => new()
        {
            ["A:PortalDomain"] = FakeIdentityServer.Portal,
            ["A:ClientId"] = FakeIdentityServer.ClientId,
            ["A:ClientSecret"] = FakeIdentityServer.Secret,
            ["A:FailureCooldown"] = cooldownA,
            ["B:PortalDomain"] = FakeIdentityServer.Portal,
            ["B:ClientId"] = FakeIdentityServer.ClientId,
            ["B:ClientSecret"] = FakeIdentityServer.Secret,
            ["B:FailureCooldown"] = "00:01:00",
        };
        source.Replace(Settings("00:01:00"));
        var configuration = new ConfigurationBuilder().Add(source).Build();
        using var services = OdcTestHost.Build(_server, services: collection =>
        {
            collection.AddHttpClient("a", c => c.BaseAddress = new Uri(_server.PortalUri, "/api/"))
                .AddOdcAuthentication(configuration.GetSection("A"))
                .ConfigurePrimaryHttpMessageHandler(_server.CreateHandler);
            collection.AddHttpClient("b", c => c.BaseAddress = new Uri(_server.PortalUri, "/api/"))
                .AddOdcAuthentication(configuration.GetSection("B"))
                .ConfigurePrimaryHttpMessageHandler(_server.CreateHandler);
        });
        var a = services.Client("a");
        var b = services.Client("b");
        await Assert.ThrowsAsync<OdcAuthenticationException>(() => a.GetAsync("users"));
        await Assert.ThrowsAsync<OdcAuthenticationException>(() => b.GetAsync("users"));
        Assert.Equal(1, _server.TokenRequests);

        // Only A's cool-down changes: A asks again at once, B keeps its minute.
        source.Replace(Settings("00:00:00"));
        await Assert.ThrowsAsync<OdcAuthenticationException>(() => a.GetAsync("users"));
        var afterA = _server.TokenRequests;
        await Assert.ThrowsAsync<OdcAuthenticationException>(() => b.GetAsync("users"));
        await Assert.ThrowsAsync<OdcAuthenticationException>(() => b.GetAsync("users"));
        var afterB = _server.TokenRequests;

        Assert.Equal((2, 2), (afterA, afterB));
    }

    // Promise 6: the client secret never in exception messages; here written (by mistake) as user info.
    [Theory]
    [InlineData("portal")]
    [InlineData("host")]
    public void Validation_CredentialsInPortalDomainOrAdditionalApiHosts_AreRefusedWithoutEchoingTheSecret(string where)
    {
        var options = new OdcAuthenticationOptions
        {
            PortalDomain = where == "portal" ? $"my-client:{UrlSafeSecret}@myorg.outsystems.dev" : "myorg.outsystems.dev",
            ClientId = "my-client",
            ClientSecret = UrlSafeSecret,
        };
        if (where == "host")
        {
            options.AdditionalApiHosts.Add($"my-client:{UrlSafeSecret}@files.example.com");
        }

        var result = new OdcAuthenticationOptionsValidator().Validate("odc", options);

        Assert.True(result.Failed);
        Assert.DoesNotContain(UrlSafeSecret, result.FailureMessage, StringComparison.Ordinal);
    }

    // Promise 5: only byte-identical bodies are replayed; JsonContent only over materialized values.
    [Fact]
    public async Task Replay_JsonContentWithAPolymorphicMemberHoldingAOneShotSequence_IsNeverResentWithADifferentBody()
    {
        using var services = OdcTestHost.Build(_server);
        var client = services.Client();
        (await client.GetAsync("users")).Dispose();
        _server.RevokeAll();
        var items = Channel.CreateUnbounded<int>();
        items.Writer.TryWrite(1);
        items.Writer.TryWrite(2);
        items.Writer.Complete();
        var body = new Envelope { Payload = new StreamedPayload { Items = items.Reader.ReadAllAsync() } };

        using var response = await client.PostAsync("orders", JsonContent.Create(body));

        var bodies = _server.Requests.Where(r => r.Uri.AbsolutePath == "/api/orders").Select(r => r.Body).ToList();
        Assert.Contains("[1,2]", bodies[0], StringComparison.Ordinal);
        Assert.All(bodies, sent => Assert.Equal(bodies[0], sent));
    }

    public sealed class Envelope
    {
        public Payload? Payload { get; init; }
    }

    [JsonDerivedType(typeof(StreamedPayload), "streamed")]
    public class Payload
    {
        public string Kind { get; init; } = "order-lines";
    }

    public sealed class StreamedPayload : Payload
    {
        public IAsyncEnumerable<int>? Items { get; init; }
    }
}
