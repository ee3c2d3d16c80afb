using System.Collections.Concurrent;
using System.Net;
using System.Net.Sockets;
using System.Security.Claims;
using System.Security.Cryptography;
using System.Text;
using Microsoft.AspNetCore.Builder;
using Microsoft.AspNetCore.DataProtection;
using Microsoft.AspNetCore.Hosting;
using Microsoft.AspNetCore.Http;
using Microsoft.Extensions.DependencyInjection;
using Microsoft.Extensions.Logging;
using OpenIddict.Abstractions;
using OpenIddict.Server;
using OpenIddict.Server.AspNetCore;
using OpenIddict.Validation.AspNetCore;

namespace OdcHandler.IntegrationTests;

/// <summary>
/// A real OpenID Connect server (OpenIddict) and an API protected by OpenIddict's own token validation,
/// served by Kestrel on 127.0.0.1, shaped as ODC is: discovery under <c>/identity/</c>, the issuer and the
/// token endpoint under <c>/auth/realms/{realm}/</c>.
/// </summary>
public sealed class OpenIddictOdcServer : IAsyncDisposable
{
    public const string ClientId = "interop-client";
    public const string ClientSecret = "a+b/c=d&e%f g";
    public const string ClientName = "interop";
    private const string Realm = "3f0c6a52-7d3e-4b8e-9a51-0c2e5f6a7b8c";

    private readonly WebApplication _app;
    private readonly ConcurrentDictionary<string, bool> _seenAuthorizations = new(StringComparer.Ordinal);
    private readonly ConcurrentDictionary<string, bool> _revokedAuthorizations = new(StringComparer.Ordinal);
    private int _tokenRequests;
    private int _apiRequests;
    private int _rejectedApiRequests;

    private OpenIddictOdcServer(WebApplication app, int port)
    {
        _app = app;
        Portal = new Uri($"http://127.0.0.1:{port}/");
    }

    public Uri Portal { get; }

    public string PortalDomain => Portal.GetLeftPart(UriPartial.Authority);

    public int TokenRequests => Volatile.Read(ref _tokenRequests);

    public int ApiRequests => Volatile.Read(ref _apiRequests);

    public int RejectedApiRequests => Volatile.Read(ref _rejectedApiRequests);

    /// <summary>Where <c>/api/redirect</c> sends its callers.</summary>
    public Uri? RedirectTarget { get; set; }

    /// <summary>
    /// A service provider with one HttpClient, <see cref="ClientName"/>, that calls this server's API through
    /// <c>AddOdcAuthentication</c>, as an application would.
    /// </summary>
    public ServiceProvider CreateClientServices(Action<OdcAuthenticationOptions>? configure = null, Action<IHttpClientBuilder>? client = null)
    {
        var services = new ServiceCollection();
        var builder = services.AddHttpClient(ClientName, c => c.BaseAddress = new Uri(Portal, "/api/"));
        client?.Invoke(builder);
        builder.AddOdcAuthentication(o =>
            {
                o.PortalDomain = PortalDomain;
                o.ClientId = ClientId;
                o.ClientSecret = ClientSecret;
                o.RefreshJitter = TimeSpan.Zero;
                configure?.Invoke(o);
            });
        return services.BuildServiceProvider();
    }

    /// <summary>Every token the API has accepted so far is rejected from now on, as after a revocation.</summary>
    public void RevokeSeenTokens()
    {
        foreach (var seen in _seenAuthorizations.Keys)
        {
            _revokedAuthorizations[seen] = true;
        }
    }

    /// <summary>Starts a server on a free port, or on <paramref name="port"/> to stand in for one that was stopped.</summary>
    public static async Task<OpenIddictOdcServer> StartAsync(TimeSpan accessTokenLifetime, int? port = null)
    {
        // The issuer carries the port and must be known before start: take a free port first.
        port ??= FreePort();
        return await StartOnAsync(accessTokenLifetime, port.Value);
    }

    private static int FreePort()
    {
        using var probe = new TcpListener(IPAddress.Loopback, 0);
        probe.Start();
        return ((IPEndPoint)probe.LocalEndpoint).Port;
    }

    private static async Task<OpenIddictOdcServer> StartOnAsync(TimeSpan accessTokenLifetime, int port)
    {
        OpenIddictOdcServer? self = null;
        var builder = WebApplication.CreateSlimBuilder();
        builder.Logging.ClearProviders();
        builder.WebHost.ConfigureKestrel(kestrel => kestrel.Listen(IPAddress.Loopback, port));
        builder.Services.AddOpenIddict()
            .AddServer(options =>
            {
                options.SetIssuer(new Uri($"http://127.0.0.1:{port}/auth/realms/{Realm}/"));
                options.SetConfigurationEndpointUris("identity/.well-known/openid-configuration");
                options.SetTokenEndpointUris($"auth/realms/{Realm}/protocol/openid-connect/token");
                options.SetJsonWebKeySetEndpointUris($"auth/realms/{Realm}/protocol/openid-connect/certs");
                options.AllowClientCredentialsFlow();
                options.SetAccessTokenLifetime(accessTokenLifetime);
                options.AddEphemeralEncryptionKey().AddEphemeralSigningKey().DisableAccessTokenEncryption();
                options.EnableDegradedMode();
                options.UseAspNetCore().DisableTransportSecurityRequirement();
                options.AddEventHandler<OpenIddictServerEvents.ValidateTokenRequestContext>(handler => handler.UseInlineHandler(context =>
                {
                    if (!string.Equals(context.Request.ClientId, ClientId, StringComparison.Ordinal)
                        || context.Request.ClientSecret is not { } secret
                        || !CryptographicOperations.FixedTimeEquals(Encoding.UTF8.GetBytes(secret), Encoding.UTF8.GetBytes(ClientSecret)))
                    {
                        context.Reject(OpenIddictConstants.Errors.InvalidClient, "Invalid client or Invalid client credentials");
                    }

                    return default;
                }));
                options.AddEventHandler<OpenIddictServerEvents.HandleTokenRequestContext>(handler => handler.UseInlineHandler(context =>
                {
                    var identity = new ClaimsIdentity(OpenIddictServerAspNetCoreDefaults.AuthenticationScheme);
                    identity.SetClaim(OpenIddictConstants.Claims.Subject, context.Request.ClientId);
                    context.SignIn(new ClaimsPrincipal(identity));
                    return default;
                }));
            })
            .AddValidation(options =>
            {
                options.UseLocalServer();
                options.UseAspNetCore();
            });
        builder.Services.AddAuthentication(OpenIddictValidationAspNetCoreDefaults.AuthenticationScheme);
        builder.Services.AddAuthorization();
        builder.Services.AddDataProtection().UseEphemeralDataProtectionProvider();

        // Clients keep idle connections open; a test that stops the server should not wait long for them.
        builder.Services.Configure<Microsoft.Extensions.Hosting.HostOptions>(o => o.ShutdownTimeout = TimeSpan.FromSeconds(1));

        var app = builder.Build();
        app.Use(async (context, next) =>
        {
            var server = self!;
            var path = context.Request.Path.Value ?? string.Empty;
            if (path.EndsWith("/protocol/openid-connect/token", StringComparison.Ordinal))
            {
                Interlocked.Increment(ref server._tokenRequests);
            }
            else if (path.StartsWith("/api/", StringComparison.Ordinal))
            {
                Interlocked.Increment(ref server._apiRequests);
                var authorization = context.Request.Headers.Authorization.ToString();
                if (server._revokedAuthorizations.ContainsKey(authorization))
                {
                    Interlocked.Increment(ref server._rejectedApiRequests);
                    context.Response.StatusCode = StatusCodes.Status401Unauthorized;
                    context.Response.Headers.WWWAuthenticate = "Bearer error=\"invalid_token\", error_description=\"The token was revoked.\"";
                    return;
                }

                context.Response.OnStarting(() =>
                {
                    if (context.Response.StatusCode == StatusCodes.Status401Unauthorized)
                    {
                        Interlocked.Increment(ref server._rejectedApiRequests);
                    }
                    else if (authorization.Length > 0)
                    {
                        server._seenAuthorizations[authorization] = true;
                    }

                    return Task.CompletedTask;
                });
            }

            await next(context);
        });
        app.UseAuthentication();
        app.UseAuthorization();
        app.MapGet("/api/identity/v1/users", (ClaimsPrincipal user) => Results.Json(new
        {
            results = new[] { new { key = "u-1", name = "Ada", client = user.FindFirst(OpenIddictConstants.Claims.Subject)?.Value } },
        })).RequireAuthorization();
        app.MapPost("/api/identity/v1/users", async (HttpRequest request) =>
        {
            using var reader = new StreamReader(request.Body);
            return Results.Json(new { received = await reader.ReadToEndAsync() });
        }).RequireAuthorization();
        app.MapGet("/api/redirect", () => Results.Redirect(self!.RedirectTarget!.ToString())).RequireAuthorization();

        await app.StartAsync();
        self = new OpenIddictOdcServer(app, port);
        return self;
    }

    public async ValueTask DisposeAsync()
    {
        await _app.StopAsync();
        await _app.DisposeAsync();
    }
}
