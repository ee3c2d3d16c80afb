using System.Net;
using System.Text.Json;
using Microsoft.Extensions.DependencyInjection;
using Microsoft.Extensions.Time.Testing;
using OdcHandler.Testing;
using Refit;

namespace OdcHandler.Recipes.Tests.Refit;

/// <summary>
/// The README's Refit recipe against the fake ODC: Refit's generated client on an HttpClient from the factory, with
/// <c>AddOdcAuthentication</c> on it. Refit 16 implements the interface with its source generator
/// (<c>AddRefitGeneratedClient</c>); its <c>AddRefitClient</c> builds requests by reflection, which now lives in a
/// separate package.
/// </summary>
public sealed class RefitRecipeTests : IAsyncDisposable
{
    private readonly FakeTimeProvider _time = new(new DateTimeOffset(2026, 11, 30, 9, 0, 0, TimeSpan.Zero));
    private readonly FakeOdcServer _odc;
    private readonly OdcUsersData _users = new();
    private readonly ApiTraffic _traffic = new();
    private ServiceProvider? _provider;

    public RefitRecipeTests()
    {
        _odc = new FakeOdcServer(_time);
        _users.MapOnto(_odc);
    }

    public async ValueTask DisposeAsync()
    {
        if (_provider is not null)
        {
            await _provider.DisposeAsync();
        }
    }

    /// <summary>The recipe as the README shows it, pointed at the fake; returns the HttpClient builder.</summary>
    private IHttpClientBuilder AddOdcUsers(IServiceCollection services, RefitSettings? settings, string? httpClientName)
    {
        services.AddSingleton<TimeProvider>(_time);
        var builder = httpClientName is null
            ? services.AddRefitGeneratedClient<IOdcUsers>(settings)
            : services.AddRefitGeneratedClient<IOdcUsers>(settings, httpClientName);
        return builder
            .ConfigureHttpClient(c => c.BaseAddress = _odc.PortalUri)
            .AddOdcAuthentication(o =>
            {
                o.PortalDomain = _odc.PortalDomain;
                o.ClientId = FakeOdcServer.DefaultClientId;
                o.ClientSecret = FakeOdcServer.DefaultClientSecret;
            })
            .UseFakeOdc(_odc)
            .ConfigurePrimaryHttpMessageHandler(() => _traffic.CreatePrimaryHandler(_odc));
    }

    private IOdcUsers Build(RefitSettings? settings = null, string? httpClientName = nameof(IOdcUsers))
    {
        var services = new ServiceCollection();
        AddOdcUsers(services, settings, httpClientName);
        _provider = services.BuildServiceProvider();
        return _provider.GetRequiredService<IOdcUsers>();
    }

    [Fact]
    public async Task ManyCalls_OverElevenHours_OneTokenRequestAndEveryCallCarriesIt()
    {
        var users = Build();

        for (var i = 0; i < 12; i++)
        {
            var page = await users.ListAsync(limit: 2);
            Assert.Equal(["Ada Lovelace", "Grace Hopper"], page.Results.Select(u => u.Name));
            _time.Advance(TimeSpan.FromMinutes(55)); // 11 h in all: inside the 12 h token, outside its refresh window
        }

        var token = await _provider!.GetRequiredService<IOdcAccessTokenProvider>().GetTokenAsync(nameof(IOdcUsers));
        Assert.Equal(1, _odc.TokenRequests);
        Assert.Equal(12, _odc.ApiRequests);
        Assert.Equal(0, _odc.RejectedApiRequests);
        Assert.All(_traffic.Requests, r => Assert.Equal($"Bearer {token.Value}", r.Authorization));
        Assert.Equal(12, _traffic.Requests.Count);
    }

    [Fact]
    public async Task HttpClientName_GivenToAddRefitGeneratedClient_IsTheNameTheTokenProviderKnows()
    {
        var users = Build(httpClientName: nameof(IOdcUsers));
        var tokens = _provider!.GetRequiredService<IOdcAccessTokenProvider>();

        await users.ListAsync();
        var held = await tokens.GetTokenAsync(nameof(IOdcUsers));
        tokens.InvalidateToken(nameof(IOdcUsers));
        await users.ListAsync();

        Assert.Equal($"Bearer {held.Value}", _traffic.Requests[0].Authorization);
        Assert.Equal(2, _odc.TokenRequests); // the provider shared the client's token; dropping it made the client fetch one
        Assert.NotEqual(_traffic.Requests[0].Authorization, _traffic.Requests[1].Authorization);
    }

    [Fact]
    public async Task HttpClientName_ByDefault_IsTheGeneratedTypesAssemblyQualifiedName()
    {
        var services = new ServiceCollection();
        var name = AddOdcUsers(services, settings: null, httpClientName: null).Name;
        _provider = services.BuildServiceProvider();
        var users = _provider.GetRequiredService<IOdcUsers>();

        await users.ListAsync();
        var token = await _provider.GetRequiredService<IOdcAccessTokenProvider>().GetTokenAsync(name);

        // Version and all: it changes with the assembly's version, so the README passes a name of its own.
        Assert.StartsWith("Refit.Implementation.Generated", name, StringComparison.Ordinal);
        Assert.Contains("IOdcUsers, OdcHandler.Recipes.Tests, Version=", name, StringComparison.Ordinal);
        Assert.Equal($"Bearer {token.Value}", _traffic.Requests.Single().Authorization);
        Assert.Equal(1, _odc.TokenRequests);
    }

    public static TheoryData<string> ReplayableBodySettings => ["RequestBodySerialization.Buffered", "Buffered"];

    private static RefitSettings Settings(string name) => name switch
    {
        "RequestBodySerialization.Buffered" => new RefitSettings { RequestBodySerialization = RequestBodySerializationMode.Buffered },
        "Buffered" => new RefitSettings { Buffered = true },
        _ => throw new ArgumentOutOfRangeException(nameof(name)),
    };

    [Theory]
    [MemberData(nameof(ReplayableBodySettings))]
    public async Task Post_TokenRevoked_WithABufferedBody_IsRetriedOnceWithTheSameBody(string settings)
    {
        var users = Build(Settings(settings));
        await users.ListAsync();
        _odc.RevokeAllTokens();

        var created = await users.CreateAsync(new NewOdcUser("Alan Turing", "alan@example.com"));

        Assert.Equal("u-new", created.Key);
        Assert.Equal(2, _odc.TokenRequests);
        Assert.Equal(1, _odc.RejectedApiRequests);
        var posts = _traffic.Requests.Where(r => r.Method == HttpMethod.Post).ToList();
        Assert.Equal(2, posts.Count);
        Assert.NotEqual(posts[0].Authorization, posts[1].Authorization);
        Assert.Equal(posts[0].ContentType, posts[1].ContentType);
        var body = JsonSerializer.Deserialize<JsonElement>(Assert.Single(_users.CreatedBodies)!);
        Assert.Equal("Alan Turing", body.GetProperty("name").GetString());
        Assert.Equal("alan@example.com", body.GetProperty("email").GetString());
    }

    [Fact]
    public async Task Post_TokenRevoked_WithRefitsDefaultStreamedBody_Returns401AndTheNextCallGetsAFreshToken()
    {
        var users = Build();
        await users.ListAsync();
        _odc.RevokeAllTokens();

        var refused = await Assert.ThrowsAnyAsync<ApiException>(() => users.CreateAsync(new NewOdcUser("Alan Turing", "alan@example.com")));
        var page = await users.ListAsync();

        // Refit writes the body as it is sent (PushStreamContent): it cannot be sent again, so the 401 is the answer.
        Assert.Equal(HttpStatusCode.Unauthorized, refused.StatusCode);
        Assert.Equal("PushStreamContent", _traffic.Requests[1].ContentType);
        Assert.Single(_traffic.Requests, r => r.Method == HttpMethod.Post);
        Assert.Empty(_users.CreatedBodies);
        // The rejected token was dropped all the same: the next call succeeds with a new one.
        Assert.Equal(2, page.Results.Count);
        Assert.Equal(2, _odc.TokenRequests);
        Assert.Equal(1, _odc.RejectedApiRequests);
    }

    [Fact]
    public void AddRefitClient_WithoutTheRefitReflectionPackage_CannotBeResolved()
    {
        var services = new ServiceCollection();
        services.AddRefitClient<IOdcUsers>()
            .ConfigureHttpClient(c => c.BaseAddress = _odc.PortalUri)
            .AddOdcAuthentication(o =>
            {
                o.PortalDomain = _odc.PortalDomain;
                o.ClientId = FakeOdcServer.DefaultClientId;
                o.ClientSecret = FakeOdcServer.DefaultClientSecret;
            })
            .UseFakeOdc(_odc);
        _provider = services.BuildServiceProvider();

        // Why the README uses AddRefitGeneratedClient: in Refit 16, AddRefitClient needs Refit.Reflection.
        var error = Assert.Throws<NotSupportedException>(() => _provider.GetRequiredService<IOdcUsers>());
        Assert.Contains("Refit.Reflection", error.Message, StringComparison.Ordinal);
    }
}
