using System.Collections.Concurrent;
using System.Diagnostics.Metrics;
using System.Net;
using Microsoft.Extensions.DependencyInjection;
using Microsoft.Extensions.Diagnostics.HealthChecks;
using Microsoft.Extensions.Logging;
using Microsoft.Extensions.Time.Testing;
using OdcHandler.Internal;
using OdcHandler.Testing;
using OdcHandler.Tests.Fakes;
using OdcHandler.Tests.Organizations;

namespace OdcHandler.Tests.Attacks;

/// <summary>
/// Attacks on the many-organisations promises (README "Many organisations", issue 13). Each test fails while the
/// promise it names does not hold.
/// </summary>
public sealed class OrganizationsAttackTests
{
    private const string SourceSecret = "Pw0rd-From-The-Vault-7f3a";

    private readonly FakeTimeProvider _time = new();
    private readonly TestCredentialSource _source = new();
    private readonly FakeOdcServer _acme;
    private readonly FakeOdcServer _globex;
    private readonly RecordingRouter _router;

    public OrganizationsAttackTests()
    {
        _acme = OrganizationsTestHost.Organization(_time, _source, "acme");
        _globex = OrganizationsTestHost.Organization(_time, _source, "globex");
        _router = new RecordingRouter([_acme, _globex]);
    }

    /// <summary>
    /// README: "a source that throws is reported the same way (its own message is not repeated: it may quote a secret)".
    /// The source's exception quotes a password; neither the caller's exception (message or ToString) nor any log line may.
    /// </summary>
    [Fact]
    public async Task CredentialSourceThrowsQuotingASecret_TheSecretIsInNoExceptionTextAndNoLogEntry()
    {
        var logs = new CapturingLoggerProvider();
        var source = new ScriptedSource((_, _) => throw new InvalidOperationException($"Login failed for 'Server=db;User=odc;Password={SourceSecret}'"));
        using var services = Build(source, logs: logs);

        var failure = await Assert.ThrowsAsync<OdcAuthenticationException>(() => services.Client().GetAsync(_acme.WhoAmI()));

        Assert.DoesNotContain(SourceSecret, failure.Message, StringComparison.Ordinal);
        Assert.DoesNotContain(SourceSecret, failure.ToString(), StringComparison.Ordinal);
        Assert.DoesNotContain(logs.AllText(), text => text.Contains(SourceSecret, StringComparison.Ordinal));
    }

    /// <summary>
    /// OdcOrganizationsOptions.BackchannelTimeout: "it also bounds one call of the credential source". A source that never
    /// answers and does not watch its token (a synchronous driver, a semaphore awaited without the token) must still fail
    /// the request at the timeout, and must not wedge the host for every later request.
    /// </summary>
    [Fact]
    public async Task CredentialSourceNeverAnswersAndIgnoresCancellation_BackchannelTimeoutStillEndsTheRequest()
    {
        var hung = new TaskCompletionSource<OdcOrganizationCredentials?>(TaskCreationOptions.RunContinuationsAsynchronously);
        var calls = 0;
        var source = new ScriptedSource((_, _) =>
        {
            Interlocked.Increment(ref calls);
            return new ValueTask<OdcOrganizationCredentials?>(hung.Task);
        });
        using var services = Build(source, o => o.BackchannelTimeout = TimeSpan.FromSeconds(10));

        var request = services.Client().GetAsync(_acme.WhoAmI());
        _time.Advance(TimeSpan.FromSeconds(11));
        var finished = await Task.WhenAny(request, Task.Delay(TimeSpan.FromSeconds(5))); // real time only as a hang guard

        try
        {
            Assert.True(ReferenceEquals(finished, request), "the request still waits for the credential source after BackchannelTimeout (10 s) of fake time");
            await Assert.ThrowsAsync<OdcAuthenticationException>(() => request);
        }
        finally
        {
            hung.TrySetResult(null);
        }
    }

    /// <summary>
    /// README: "One health check for all organisations: Degraded when some fail". acme's token expired and its credential
    /// source now fails (its secret store is down): every acme request fails, globex is served. The aggregate must count acme.
    /// </summary>
    [Fact]
    public async Task OrganisationWhoseCredentialSourceFailsAfterExpiry_EveryRequestFails_HealthCheckCountsItAsFailing()
    {
        var storeDown = false;
        var source = new ScriptedSource((host, ct) => storeDown && host == _acme.PortalUri.Authority
            ? throw new TimeoutException("secret store unreachable")
            : _source.GetCredentialsAsync(host, ct));
        using var services = Build(
            source,
            o => o.IdleExpiration = TimeSpan.FromDays(2),
            s => s.AddHealthChecks().AddOdcOrganizations(OrganizationsTestHost.ClientName));
        var client = services.Client();
        (await client.GetAsync(_acme.WhoAmI())).Dispose();
        (await client.GetAsync(_globex.WhoAmI())).Dispose();

        _time.Advance(_acme.TokenLifetime + TimeSpan.FromMinutes(1));
        storeDown = true;
        await Assert.ThrowsAsync<OdcAuthenticationException>(() => client.GetAsync(_acme.WhoAmI()));
        await Assert.ThrowsAsync<OdcAuthenticationException>(() => client.GetAsync(_acme.WhoAmI()));
        using (var served = await client.GetAsync(_globex.WhoAmI()))
        {
            Assert.Equal(HttpStatusCode.OK, served.StatusCode);
        }

        var report = await services.GetRequiredService<HealthCheckService>().CheckHealthAsync();
        var entry = report.Entries[$"odc-organizations-{OrganizationsTestHost.ClientName}"];

        Assert.Equal(HealthStatus.Degraded, entry.Status);
        Assert.Equal(1, entry.Data["failing"]);
        Assert.Contains(_acme.PortalUri.Authority, (string[])entry.Data["failing_hosts"]);
    }

    /// <summary>
    /// README: "the cool-down spares the source as it spares the identity service". After acme's token expired its
    /// source fails: requests within FailureCooldown fail at once without asking it again; after it, one asks; once the
    /// source answers again the organisation is served and no longer counted as failing.
    /// </summary>
    [Fact]
    public async Task CredentialSourceFailsAfterExpiry_AskedOncePerCooldown_AndRecoversWhenItAnswersAgain()
    {
        var storeDown = false;
        var acmeAsks = 0;
        var source = new ScriptedSource((host, ct) =>
        {
            if (host != _acme.PortalUri.Authority)
            {
                return _source.GetCredentialsAsync(host, ct);
            }

            Interlocked.Increment(ref acmeAsks);
            return storeDown ? throw new TimeoutException("secret store unreachable") : _source.GetCredentialsAsync(host, ct);
        });
        using var services = Build(
            source,
            o =>
            {
                o.IdleExpiration = TimeSpan.FromDays(2);
                o.FailureCooldown = TimeSpan.FromSeconds(30);
            },
            s => s.AddHealthChecks().AddOdcOrganizations(OrganizationsTestHost.ClientName));
        var client = services.Client();
        (await client.GetAsync(_acme.WhoAmI())).Dispose();
        Assert.Equal(1, acmeAsks);

        _time.Advance(_acme.TokenLifetime + TimeSpan.FromMinutes(1));
        storeDown = true;
        for (var i = 0; i < 5; i++)
        {
            await Assert.ThrowsAsync<OdcAuthenticationException>(() => client.GetAsync(_acme.WhoAmI()));
        }

        Assert.Equal(2, acmeAsks);

        _time.Advance(TimeSpan.FromSeconds(31));
        await Assert.ThrowsAsync<OdcAuthenticationException>(() => client.GetAsync(_acme.WhoAmI()));
        Assert.Equal(3, acmeAsks);

        storeDown = false;
        _time.Advance(TimeSpan.FromSeconds(31));
        using (var served = await client.GetAsync(_acme.WhoAmI()))
        {
            Assert.Equal(HttpStatusCode.OK, served.StatusCode);
        }

        var report = await services.GetRequiredService<HealthCheckService>().CheckHealthAsync();
        var entry = report.Entries[$"odc-organizations-{OrganizationsTestHost.ClientName}"];
        Assert.Equal(HealthStatus.Healthy, entry.Status);
        Assert.Equal(0, entry.Data["failing"]);
    }

    /// <summary>
    /// README: "Metrics carry the fixed value organizations unless TagOrganizationInMetrics = true". With AddOdcRateLimiting
    /// on the multi-organisation client, a 429 is counted on odc.request.rate_limited with the tenant's host.
    /// </summary>
    [Fact]
    public async Task RateLimitedAnswerOnAMultiOrganisationClient_MetricDoesNotTagTheOrganisationWithoutOptIn()
    {
        using var services = Build(
            new ScriptedSource(_source.GetCredentialsAsync),
            services: s => s.AddHttpClient(OrganizationsTestHost.ClientName)
                .ConfigurePrimaryHttpMessageHandler(() => new StatusHandler(HttpStatusCode.TooManyRequests))
                .AddOdcRateLimiting(o => o.MaxRateLimitedResends = 0));
        var meter = services.GetRequiredService<OdcTelemetry>().Meter;
        var addresses = new ConcurrentQueue<string?>();
        using var listener = new MeterListener();
        listener.InstrumentPublished = (instrument, l) =>
        {
            if (ReferenceEquals(instrument.Meter, meter) && instrument.Name == "odc.request.rate_limited")
            {
                l.EnableMeasurementEvents(instrument);
            }
        };
        listener.SetMeasurementEventCallback<long>((_, _, tags, _) =>
        {
            foreach (var tag in tags)
            {
                if (tag.Key == "server.address")
                {
                    addresses.Enqueue(tag.Value as string);
                }
            }
        });
        listener.Start();

        using var response = await services.Client().GetAsync(_acme.WhoAmI());

        Assert.Equal(HttpStatusCode.TooManyRequests, response.StatusCode);
        Assert.NotEmpty(addresses);
        Assert.All(addresses, a => Assert.Equal(OdcOrganizationCache.UntaggedOrganization, a));
    }

    private ServiceProvider Build(
        IOdcCredentialSource source,
        Action<OdcOrganizationsOptions>? configure = null,
        Action<IServiceCollection>? services = null,
        CapturingLoggerProvider? logs = null)
    {
        // As OrganizationsTestHost.Build, with a scripted credential source.
        var collection = new ServiceCollection();
        collection.AddSingleton<TimeProvider>(_time);
        collection.AddLogging(b =>
        {
            b.SetMinimumLevel(logs is null ? LogLevel.Warning : LogLevel.Trace);
            if (logs is not null)
            {
                b.AddProvider(logs);
            }
        });
        collection.AddSingleton(new ScriptedSourceBox(source));
        collection.AddHttpClient(OdcAuthenticationDefaults.BackchannelHttpClientName).ConfigurePrimaryHttpMessageHandler(_router.CreateHandler);
        collection.PostConfigure<Microsoft.Extensions.Http.Resilience.HttpStandardResilienceOptions>(OdcAuthenticationDefaults.BackchannelResiliencePipelineName, o =>
        {
            o.Retry.UseJitter = false;
            o.Retry.Delay = TimeSpan.Zero;
            o.Retry.ShouldRetryAfterHeader = false;
        });
        collection.AddHttpClient(OrganizationsTestHost.ClientName)
            .AddOdcAuthentication<ScriptedSourceAdapter>(o =>
            {
                o.RefreshJitter = TimeSpan.Zero;
                configure?.Invoke(o);
            })
            .ConfigurePrimaryHttpMessageHandler(_router.CreateHandler);
        services?.Invoke(collection);
        return collection.BuildServiceProvider(new ServiceProviderOptions { ValidateOnBuild = true, ValidateScopes = true });
    }

    public sealed class ScriptedSource(Func<string, CancellationToken, ValueTask<OdcOrganizationCredentials?>> answer) : IOdcCredentialSource
    {
        public ValueTask<OdcOrganizationCredentials?> GetCredentialsAsync(string portalHost, CancellationToken cancellationToken) =>
            answer(portalHost, cancellationToken);
    }

    public sealed record ScriptedSourceBox(IOdcCredentialSource Source);

    public sealed class ScriptedSourceAdapter(ScriptedSourceBox box) : IOdcCredentialSource
    {
        public ValueTask<OdcOrganizationCredentials?> GetCredentialsAsync(string portalHost, CancellationToken cancellationToken) =>
            box.Source.GetCredentialsAsync(portalHost, cancellationToken);
    }

    private sealed class StatusHandler(HttpStatusCode status) : HttpMessageHandler
    {
        protected override Task<HttpResponseMessage> SendAsync(HttpRequestMessage request, CancellationToken cancellationToken) =>
            Task.FromResult(new HttpResponseMessage(status) { RequestMessage = request });
    }
}
