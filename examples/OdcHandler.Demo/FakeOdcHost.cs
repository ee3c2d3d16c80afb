using System.Net;
using Microsoft.AspNetCore.Builder;
using Microsoft.AspNetCore.Hosting;
using Microsoft.AspNetCore.Hosting.Server;
using Microsoft.AspNetCore.Hosting.Server.Features;
using Microsoft.AspNetCore.Http;
using Microsoft.Extensions.DependencyInjection;
using Microsoft.Extensions.Logging;
using OdcHandler.Testing;

namespace OdcHandler.Demo;

/// <summary>
/// Serves a <see cref="FakeOdcServer"/> over real HTTP with Kestrel, bound to 127.0.0.1 on a free port
/// (never another interface), so that out-of-process clients such as curl can use it too.
/// </summary>
public sealed class FakeOdcHost : IAsyncDisposable
{
    private readonly WebApplication _app;

    private FakeOdcHost(WebApplication app, FakeOdcServer server)
    {
        _app = app;
        Server = server;
    }

    /// <summary>The fake being served; its <see cref="FakeOdcServer.PortalUri"/> is the loopback address.</summary>
    public FakeOdcServer Server { get; }

    /// <summary>Starts Kestrel on 127.0.0.1 and a free port, then the fake behind it.</summary>
    /// <param name="cancellationToken">Stops the start.</param>
    /// <returns>The running host.</returns>
    public static async Task<FakeOdcHost> StartAsync(CancellationToken cancellationToken = default)
    {
        var builder = WebApplication.CreateSlimBuilder();
        builder.Logging.ClearProviders();
        builder.WebHost.ConfigureKestrel(kestrel => kestrel.Listen(IPAddress.Loopback, 0));
        var app = builder.Build();

        // The fake needs its own address for its discovery document, known only once Kestrel has bound.
        FakeOdcServer? server = null;
        app.Run(context => ServeAsync(server!, context));
        await app.StartAsync(cancellationToken).ConfigureAwait(false);
        var address = app.Services.GetRequiredService<IServer>().Features.Get<IServerAddressesFeature>()!.Addresses.First();
        server = new FakeOdcServer(new Uri(address));
        return new FakeOdcHost(app, server);
    }

    /// <inheritdoc />
    public async ValueTask DisposeAsync()
    {
        await _app.StopAsync().ConfigureAwait(false);
        await _app.DisposeAsync().ConfigureAwait(false);
    }

    private static async Task ServeAsync(FakeOdcServer server, HttpContext context)
    {
        using var request = new HttpRequestMessage(new HttpMethod(context.Request.Method), new Uri(server.PortalUri, context.Request.Path + context.Request.QueryString));
        using var body = new MemoryStream();
        await context.Request.Body.CopyToAsync(body, context.RequestAborted).ConfigureAwait(false);
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

        using var response = await server.HandleAsync(request, context.RequestAborted).ConfigureAwait(false);
        context.Response.StatusCode = (int)response.StatusCode;
        foreach (var header in response.Headers.Concat(response.Content.Headers))
        {
            context.Response.Headers[header.Key] = header.Value.ToArray();
        }

        context.Response.Headers.Remove("Transfer-Encoding");
        await response.Content.CopyToAsync(context.Response.Body, context.RequestAborted).ConfigureAwait(false);
    }
}
