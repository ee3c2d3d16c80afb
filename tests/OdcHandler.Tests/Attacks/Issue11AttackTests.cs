using System.Net;
using System.Net.Sockets;
using System.Text;
using Microsoft.Extensions.DependencyInjection;
using Microsoft.Extensions.Diagnostics.HealthChecks;
using Microsoft.Extensions.Diagnostics.Metrics.Testing;
using OdcHandler.Internal;
using OdcHandler.Tests.Fakes;

namespace OdcHandler.Tests.Attacks;

/// <summary>
/// A reviewer's attempts to break the promises of issue 11 (app-wide HttpClient defaults, token failures and the
/// application's pipeline, the client secret's life, health tags, telemetry). Each test here failed on the code it
/// was written against: it shows a promise that does not hold.
/// </summary>
public sealed class Issue11AttackTests : IDisposable
{
    private readonly FakeIdentityServer _server = new();
    private readonly CapturingLoggerProvider _logs = new();

    public void Dispose() => _logs.Dispose();

    // Promise 1 / Configuration: "Discovery and token requests go through their own HttpClient … configure it like any
    // named client (a proxy …). Its primary handler does not follow redirects." A primary handler configured by name
    // after AddOdcAuthentication (the way a proxy is set) follows a 307 and re-posts the client secret elsewhere.
    [Fact]
    public async Task Backchannel_PrimaryHandlerSetForAProxyAfterAddOdcAuthentication_NeverPostsTheSecretToARedirectTarget()
    {
        using var elsewhere = new LoopbackListener(_ => (HttpStatusCode.OK, "application/json", """{"access_token":"stolen","expires_in":3600,"token_type":"Bearer"}""", null));
        using var portal = new LoopbackListener(request => request.Url!.AbsolutePath switch
        {
            "/identity/.well-known/openid-configuration" => (HttpStatusCode.OK, "application/json", "{}", null),
            _ => (HttpStatusCode.TemporaryRedirect, "text/plain", string.Empty, elsewhere.Prefix + "token"),
        });
        portal.Discovery = $$"""{"issuer":"{{portal.Prefix}}auth","token_endpoint":"{{portal.Prefix}}token"}""";

        using var services = OdcTestHost.Build(
            _server,
            o => o.PortalDomain = portal.Prefix.TrimEnd('/'),
            services: collection => collection.AddHttpClient(OdcAuthenticationDefaults.BackchannelHttpClientName)

                // What a user writes to reach the identity service through a proxy; UseProxy is off only so the test
                // needs no proxy. AllowAutoRedirect is left at its default, as users leave it.
                .ConfigurePrimaryHttpMessageHandler(() => new HttpClientHandler { UseProxy = false }));

        var call = services.GetRequiredService<IOdcAccessTokenProvider>().GetTokenAsync(OdcTestHost.ClientName).AsTask();
        var finished = await Task.WhenAny(call, Task.Delay(TimeSpan.FromSeconds(30)));
        Assert.True(finished == call, "the token request hung");
        await Assert.ThrowsAsync<OdcAuthenticationException>(() => call);

        Assert.Equal(1, portal.Posts);
        Assert.True(
            elsewhere.Bodies.IsEmpty,
            $"the token request was re-posted to the redirect target, client secret included: {elsewhere.Bodies.Count(b => b.Contains("client_secret=", StringComparison.Ordinal))} of {elsewhere.Bodies.Count} carried it");
    }

    // Promise 3 / Observability: odc.client_secret.time_to_expiry reports "seconds until the client secret expires by
    // ClientSecretExpiresAt", one series per odc.client.id. Two HttpClients share an API client (common: one typed client
    // per ODC API domain); one section was updated with a later date, the other still has the sooner one. The gauge
    // reports the later date, hiding the expiry the health check of the other client already calls Degraded.
    [Fact]
    public async Task SecretGauge_TwoClientNamesOneClientIdDifferentDates_ReportsTheSoonerExpiry()
    {
        using var services = OdcTestHost.Build(_server, o => o.ClientSecretExpiresAt = new DateOnly(2027, 6, 1), services: collection =>
        {
            collection.AddHttpClient("portfolios", c => c.BaseAddress = new Uri(_server.PortalUri, "/api/"))
                .AddOdcAuthentication(o =>
                {
                    o.PortalDomain = _server.PortalUri.ToString();
                    o.ClientId = FakeIdentityServer.ClientId;
                    o.ClientSecret = FakeIdentityServer.Secret;
                    o.ClientSecretExpiresAt = new DateOnly(2026, 12, 5);
                })
                .ConfigurePrimaryHttpMessageHandler(_server.CreateHandler);
            collection.AddHealthChecks().AddOdcAuthentication("portfolios");
        });
        var provider = services.GetRequiredService<OdcAccessTokenProvider>();
        using var gauge = new MetricCollector<double>(provider.Telemetry.Meter, "odc.client_secret.time_to_expiry", _server.Time);

        var health = await services.GetRequiredService<HealthCheckService>().CheckHealthAsync();
        gauge.RecordObservableInstruments();

        Assert.Equal(HealthStatus.Degraded, health.Entries["odc-portfolios"].Status);
        var soonest = new DateTimeOffset(2026, 12, 5, 23, 59, 0, TimeSpan.Zero) - _server.Time.GetUtcNow();
        var reported = Assert.Single(gauge.GetMeasurementSnapshot(), m => Equals(m.Tags["odc.client.id"], FakeIdentityServer.ClientId));
        Assert.Equal(soonest.TotalSeconds, reported.Value);
    }

    /// <summary>An HTTP/1.1 server on 127.0.0.1 that answers every request with what <c>respond</c> returns and records POST bodies.</summary>
    private sealed class LoopbackListener : IDisposable
    {
        private readonly HttpListener _listener = new();
        private readonly Func<HttpListenerRequest, (HttpStatusCode Status, string ContentType, string Body, string? Location)> _respond;
        private int _posts;

        public LoopbackListener(Func<HttpListenerRequest, (HttpStatusCode Status, string ContentType, string Body, string? Location)> respond)
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

        public string Prefix { get; }

        public string? Discovery { get; set; }

        public int Posts => _posts;

        public System.Collections.Concurrent.ConcurrentQueue<string> Bodies { get; } = new();

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

                using (var reader = new StreamReader(context.Request.InputStream, Encoding.UTF8))
                {
                    var body = await reader.ReadToEndAsync();
                    if (context.Request.HttpMethod == "POST")
                    {
                        Interlocked.Increment(ref _posts);
                        Bodies.Enqueue(body);
                    }
                }

                var (status, contentType, text, location) = _respond(context.Request);
                if (context.Request.Url!.AbsolutePath.EndsWith("openid-configuration", StringComparison.Ordinal) && Discovery is not null)
                {
                    text = Discovery;
                }

                context.Response.StatusCode = (int)status;
                context.Response.ContentType = contentType;
                if (location is not null)
                {
                    context.Response.RedirectLocation = location;
                }

                var bytes = Encoding.UTF8.GetBytes(text);
                context.Response.ContentLength64 = bytes.Length;
                await context.Response.OutputStream.WriteAsync(bytes);
                context.Response.Close();
            }
        }
    }
}
