using System.Collections.Concurrent;
using System.Net;
using Microsoft.AspNetCore.Builder;
using Microsoft.AspNetCore.Hosting;
using Microsoft.AspNetCore.Hosting.Server;
using Microsoft.AspNetCore.Hosting.Server.Features;
using Microsoft.AspNetCore.Http;
using Microsoft.Extensions.DependencyInjection;
using Microsoft.Extensions.Logging;
using OdcHandler.Testing;

namespace OdcHandler.IntegrationTests;

/// <summary>
/// Three organisations on three loopback ports, served by Kestrel, reached through SocketsHttpHandler (which follows
/// redirects and drops <c>Authorization</c> on the way): each organisation's token reaches only its own port.
/// </summary>
public sealed class OrganizationsRedirectTests : IAsyncLifetime
{
    private readonly List<Organization> _orgs = [];
    private readonly Source _source = new();

    public async Task InitializeAsync()
    {
        foreach (var name in new[] { "acme", "globex", "initech" })
        {
            _orgs.Add(await Organization.StartAsync(name, _source));
        }

        // acme's /api/moved sends the caller to globex; its /api/inside to itself.
        _orgs[0].Redirects["/api/moved"] = new Uri(_orgs[1].Server.PortalUri, "/api/whoami");
        _orgs[0].Redirects["/api/inside"] = new Uri(_orgs[0].Server.PortalUri, "/api/whoami");
    }

    public async Task DisposeAsync()
    {
        foreach (var org in _orgs)
        {
            await org.DisposeAsync();
        }
    }

    [Fact]
    public async Task ThreeOrganisations_RedirectsIncluded_EachTokenReachesOnlyItsOwnPort()
    {
        var services = new ServiceCollection();
        services.AddSingleton(_source);
        services.AddHttpClient("orgs").AddOdcAuthentication<Source>();
        await using var provider = services.BuildServiceProvider();
        var client = provider.GetRequiredService<IHttpClientFactory>().CreateClient("orgs");

        foreach (var org in _orgs)
        {
            using var own = await client.GetAsync(new Uri(org.Server.PortalUri, "/api/whoami"));
            Assert.Equal(HttpStatusCode.OK, own.StatusCode);
        }

        using var moved = await client.GetAsync(new Uri(_orgs[0].Server.PortalUri, "/api/moved"));
        using var movedSync = client.Send(new HttpRequestMessage(HttpMethod.Get, new Uri(_orgs[0].Server.PortalUri, "/api/moved")));
        using var inside = await client.GetAsync(new Uri(_orgs[0].Server.PortalUri, "/api/inside"));

        Assert.Equal(HttpStatusCode.Unauthorized, moved.StatusCode);
        Assert.Equal(HttpStatusCode.Unauthorized, movedSync.StatusCode);
        Assert.Equal(HttpStatusCode.OK, inside.StatusCode);

        // Every bearer value was seen by one port only, and each port saw only its own organisation's.
        var bearers = _orgs.SelectMany(o => o.Authorizations.Where(a => a is not null && a.StartsWith("Bearer ", StringComparison.Ordinal)).Select(a => (Port: o.Server.PortalUri.Port, Value: a!))).ToList();
        Assert.All(bearers.GroupBy(b => b.Value), g => Assert.Single(g.Select(b => b.Port).Distinct()));
        Assert.Equal(2, _orgs[1].Authorizations.Count(a => a is null)); // the two redirected requests reached globex without a token
        Assert.All(_orgs, o => Assert.Equal(1, o.Server.TokenRequests));
        // acme's one refusal is the hop of /api/inside that SocketsHttpHandler sent on without the token; it was resent
        // there once with the same token (no token request), as the single-organisation handler does.
        Assert.Equal(1, _orgs[0].Server.RejectedApiRequests);
        Assert.Equal(0, _orgs[2].Server.RejectedApiRequests);
    }

    private sealed class Source : IOdcCredentialSource
    {
        public ConcurrentDictionary<string, OdcOrganizationCredentials> Organizations { get; } = new(StringComparer.Ordinal);

        public ValueTask<OdcOrganizationCredentials?> GetCredentialsAsync(string portalHost, CancellationToken cancellationToken) =>
            ValueTask.FromResult(Organizations.GetValueOrDefault(portalHost));
    }

    private sealed class Organization : IAsyncDisposable
    {
        private readonly WebApplication _app;

        private Organization(WebApplication app, FakeOdcServer server)
        {
            _app = app;
            Server = server;
        }

        public FakeOdcServer Server { get; }

        public ConcurrentQueue<string?> Authorizations { get; } = new();

        public ConcurrentDictionary<string, Uri> Redirects { get; } = new(StringComparer.Ordinal);

        public static async Task<Organization> StartAsync(string name, Source source)
        {
            var builder = WebApplication.CreateSlimBuilder();
            builder.Logging.ClearProviders();
            builder.WebHost.ConfigureKestrel(kestrel => kestrel.Listen(IPAddress.Loopback, 0));
            var app = builder.Build();
            Organization? self = null;
            app.Run(context => self!.ServeAsync(context));
            await app.StartAsync();
            var address = new Uri(app.Services.GetRequiredService<IServer>().Features.Get<IServerAddressesFeature>()!.Addresses.First());
            var server = new FakeOdcServer(address) { RateLimits = null };
            server.Clients.Add($"{name}-client", $"{name} secret&=+");
            server.MapGet("/api/whoami", r => new { client = r.ClientId });
            source.Organizations[server.PortalUri.Authority] = new OdcOrganizationCredentials($"{name}-client", $"{name} secret&=+");
            self = new Organization(app, server);
            return self;
        }

        public async ValueTask DisposeAsync()
        {
            await _app.StopAsync();
            await _app.DisposeAsync();
        }

        private async Task ServeAsync(HttpContext context)
        {
            if (context.Request.Path.StartsWithSegments("/api"))
            {
                Authorizations.Enqueue(context.Request.Headers.Authorization.Count == 0 ? null : context.Request.Headers.Authorization.ToString());
            }

            if (Redirects.TryGetValue(context.Request.Path.Value ?? string.Empty, out var target))
            {
                context.Response.Redirect(target.ToString());
                return;
            }

            using var request = new HttpRequestMessage(new HttpMethod(context.Request.Method), new Uri(Server.PortalUri, context.Request.Path + context.Request.QueryString));
            using var body = new MemoryStream();
            await context.Request.Body.CopyToAsync(body, context.RequestAborted);
            if (body.Length > 0)
            {
                request.Content = new ByteArrayContent(body.ToArray());
            }

            foreach (var header in context.Request.Headers)
            {
                if (!request.Headers.TryAddWithoutValidation(header.Key, header.Value.ToArray()) && request.Content is not null)
                {
                    request.Content.Headers.TryAddWithoutValidation(header.Key, header.Value.ToArray());
                }
            }

            using var response = await Server.HandleAsync(request, context.RequestAborted);
            context.Response.StatusCode = (int)response.StatusCode;
            foreach (var header in response.Headers.Concat(response.Content.Headers))
            {
                context.Response.Headers[header.Key] = header.Value.ToArray();
            }

            context.Response.Headers.Remove("Transfer-Encoding");
            await response.Content.CopyToAsync(context.Response.Body, context.RequestAborted);
        }
    }
}
