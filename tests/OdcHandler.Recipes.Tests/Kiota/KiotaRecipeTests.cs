using System.Text.Json;
using Microsoft.Extensions.DependencyInjection;
using Microsoft.Extensions.DependencyInjection.Extensions;
using Microsoft.Extensions.Time.Testing;
using Microsoft.Kiota.Abstractions;
using Microsoft.Kiota.Abstractions.Authentication;
using Microsoft.Kiota.Http.HttpClientLibrary;
using OdcHandler.Testing;

namespace OdcHandler.Recipes.Tests.Kiota;

/// <summary>
/// The README's Kiota recipe against the fake ODC: a Kiota client whose <see cref="HttpClientRequestAdapter"/> runs over
/// a named HttpClient from the factory, with Kiota's own handlers and <c>AddOdcAuthentication</c> on it, and an
/// <see cref="AnonymousAuthenticationProvider"/>: the token is the pipeline's business, not the adapter's.
/// </summary>
public sealed class KiotaRecipeTests : IAsyncDisposable
{
    private const string ClientName = "odc";

    private readonly FakeTimeProvider _time = new(new DateTimeOffset(2026, 11, 30, 9, 0, 0, TimeSpan.Zero));
    private readonly FakeOdcServer _odc;
    private readonly OdcUsersData _users = new();
    private readonly ApiTraffic _traffic = new();
    private readonly ServiceProvider _provider;

    public KiotaRecipeTests()
    {
        _odc = new FakeOdcServer(_time);
        _users.MapOnto(_odc);

        var services = new ServiceCollection();
        services.AddSingleton<TimeProvider>(_time);
        var builder = services.AddHttpClient(ClientName, c => c.BaseAddress = _odc.PortalUri)
            .AddOdcAuthentication(o =>
            {
                o.PortalDomain = _odc.PortalDomain;
                o.ClientId = FakeOdcServer.DefaultClientId;
                o.ClientSecret = FakeOdcServer.DefaultClientSecret;
            });
        // Kiota's own middleware (retry, redirect, headers inspection…), as Kiota's DI guidance adds it.
        foreach (var handler in KiotaClientFactory.GetDefaultHandlerActivatableTypes())
        {
            services.TryAddTransient(handler);
            builder.AddHttpMessageHandler(sp => (DelegatingHandler)sp.GetRequiredService(handler));
        }

        services.AddTransient(sp => new OdcClient(new HttpClientRequestAdapter(
            new AnonymousAuthenticationProvider(),
            httpClient: sp.GetRequiredService<IHttpClientFactory>().CreateClient(ClientName))));
        builder.UseFakeOdc(_odc).ConfigurePrimaryHttpMessageHandler(() => _traffic.CreatePrimaryHandler(_odc));
        _provider = services.BuildServiceProvider();
    }

    public ValueTask DisposeAsync() => _provider.DisposeAsync();

    [Fact]
    public async Task GetUsers_ManyCallsAndClients_OneTokenRequestAndEveryCallCarriesIt()
    {
        for (var i = 0; i < 6; i++)
        {
            // A new client and adapter each time, as a transient registration gives: the token outlives them.
            var page = await _provider.GetRequiredService<OdcClient>().Users.GetAsync(r => r.QueryParameters.Limit = 2);
            Assert.Equal(["Ada Lovelace", "Grace Hopper"], page!.Results!.Select(u => u.Name));
            _time.Advance(TimeSpan.FromHours(1)); // 6 h in all, well inside the 12 h token
        }

        var token = await _provider.GetRequiredService<IOdcAccessTokenProvider>().GetTokenAsync(ClientName);
        Assert.Equal(1, _odc.TokenRequests);
        Assert.Equal(6, _odc.ApiRequests);
        Assert.Equal(6, _traffic.Requests.Count);
        Assert.All(_traffic.Requests, r =>
        {
            Assert.Equal($"Bearer {token.Value}", r.Authorization);
            Assert.Equal("/api/identity/v1/users?limit=2", r.PathAndQuery);
        });
    }

    [Fact]
    public async Task PostUser_TokenRevoked_IsRetriedOnceWithTheSameBody()
    {
        var client = _provider.GetRequiredService<OdcClient>();
        await client.Users.GetAsync();
        _odc.RevokeAllTokens();

        var created = await client.Users.PostAsync(new NewUser { Name = "Alan Turing", Email = "alan@example.com" });

        Assert.Equal("u-new", created!.Key);
        Assert.Equal(2, _odc.TokenRequests);
        Assert.Equal(1, _odc.RejectedApiRequests);
        var posts = _traffic.Requests.Where(r => r.Method == HttpMethod.Post).ToList();
        Assert.Equal(2, posts.Count);
        Assert.NotEqual(posts[0].Authorization, posts[1].Authorization);
        // Kiota serializes the body into a MemoryStream and sends it as StreamContent, which seeks back: replayable.
        Assert.All(posts, p => Assert.Equal("StreamContent", p.ContentType));
        var body = JsonSerializer.Deserialize<JsonElement>(Assert.Single(_users.CreatedBodies)!);
        Assert.Equal("Alan Turing", body.GetProperty("name").GetString());
        Assert.Equal("alan@example.com", body.GetProperty("email").GetString());
    }

    [Fact]
    public async Task GetUsers_ClientSuspended_CallerGetsOdcAuthenticationExceptionAsItIs()
    {
        var client = _provider.GetRequiredService<OdcClient>();
        await client.Users.GetAsync();
        _odc.SuspendClient(FakeOdcServer.DefaultClientId);

        // Kiota does not wrap exceptions thrown by the pipeline in its ApiException: a credential problem stays
        // recognisable, and is not mistaken for an API error.
        var error = await Assert.ThrowsAsync<OdcAuthenticationException>(() => client.Users.GetAsync());

        Assert.Contains("invalid_client", error.Message, StringComparison.Ordinal);
        Assert.Equal(2, _odc.TokenRequests); // the rejected token was dropped and a new one asked for, once
        Assert.Equal(1, _odc.RejectedApiRequests);
        Assert.Equal(2, _traffic.Requests.Count); // without a token, the request was not sent again
    }
}
