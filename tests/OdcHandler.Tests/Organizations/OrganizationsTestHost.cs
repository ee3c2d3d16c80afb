using System.Collections.Concurrent;
using System.Net.Http.Headers;
using Microsoft.Extensions.DependencyInjection;
using Microsoft.Extensions.Http.Resilience;
using Microsoft.Extensions.Logging;
using Microsoft.Extensions.Time.Testing;
using OdcHandler.Internal;
using OdcHandler.Testing;

namespace OdcHandler.Tests.Organizations;

/// <summary>A credential source over a dictionary the test changes, counting every question per host.</summary>
public sealed class TestCredentialSource : IOdcCredentialSource
{
    private readonly ConcurrentDictionary<string, int> _asked = new(StringComparer.Ordinal);

    public ConcurrentDictionary<string, OdcOrganizationCredentials> Organizations { get; } = new(StringComparer.Ordinal);

    /// <summary>When set, every call waits for it: a slow database.</summary>
    public TaskCompletionSource? Gate { get; set; }

    public int Asked(string host) => _asked.GetValueOrDefault(host);

    public int AskedInAll => _asked.Values.Sum();

    public async ValueTask<OdcOrganizationCredentials?> GetCredentialsAsync(string portalHost, CancellationToken cancellationToken)
    {
        _asked.AddOrUpdate(portalHost, 1, (_, n) => n + 1);
        if (Gate is { } gate)
        {
            await gate.Task.WaitAsync(cancellationToken);
        }

        return Organizations.GetValueOrDefault(portalHost);
    }
}

/// <summary>
/// What reached the network: the primary handler routes to the fake organisations by origin (as
/// <c>UseFakeOdc(params FakeOdcServer[])</c> does) and records each request's address and <c>Authorization</c>.
/// </summary>
public sealed class RecordingRouter
{
    private readonly Dictionary<string, FakeOdcServer> _servers;

    public RecordingRouter(IEnumerable<FakeOdcServer> servers) =>
        _servers = servers.ToDictionary(s => s.PortalUri.GetLeftPart(UriPartial.Authority), StringComparer.OrdinalIgnoreCase);

    public ConcurrentQueue<(Uri Address, string? Authorization)> Sent { get; } = new();

    /// <summary>Rewrites a request to <c>from</c> into one to <c>to</c>, dropping <c>Authorization</c>, as SocketsHttpHandler follows a redirect.</summary>
    public Func<Uri, Uri?> Redirect { get; set; } = _ => null;

    public HttpMessageHandler CreateHandler() => new Handler(this);

    private sealed class Handler(RecordingRouter router) : HttpMessageHandler
    {
        protected override Task<HttpResponseMessage> SendAsync(HttpRequestMessage request, CancellationToken cancellationToken)
        {
            router.Sent.Enqueue((request.RequestUri!, request.Headers.Authorization?.ToString()));
            if (router.Redirect(request.RequestUri!) is { } target)
            {
                request.RequestUri = target;
                request.Headers.Authorization = null;
                router.Sent.Enqueue((target, null));
            }

            return router._servers.TryGetValue(request.RequestUri!.GetLeftPart(UriPartial.Authority), out var server)
                ? server.HandleAsync(request, cancellationToken)
                : throw new HttpRequestException($"unknown host {request.RequestUri.Authority}");
        }

        protected override HttpResponseMessage Send(HttpRequestMessage request, CancellationToken cancellationToken) =>
            SendAsync(request, cancellationToken).GetAwaiter().GetResult();
    }
}

/// <summary>Builds a provider with one multi-organisation client over fake organisations, the way an application registers it.</summary>
public static class OrganizationsTestHost
{
    public const string ClientName = "odc-orgs";

    /// <summary>A fake organisation at <c>https://{name}.outsystems.dev</c> with one client <c>{name}-client</c>, known to <paramref name="source"/>.</summary>
    public static FakeOdcServer Organization(FakeTimeProvider time, TestCredentialSource source, string name, string? portal = null)
    {
        var server = new FakeOdcServer(new Uri(portal ?? $"https://{name}.outsystems.dev"), time) { RateLimits = null };
        server.Clients.Add($"{name}-client", $"{name}-secret+/=&%");
        server.MapGet("/api/whoami", r => new { client = r.ClientId, host = r.Uri.Authority });
        source.Organizations[server.PortalUri.Authority] = new OdcOrganizationCredentials($"{name}-client", $"{name}-secret+/=&%");
        return server;
    }

    public static ServiceProvider Build(
        FakeTimeProvider time,
        TestCredentialSource source,
        RecordingRouter router,
        Action<OdcOrganizationsOptions>? configure = null,
        Action<IServiceCollection>? services = null,
        Action<IHttpClientBuilder>? before = null)
    {
        // before: what the application registers on the client ahead of AddOdcAuthentication<T>().
        var collection = new ServiceCollection();
        collection.AddSingleton<TimeProvider>(time);
        collection.AddLogging(b => b.SetMinimumLevel(LogLevel.Warning));
        collection.AddSingleton(source);
        collection.AddHttpClient(OdcAuthenticationDefaults.BackchannelHttpClientName).ConfigurePrimaryHttpMessageHandler(router.CreateHandler);
        collection.PostConfigure<HttpStandardResilienceOptions>(OdcAuthenticationDefaults.BackchannelResiliencePipelineName, o =>
        {
            o.Retry.UseJitter = false;
            o.Retry.Delay = TimeSpan.Zero;
            o.Retry.ShouldRetryAfterHeader = false;
        });
        var client = collection.AddHttpClient(ClientName);
        before?.Invoke(client);
        client.AddOdcAuthentication<TestCredentialSource>(o =>
            {
                o.RefreshJitter = TimeSpan.Zero;
                configure?.Invoke(o);
            })
            .ConfigurePrimaryHttpMessageHandler(router.CreateHandler);
        services?.Invoke(collection);
        return collection.BuildServiceProvider(new ServiceProviderOptions { ValidateOnBuild = true, ValidateScopes = true });
    }

    public static HttpClient Client(this IServiceProvider provider) =>
        provider.GetRequiredService<IHttpClientFactory>().CreateClient(ClientName);

    internal static OdcOrganizationCache Organizations(this IServiceProvider provider) =>
        provider.GetRequiredService<OdcOrganizationDirectory>().Get(ClientName);

    public static Uri WhoAmI(this FakeOdcServer server) => new(server.PortalUri, "/api/whoami");

    public static AuthenticationHeaderValue? Header(string? value) => value is null ? null : AuthenticationHeaderValue.Parse(value);
}
