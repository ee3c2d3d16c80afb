using System.Collections.Concurrent;
using System.Net;
using System.Net.Sockets;
using System.Text;

namespace OdcHandler.Tests.Fakes;

/// <summary>What <see cref="LoopbackHttpServer"/> answers one request with.</summary>
public sealed record LoopbackReply(HttpStatusCode Status, string? Location = null, string? Challenge = null, string? SetCookie = null, string Body = "{}");

/// <summary>
/// A real HTTP server on 127.0.0.1 and a free port, answering through a delegate one request at a time, that counts
/// the requests under /api/ it receives: what a test needs to see what actually reached the network.
/// </summary>
public sealed class LoopbackHttpServer : IDisposable
{
    private readonly HttpListener _listener = new();
    private readonly Func<HttpListenerRequest, LoopbackReply> _respond;
    private int _apiArrivals;

    public LoopbackHttpServer(Func<HttpListenerRequest, LoopbackReply> respond)
    {
        _respond = respond;
        var probe = new TcpListener(IPAddress.Loopback, 0);
        probe.Start();
        var port = ((IPEndPoint)probe.LocalEndpoint).Port;
        probe.Stop();
        Prefix = $"http://127.0.0.1:{port}/";
        _listener.Prefixes.Add(Prefix);
        _listener.Start();
        _ = Task.Run(ServeAsync);
    }

    /// <summary>The server's address, ending in a slash.</summary>
    public string Prefix { get; }

    public int ApiArrivals => Volatile.Read(ref _apiArrivals);

    /// <summary>The paths under /api/ received, in order.</summary>
    public ConcurrentQueue<string> Paths { get; } = new();

    /// <summary>A server that answers with a status and, for a redirect, a location.</summary>
    public static LoopbackHttpServer Redirecting(Func<HttpListenerRequest, (HttpStatusCode Status, string? Location)> respond) =>
        new(request => respond(request) is var (status, location) ? new LoopbackReply(status, location) : throw new InvalidOperationException());

    public void Dispose() => _listener.Close();

    private async Task ServeAsync()
    {
        while (_listener.IsListening)
        {
            HttpListenerContext context;
            try
            {
                context = await _listener.GetContextAsync();
            }
            catch (Exception)
            {
                return;
            }

            try
            {
                var path = context.Request.Url!.AbsolutePath;
                if (path.StartsWith("/api/", StringComparison.Ordinal))
                {
                    Interlocked.Increment(ref _apiArrivals);
                    Paths.Enqueue(path);
                }

                // The delegate may read the body; whatever it left is read before answering, so the connection can be reused.
                var reply = _respond(context.Request);
                await context.Request.InputStream.CopyToAsync(Stream.Null);
                context.Response.StatusCode = (int)reply.Status;
                context.Response.ContentType = "application/json";
                if (reply.Location is not null)
                {
                    context.Response.RedirectLocation = reply.Location;
                }

                if (reply.Challenge is not null)
                {
                    context.Response.AddHeader("WWW-Authenticate", reply.Challenge);
                }

                if (reply.SetCookie is not null)
                {
                    context.Response.AddHeader("Set-Cookie", reply.SetCookie);
                }

                var body = Encoding.UTF8.GetBytes(reply.Body);
                await context.Response.OutputStream.WriteAsync(body);
                context.Response.Close();
            }
            catch (Exception)
            {
                context.Response.Abort();
            }
        }
    }
}
