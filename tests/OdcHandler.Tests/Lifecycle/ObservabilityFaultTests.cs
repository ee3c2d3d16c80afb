using System.Diagnostics;
using System.Diagnostics.Metrics;
using System.Net;
using Microsoft.Extensions.DependencyInjection;
using Microsoft.Extensions.Logging;
using Microsoft.Extensions.Time.Testing;
using OdcHandler.Internal;
using OdcHandler.Tests.Fakes;

namespace OdcHandler.Tests.Lifecycle;

/// <summary>
/// Code the application plugs in (logger providers, meter and activity listeners, the TimeProvider) throws
/// at the worst moments; no caller may ever be left waiting, and observability never fails a fetch.
/// Each scenario walks the whole life of a token: cold fetch, background refresh, expiry, recovery.
/// </summary>
public sealed class ObservabilityFaultTests
{
    /// <summary>Only a guard against hanging the test run: a stuck caller fails the test instead of waiting forever.</summary>
    private static readonly TimeSpan s_stuck = TimeSpan.FromSeconds(30);

    private readonly FakeIdentityServer _server = new();

    private ServiceProvider Build(Action<IServiceCollection>? services = null, Action<OdcAuthenticationOptions>? configure = null) =>
        OdcTestHost.Build(_server, o =>
        {
            o.RefreshJitter = TimeSpan.Zero;
            configure?.Invoke(o);
        }, services: services);

    private static OdcTokenManager Manager(IServiceProvider services) =>
        services.GetRequiredService<OdcAccessTokenProvider>().GetManager(OdcTestHost.ClientName);

    /// <summary>One API call; never hangs the test, and says how it ended.</summary>
    private static async Task<HttpStatusCode?> CallAsync(HttpClient client)
    {
        Task<HttpResponseMessage> call = client.GetAsync("users");
        try
        {
            using var response = await call.WaitAsync(s_stuck);
            return response.StatusCode;
        }
        catch (TimeoutException) when (!call.IsCompleted)
        {
            throw new Xunit.Sdk.XunitException("A caller was left waiting for a token that never came.");
        }
        catch (Exception exception) when (exception is not Xunit.Sdk.XunitException)
        {
            return null;
        }
    }

    private static async Task SettledAsync(OdcTokenManager manager)
    {
        try
        {
            await manager.WhenFetchSettled().WaitAsync(s_stuck);
        }
        catch (TimeoutException)
        {
            throw new Xunit.Sdk.XunitException("The fetch in flight never settled.");
        }
    }

    /// <summary>
    /// Cold fetch, background refresh, then past the first token's expiry: returns how each call ended and
    /// asserts that the last one, after everything, gets a fresh token.
    /// </summary>
    private static async Task<HttpStatusCode?[]> WalkTheLifecycleAsync(ServiceProvider services, FakeTimeProvider time)
    {
        var client = services.Client();
        var manager = Manager(services);
        var outcomes = new List<HttpStatusCode?>();

        outcomes.Add(await CallAsync(client));
        await SettledAsync(manager);
        outcomes.Add(await CallAsync(client));

        // Into the refresh window (5 minutes before expiry): the call is served and starts a background refresh.
        time.Advance(TimeSpan.FromHours(12) - TimeSpan.FromMinutes(4));
        outcomes.Add(await CallAsync(client));
        await SettledAsync(manager);
        outcomes.Add(await CallAsync(client));
        await SettledAsync(manager);

        // Past the first token's expiry, and past any cool-down or back-off.
        time.Advance(TimeSpan.FromMinutes(5));
        outcomes.Add(await CallAsync(client));
        await SettledAsync(manager);
        var last = await CallAsync(client);
        outcomes.Add(last);

        Assert.Equal(HttpStatusCode.OK, last);
        return [.. outcomes];
    }

    [Fact]
    public async Task LoggerThrowsOnceWhenTheBackgroundRefreshStarts_TheRequestIsServedAndNoCallerWaitsForever()
    {
        var logs = new ThrowingLoggerProvider((_, eventId) => eventId.Name == "BackgroundRefreshStarted", once: true);
        using var services = Build(s => s.AddLogging(b => b.AddProvider(logs)));

        var outcomes = await WalkTheLifecycleAsync(services, _server.Time);

        Assert.Equal(1, logs.Thrown);
        Assert.All(outcomes, outcome => Assert.Equal(HttpStatusCode.OK, outcome));
        Assert.Equal(2, _server.TokenRequests);
    }

    [Fact]
    public async Task LoggerThrowsOnEveryOdcHandlerEntry_EveryRequestSucceedsAndFailuresStillSettle()
    {
        var logs = new ThrowingLoggerProvider((category, _) => category.StartsWith("OdcHandler", StringComparison.Ordinal), once: false);
        using var services = Build(s => s.AddLogging(b => b.AddProvider(logs)));

        var outcomes = await WalkTheLifecycleAsync(services, _server.Time);
        Assert.All(outcomes, outcome => Assert.Equal(HttpStatusCode.OK, outcome));
        Assert.Equal(2, _server.TokenRequests);

        // Failures are logged too (background refresh failed, acquisition failed): they must settle as well.
        _server.TokenResponder = _ => FakeIdentityServer.Json(HttpStatusCode.Unauthorized, """{"error":"invalid_client"}""");
        _server.Time.Advance(TimeSpan.FromHours(12) - TimeSpan.FromMinutes(8));
        Assert.Equal(HttpStatusCode.OK, await CallAsync(services.Client()));
        await SettledAsync(Manager(services));
        _server.Time.Advance(TimeSpan.FromMinutes(5));
        var failure = await Assert.ThrowsAsync<OdcAuthenticationException>(() => services.GetRequiredService<IOdcAccessTokenProvider>().GetTokenAsync(OdcTestHost.ClientName).AsTask().WaitAsync(s_stuck));
        Assert.Equal("invalid_client", failure.Error);

        _server.TokenResponder = null;
        _server.Time.Advance(TimeSpan.FromSeconds(5));
        Assert.Equal(HttpStatusCode.OK, await CallAsync(services.Client()));
        Assert.True(logs.Thrown > 5, $"the logger threw {logs.Thrown} times");
    }

    [Fact]
    public async Task MeterListenerThrowsOnEveryMeasurement_RequestsSucceedAndFailuresStillSettle()
    {
        using var services = Build();
        var meters = services.GetRequiredService<IMeterFactory>();
        var thrown = 0;
        using var listener = new MeterListener
        {
            InstrumentPublished = (instrument, l) =>
            {
                // Only this provider's meter: other tests run in parallel with their own.
                if (ReferenceEquals(instrument.Meter.Scope, meters) && instrument.Meter.Name == OdcTelemetry.Name)
                {
                    l.EnableMeasurementEvents(instrument);
                }
            },
        };
        listener.SetMeasurementEventCallback<long>((_, _, _, _) =>
        {
            Interlocked.Increment(ref thrown);
            throw new InvalidOperationException("meter listener failure");
        });
        listener.SetMeasurementEventCallback<double>((_, _, _, _) =>
        {
            Interlocked.Increment(ref thrown);
            throw new InvalidOperationException("meter listener failure");
        });
        listener.Start();

        var outcomes = await WalkTheLifecycleAsync(services, _server.Time);
        Assert.All(outcomes, outcome => Assert.Equal(HttpStatusCode.OK, outcome));
        Assert.Equal(2, _server.TokenRequests);

        // A background refresh failing (odc.token.refresh.failures) and an acquisition failing.
        _server.TokenResponder = _ => FakeIdentityServer.Json(HttpStatusCode.Unauthorized, """{"error":"invalid_client"}""");
        _server.Time.Advance(TimeSpan.FromHours(12) - TimeSpan.FromMinutes(8));
        Assert.Equal(HttpStatusCode.OK, await CallAsync(services.Client()));
        await SettledAsync(Manager(services));
        _server.Time.Advance(TimeSpan.FromMinutes(5));
        var failure = await Assert.ThrowsAsync<OdcAuthenticationException>(() => services.GetRequiredService<IOdcAccessTokenProvider>().GetTokenAsync(OdcTestHost.ClientName).AsTask().WaitAsync(s_stuck));
        Assert.Equal("invalid_client", failure.Error);
        Assert.True(thrown > 10, $"the listener threw {thrown} times");
    }

    public enum ThrowingCallback
    {
        Sample,
        ActivityStarted,
        ActivityStopped,
    }

    [Theory]
    [InlineData(ThrowingCallback.Sample)]
    [InlineData(ThrowingCallback.ActivityStarted)]
    [InlineData(ThrowingCallback.ActivityStopped)]
    public async Task ActivityListenerCallbackThrows_RequestsSucceedAndNoCallerWaitsForever(ThrowingCallback where)
    {
        // The activity source is process-wide: throw only for this test's client id (and its spans' children).
        var clientId = "activity-" + Guid.NewGuid().ToString("N");
        var thrown = 0;
        bool Ours(Activity activity) =>
            activity.GetTagItem("odc.client.id") as string == clientId || activity.Parent?.GetTagItem("odc.client.id") as string == clientId;
        void Throw()
        {
            Interlocked.Increment(ref thrown);
            throw new InvalidOperationException("activity listener failure");
        }

        using var listener = new ActivityListener
        {
            ShouldListenTo = source => source.Name == OdcTelemetry.Name,
            Sample = (ref ActivityCreationOptions<ActivityContext> options) =>
            {
                if (where == ThrowingCallback.Sample && options.Tags?.Any(tag => tag.Key == "odc.client.id" && tag.Value as string == clientId) == true)
                {
                    Throw();
                }

                return ActivitySamplingResult.AllDataAndRecorded;
            },
            ActivityStarted = activity =>
            {
                if (where == ThrowingCallback.ActivityStarted && Ours(activity))
                {
                    Throw();
                }
            },
            ActivityStopped = activity =>
            {
                if (where == ThrowingCallback.ActivityStopped && Ours(activity))
                {
                    Throw();
                }
            },
        };
        ActivitySource.AddActivityListener(listener);
        using var services = Build(configure: o => o.ClientId = clientId);

        var outcomes = await WalkTheLifecycleAsync(services, _server.Time);

        Assert.All(outcomes, outcome => Assert.Equal(HttpStatusCode.OK, outcome));
        Assert.Equal(2, _server.TokenRequests);
        Assert.True(thrown >= 2, $"the listener threw {thrown} times");
    }

    [Fact]
    public async Task TimeProviderThrowsOnce_AtEachCallInTurn_NoCallerWaitsForeverAndTheWalkEndsWithAToken()
    {
        // Walk the lifecycle again and again, the clock failing at its 1st call, then its 2nd, … until a walk
        // makes fewer calls than that (about 40 today): every call the library makes has failed once.
        for (var failingCall = 1; ; failingCall++)
        {
            var server = new FakeIdentityServer();
            var clock = new FlakyTimeProvider(server.Time);
            using (var services = OdcTestHost.Build(server, o => o.RefreshJitter = TimeSpan.Zero, services: s => s.AddSingleton<TimeProvider>(clock)))
            {
                clock.FailCall(failingCall);
                HttpStatusCode?[] outcomes;
                try
                {
                    outcomes = await WalkTheLifecycleAsync(services, server.Time);
                }
                catch (Exception exception)
                {
                    throw new Xunit.Sdk.XunitException($"With the clock failing at call {failingCall}: {exception}");
                }

                clock.FailCall(0);
                if (!clock.Failed)
                {
                    Assert.True(failingCall > 20, $"the walk made only {clock.Calls} clock calls");
                    return;
                }

                // At most the call that met the broken clock, and one in its cool-down, failed.
                Assert.True(outcomes.Count(o => o != HttpStatusCode.OK) <= 2, $"With the clock failing at call {failingCall}: {string.Join(", ", outcomes)}");
            }
        }
    }

    [Fact]
    public async Task TimeProviderThrowsOnce_InTheTokensTimer_ThePhaseStillMovesOn()
    {
        var clock = new FlakyTimeProvider(_server.Time);
        using var services = Build(s => s.AddSingleton<TimeProvider>(clock));
        var client = services.Client();
        Assert.Equal(HttpStatusCode.OK, await CallAsync(client));

        // The slot's timer fires inside Advance: the clock fails right there.
        clock.FailCall(1);
        _server.Time.Advance(TimeSpan.FromHours(12) - TimeSpan.FromMinutes(4));
        _server.Time.Advance(TimeSpan.FromSeconds(1));
        Assert.Equal(HttpStatusCode.OK, await CallAsync(client));
        await SettledAsync(Manager(services));

        Assert.True(clock.Failed);
        Assert.Equal(2, _server.TokenRequests);
    }

    /// <summary>A logger provider whose loggers throw on the entries <c>shouldThrow</c> picks: once, or every time.</summary>
    private sealed class ThrowingLoggerProvider(Func<string, EventId, bool> shouldThrow, bool once) : ILoggerProvider
    {
        private int _thrown;

        public int Thrown => _thrown;

        public ILogger CreateLogger(string categoryName) => new ThrowingLogger(this, categoryName);

        private bool ShouldThrow(string category, EventId eventId)
        {
            if (!shouldThrow(category, eventId))
            {
                return false;
            }

            return once ? Interlocked.CompareExchange(ref _thrown, 1, 0) == 0 : Interlocked.Increment(ref _thrown) > 0;
        }

        public void Dispose()
        {
        }

        private sealed class ThrowingLogger(ThrowingLoggerProvider provider, string category) : ILogger
        {
            public IDisposable? BeginScope<TState>(TState state)
                where TState : notnull => null;

            public bool IsEnabled(LogLevel logLevel) => true;

            public void Log<TState>(LogLevel logLevel, EventId eventId, TState state, Exception? exception, Func<TState, Exception?, string> formatter)
            {
                if (provider.ShouldThrow(category, eventId))
                {
                    throw new InvalidOperationException($"logger failure ({eventId.Name})");
                }
            }
        }
    }

    /// <summary>The fake clock, except that the n-th call after <see cref="FailCall"/> throws (reading the time or creating a timer).</summary>
    private sealed class FlakyTimeProvider(FakeTimeProvider inner) : TimeProvider
    {
        private int _countdown;
        private int _failed;
        private int _calls;

        public int Calls => _calls;

        public bool Failed => Volatile.Read(ref _failed) == 1;

        public override TimeZoneInfo LocalTimeZone => inner.LocalTimeZone;

        public override long TimestampFrequency => inner.TimestampFrequency;

        public void FailCall(int call) => Volatile.Write(ref _countdown, call);

        public override DateTimeOffset GetUtcNow()
        {
            MaybeFail();
            return inner.GetUtcNow();
        }

        public override long GetTimestamp()
        {
            MaybeFail();
            return inner.GetTimestamp();
        }

        public override ITimer CreateTimer(TimerCallback callback, object? state, TimeSpan dueTime, TimeSpan period)
        {
            MaybeFail();
            return inner.CreateTimer(callback, state, dueTime, period);
        }

        private void MaybeFail()
        {
            Interlocked.Increment(ref _calls);
            if (Volatile.Read(ref _countdown) > 0 && Interlocked.Decrement(ref _countdown) == 0)
            {
                Volatile.Write(ref _failed, 1);
                throw new InvalidOperationException("clock failure");
            }
        }
    }
}
