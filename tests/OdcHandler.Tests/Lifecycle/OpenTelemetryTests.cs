using System.Diagnostics;
using System.Diagnostics.Metrics;
using System.Net;
using Microsoft.Extensions.DependencyInjection;
using OdcHandler.Internal;
using OdcHandler.Tests.Fakes;
using OpenTelemetry.Metrics;
using OpenTelemetry.Trace;

namespace OdcHandler.Tests.Lifecycle;

/// <summary>
/// What an application wired with OpenTelemetry receives: every instrument and span the README's Observability
/// section lists, under its documented name, type, unit (UCUM) and tags, through the real SDK and its in-memory exporter.
/// </summary>
public sealed class OpenTelemetryTests
{
    /// <summary>The README's instrument table: name, type, unit, and every tag a point may carry.</summary>
    private static readonly (string Name, MetricType Type, string Unit, string[] Tags)[] DocumentedInstruments =
    [
        ("odc.token.acquisitions", MetricType.LongSum, "{acquisition}", ["odc.client.id", "odc.outcome", "error.type"]),
        ("odc.token.acquisition.duration", MetricType.Histogram, "s", ["odc.client.id", "odc.outcome", "error.type"]),
        ("odc.token.cache.lookups", MetricType.LongSum, "{lookup}", ["odc.client.id", "odc.cache.result"]),
        ("odc.request.unauthorized_retries", MetricType.LongSum, "{request}", ["server.address"]),
        ("odc.token.refresh.failures", MetricType.LongSum, "{failure}", ["odc.client.id", "error.type"]),
        ("odc.token.time_to_expiry", MetricType.DoubleGauge, "s", ["odc.client.id"]),
        ("odc.client_secret.time_to_expiry", MetricType.DoubleGauge, "s", ["odc.client.id"]),
    ];

    /// <summary>The README's span table: name, kind, and every tag a span may carry.</summary>
    private static readonly (string Name, ActivityKind Kind, string[] Tags)[] DocumentedSpans =
    [
        ("odc.token.acquire", ActivityKind.Internal, ["odc.client.id", "odc.token.refresh", "error.type"]),
        ("odc.discovery", ActivityKind.Client, ["odc.client.id", "http.request.method", "server.address", "server.port", "url.full", "http.response.status_code", "error.type"]),
        ("odc.token_request", ActivityKind.Client, ["odc.client.id", "http.request.method", "server.address", "server.port", "url.full", "http.response.status_code", "error.type"]),
    ];

    private readonly FakeIdentityServer _server = new();
    private readonly string _clientId = "otel-" + Guid.NewGuid().ToString("N");

    [Fact]
    public async Task AddOpenTelemetry_ReceivesEveryDocumentedInstrumentAndSpanWithItsNameUnitAndTags()
    {
        var metrics = new List<MetricSnapshot>();
        var spans = new List<Activity>();
        IMeterFactory? ours = null;
        using var services = OdcTestHost.Build(
            _server,
            o =>
            {
                o.ClientId = _clientId;
                o.ClientSecretExpiresAt = new DateOnly(2027, 2, 28);
            },
            services: collection => collection.AddOpenTelemetry()
                .WithMetrics(m => m
                    .AddMeter("OdcHandler")
                    // Meters are per service provider but the SDK listens by name: keep other tests' providers out.
                    .AddView(instrument => ReferenceEquals(instrument.Meter.Scope, ours) ? null : MetricStreamConfiguration.Drop)
                    .AddInMemoryExporter(metrics))
                .WithTracing(t => t.AddSource("OdcHandler").AddInMemoryExporter(spans)));
        ours = services.GetRequiredService<IMeterFactory>();
        var meterProvider = services.GetRequiredService<MeterProvider>();
        using var tracerProvider = services.GetRequiredService<TracerProvider>();
        var client = services.Client();
        var manager = services.GetRequiredService<OdcAccessTokenProvider>().GetManager(OdcTestHost.ClientName);

        // A cold start, a cached hit, a 401 answered with a fresh token, and a background refresh that fails.
        (await client.GetAsync("users")).Dispose();
        (await client.GetAsync("users")).Dispose();
        _server.RevokeAll();
        (await client.GetAsync("users")).Dispose();
        _server.TokenResponder = _ => new HttpResponseMessage(HttpStatusCode.ServiceUnavailable);
        _server.Time.Advance(TimeSpan.FromHours(12) - TimeSpan.FromMinutes(1));
        (await client.GetAsync("users")).Dispose();
        await manager.WhenFetchSettled();
        Assert.True(meterProvider.ForceFlush());
        Assert.True(tracerProvider.ForceFlush());

        foreach (var (name, type, unit, tags) in DocumentedInstruments)
        {
            var metric = metrics.LastOrDefault(m => m.Name == name);
            Assert.True(metric is not null, $"{name} was not exported.");
            Assert.Equal(OdcTelemetry.Name, metric.MeterName);
            Assert.Equal(type, metric.MetricType);
            Assert.Equal(unit, metric.Unit);
            Assert.False(string.IsNullOrEmpty(metric.Description), $"{name} has no description.");
            var seen = metric.MetricPoints.SelectMany(Tags).Select(tag => tag.Key).ToHashSet(StringComparer.Ordinal);
            Assert.True(seen.SetEquals(tags), $"{name}: tags [{string.Join(", ", seen)}], documented [{string.Join(", ", tags)}].");
        }

        var secretLeft = Assert.Single(metrics.Last(m => m.Name == "odc.client_secret.time_to_expiry").MetricPoints);
        Assert.Equal((new DateTimeOffset(2027, 2, 28, 23, 59, 0, TimeSpan.Zero) - _server.Time.GetUtcNow()).TotalSeconds, secretLeft.GetGaugeLastValueDouble());
        Assert.Contains(Tags(secretLeft), tag => tag.Key == "odc.client.id" && tag.Value as string == _clientId);
        var tokenLeft = Assert.Single(metrics.Last(m => m.Name == "odc.token.time_to_expiry").MetricPoints);
        Assert.Equal(60, tokenLeft.GetGaugeLastValueDouble());

        var ourSpans = spans.Where(s => s.GetTagItem("odc.client.id") as string == _clientId).ToList();
        foreach (var (name, kind, tags) in DocumentedSpans)
        {
            var named = ourSpans.Where(s => s.OperationName == name).ToList();
            Assert.True(named.Count > 0, $"{name} was not exported.");
            Assert.All(named, s => Assert.Equal(kind, s.Kind));
            var seen = named.SelectMany(s => s.TagObjects).Select(tag => tag.Key).ToHashSet(StringComparer.Ordinal);
            Assert.True(seen.IsSubsetOf(tags), $"{name}: tags [{string.Join(", ", seen)}], documented [{string.Join(", ", tags)}].");
        }

        Assert.Contains(ourSpans, s => s.OperationName == "odc.token.acquire" && s.GetTagItem("odc.token.refresh") is true && s.GetTagItem("error.type") as string == "503");
        Assert.Contains(ourSpans, s => s.OperationName == "odc.token_request" && s.GetTagItem("error.type") as string == "503" && s.GetTagItem("http.response.status_code") is 503);
        Assert.Contains(ourSpans, s => s.OperationName == "odc.discovery" && s.GetTagItem("server.port") is 443 && s.GetTagItem("url.full") as string == "https://myorg.outsystems.dev/identity/.well-known/openid-configuration");

        var tokens = _server.ValidTokens.Keys.Append("token-1").ToList();
        var allTags = metrics.SelectMany(m => m.MetricPoints).SelectMany(Tags).Concat(ourSpans.SelectMany(s => s.TagObjects))
            .Select(tag => $"{tag.Key}={tag.Value}");
        Assert.All(allTags, text =>
        {
            Assert.DoesNotContain(FakeIdentityServer.Secret, text, StringComparison.Ordinal);
            Assert.DoesNotContain(tokens, token => text.Contains(token, StringComparison.Ordinal));
        });
    }

    private static List<KeyValuePair<string, object?>> Tags(MetricPoint point)
    {
        var tags = new List<KeyValuePair<string, object?>>();
        foreach (var tag in point.Tags)
        {
            tags.Add(tag);
        }

        return tags;
    }
}
