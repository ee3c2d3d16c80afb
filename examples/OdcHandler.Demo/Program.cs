using System.Diagnostics;
using Microsoft.Extensions.Configuration;
using Microsoft.Extensions.DependencyInjection;
using Microsoft.Extensions.Http.Resilience;
using OdcHandler;
using OdcHandler.Demo;

// dotnet run --project examples/OdcHandler.Demo            the narrated demo (a fake ODC on loopback, or a real
//                                                          organisation when ODC__PortalDomain/ClientId/ClientSecret are set)
// dotnet run --project examples/OdcHandler.Demo -- token   print an access token for curl
var configuration = new ConfigurationBuilder()
    .AddUserSecrets(typeof(OdcApi).Assembly, optional: true)
    .AddEnvironmentVariables()
    .Build();
var odc = configuration.GetSection("ODC");
var real = !string.IsNullOrEmpty(odc["PortalDomain"]) && !string.IsNullOrEmpty(odc["ClientId"]) && !string.IsNullOrEmpty(odc["ClientSecret"]);

try
{
    return args switch
    {
        [] or ["demo"] => real ? await RealTour.RunAsync(odc) : await FakeDemo.RunAsync(),
        ["token"] => await TokenCommand.RunAsync(real ? odc : null),
        _ => Usage(),
    };
}
catch (OdcAuthenticationException exception)
{
    Console.Error.WriteLine($"No access token: {exception.Message}");
    return 3;
}

static int Usage()
{
    Console.Error.WriteLine("usage: OdcHandler.Demo [demo | token]");
    return 2;
}

namespace OdcHandler.Demo
{
    /// <summary>How the demo wires <see cref="OdcApi"/>, exactly as an application would.</summary>
    internal static class DemoServices
    {
        public static ServiceProvider Create(Action<OdcAuthenticationOptions> configure, Uri apiBase)
        {
            var services = new ServiceCollection();
            services.AddHttpClient<OdcApi>(client => client.BaseAddress = apiBase)
                .AddOdcAuthentication(configure)

                // ODC allows 100 requests a minute per API domain (fewer on some POSTs); 429s and 5xx are retried with back-off. The token handler
                // sits after this pipeline (next to the primary handler), so every attempt carries a current
                // token; POSTs are not retried, so a deployment never starts twice.
                .AddStandardResilienceHandler(options => options.Retry.DisableForUnsafeHttpMethods());
            return services.BuildServiceProvider();
        }

        public static Uri ApiBase(string portal) =>
            new((portal.Contains("://", StringComparison.Ordinal) ? portal : "https://" + portal).TrimEnd('/') + "/api/");
    }

    /// <summary>The narrated tour against the fake ODC, checking each claim it makes.</summary>
    internal static class FakeDemo
    {
        private static int s_failures;

        public static async Task<int> RunAsync()
        {
            await using var host = await FakeOdcHost.StartAsync();
            var fake = host.Server;
            var clock = new DemoClock();
            var data = DemoData.MapOnto(fake, clock);
            Console.WriteLine($"OdcHandler demo: a fake ODC is serving on {fake.PortalUri} (this process, real HTTP, loopback only).");
            Console.WriteLine("No credentials needed; set ODC__PortalDomain, ODC__ClientId and ODC__ClientSecret to talk to a real organisation.");

            using var services = DemoServices.Create(o =>
            {
                o.PortalDomain = fake.PortalDomain;
                o.ClientId = Testing.FakeOdcServer.DefaultClientId;
                o.ClientSecret = Testing.FakeOdcServer.DefaultClientSecret;
                o.RefreshJitter = TimeSpan.Zero;
            }, DemoServices.ApiBase(fake.PortalDomain));
            var api = services.GetRequiredService<OdcApi>();
            var tokens = services.GetRequiredService<IOdcAccessTokenProvider>();

            Step(1, "List users, two per page (the first request has no token yet)");
            var users = new List<OdcUser>();
            await foreach (var user in api.ListUsersAsync(pageSize: 2))
            {
                users.Add(user);
            }

            Say($"{users.Count} users over 3 pages: {string.Join(", ", users.Select(u => u.Name))}");
            Check(fake.DiscoveryRequests == 1, $"discovery document fetched once (from {fake.DiscoveryEndpoint.AbsolutePath})");
            Check(fake.TokenRequests == 1 && fake.ApiRequests == 3, $"one token request served all 3 API calls (token requests: {fake.TokenRequests})");

            Step(2, "Many more calls on the same token");
            var ada = await api.GetUserAsync(DemoData.Ada);
            var stages = await api.ListEnvironmentsAsync();
            var assets = await ListAsync(api.ListAssetsAsync(pageSize: 1000));
            var apps = await ListAsync(api.ListAssetsAsync(assetTypes: ["WebApplication", "MobileApplication"]));
            Say($"{ada.Name} <{ada.Email}>; stages {string.Join(" → ", stages.Select(s => $"{s.Name} ({s.Purpose}, {s.Status})"))}");
            Say($"{assets.Count} assets: {string.Join(", ", assets.Select(a => $"{a.Name} {a.AssetType} r{a.Revision}"))}");
            Check(ada.Key == DemoData.Ada && stages.All(s => s.Key != Guid.Empty && s.Purpose is "Development" or "NonProduction" or "Production"),
                "users and stages read with ODC's field names, UUID keys and purposes");
            Check(assets.Count == 4 && assets.All(a => a.AssetKey != Guid.Empty && a.Revision > 0) && apps.Count == 2,
                "assets read by assetKey and revision, filtered by assetTypes (2 apps), one page of up to 1000");
            Check(fake.TokenRequests == 1, $"still one token request after {fake.ApiRequests} API calls");

            Step(3, "The server revokes every token (as suspending sessions would)");
            fake.TokenLifetime = TimeSpan.FromSeconds(8);
            fake.RevokeAllTokens();
            var again = await api.ListEnvironmentsAsync();
            Say($"the next call was answered 401, a fresh token was fetched and the call retried once: {again.Count} stages");
            Check(fake.RejectedApiRequests == 1, "exactly one 401 reached the handler");
            Check(fake.TokenRequests == 2, "exactly one new token was fetched");

            Step(4, "The token reaches its refresh window (this token lives 8 s; refresh starts half-way)");
            var current = await tokens.GetTokenAsync(nameof(OdcApi));
            var refreshAt = current.ExpiresAt - TimeSpan.FromSeconds(4);
            var wait = refreshAt - DateTimeOffset.UtcNow + TimeSpan.FromMilliseconds(300);
            Say($"waiting {Math.Max(0, wait.TotalSeconds):0.0} s for it…");
            if (wait > TimeSpan.Zero)
            {
                await Task.Delay(wait);
            }

            var watch = Stopwatch.StartNew();
            await api.GetUserAsync(DemoData.Grace);
            watch.Stop();
            Say($"a call inside the window took {watch.Elapsed.TotalMilliseconds:0} ms: it used the current token while one refresh ran in the background");
            var refreshed = await WaitUntilAsync(() => fake.TokenRequests == 3, TimeSpan.FromSeconds(5));
            Check(refreshed, "the background refresh fetched token number 3");

            // The token request reaching the server comes a moment before the handler stores its answer.
            var next = current;
            var watchNext = Stopwatch.StartNew();
            while ((next = await tokens.GetTokenAsync(nameof(OdcApi))).ExpiresAt <= current.ExpiresAt && watchNext.Elapsed < TimeSpan.FromSeconds(5))
            {
                await Task.Delay(50);
            }

            Check(next.ExpiresAt > current.ExpiresAt, $"the cached token now expires at {next.ExpiresAt:HH:mm:ss} instead of {current.ExpiresAt:HH:mm:ss}");
            Check(fake.RejectedApiRequests == 1, "no request was rejected or waited for the refresh");

            Step(5, "Build an app and deploy it to QA, polling as ODC suggests: every 5 s for 30 s, then every 30 s (on a virtual clock)");
            var orders = assets.First(a => a.Name == "Orders");
            var build = await api.StartBuildAsync(new BuildRequest(orders.AssetKey, orders.Revision));
            var built = await api.WaitForBuildAsync(build.BuildKey, clock);
            Say($"build {built.BuildKey} of {orders.Name} r{built.AssetRevision} ({built.BuildType}): {built.Status}");
            var operation = await api.StartDeploymentAsync(new DeploymentRequest(orders.AssetKey, built.BuildKey, orders.Revision, DemoData.EnvironmentKeys[1]));
            Say($"deployment {operation.Key}: {operation.Status}");
            var done = await api.WaitForDeploymentAsync(operation.Key, clock);
            var polls = data.DeploymentPolls.Select(p => (int)p.TotalSeconds).ToList();
            Check(built.Status == "Finished" && done.Status == "Finished", $"build {built.Status}, deployment {done.Status}");
            Check(polls.SequenceEqual([0, 5, 10, 15, 20, 25, 30, 60]), $"the {DemoData.DeploymentDuration.TotalSeconds:0}-second deployment was polled at {string.Join(", ", polls)} s");

            Step(6, "Provision users in bulk (POST 202, then poll by key; ODC allows 5 of these a minute)");
            var import = await api.StartBulkUsersAsync([new NewUser("katherine@example.com", "Katherine Johnson"), new NewUser("margaret@example.com", "Margaret Hamilton")]);
            Say($"bulk operation {import.Key}: {import.Status}");
            var imported = await api.WaitForBulkUsersAsync(import.Key, clock);
            var everyone = await ListAsync(api.ListUsersAsync());
            Check(imported.Status == "Finished" && imported.Operations?.Count(o => o.Status == "Inserted" && o.Record?.Key is not null) == 2,
                $"bulk operation {imported.Status}: {string.Join(", ", imported.Operations?.Select(o => $"{o.Record?.Email} {o.Status}") ?? [])}");
            Check(everyone.Count == 7, $"the organisation now lists {everyone.Count} users (one page of up to 100)");
            Check(fake.ThrottledApiRequests == 0, "the fake enforced ODC's rate limits and refused nothing (429s: 0)");

            Step(7, $"List {RateLimitedListing.Users} users one per page with .AddOdcRateLimiting(): {RateLimitedListing.Users} requests where ODC allows {RateLimitedListing.PerMinute} a minute (a second fake, in memory, on a virtual clock)");
            // The contrast runs first though it is told last: it compiles the listing's code path, so a pause to compile
            // it does not look to the virtual clock like a request waiting for time to pass.
            var unlimited = await RateLimitedListing.RunAsync(withLimiter: false);
            var wall = Stopwatch.StartNew();
            var limited = await RateLimitedListing.RunAsync(withLimiter: true);
            wall.Stop();
            var minimum = RateLimitedListing.PhysicalMinimum;
            Say($"{limited.Listed} users in {limited.Requests} requests, {limited.Throttled} × 429, {limited.Elapsed.TotalSeconds:0.0} s on the virtual clock ({wall.Elapsed.TotalSeconds:0.0} s of real time)");
            Check(limited.Failure is null && limited.Listed == RateLimitedListing.Users && limited.Requests == RateLimitedListing.Users,
                $"every user listed, {limited.Requests} requests sent{(limited.Failure is null ? string.Empty : $" (failed: {limited.Failure.Message})")}");
            Check(limited.Throttled == 0, $"the fake enforced ODC's limits and refused none of them (429s: {limited.Throttled}): each request waited for its permit instead");
            Check(limited.Elapsed >= minimum && limited.Elapsed <= minimum * 1.05,
                $"{limited.Elapsed.TotalSeconds:0.0} s: no faster than ODC allows (request {(2 * RateLimitedListing.PerMinute) + 1} cannot leave before {minimum.TotalSeconds:0} s) and within 1.05x of it ({limited.Elapsed / minimum:0.000}x)");
            Say($"for contrast, without the limiter (only the standard resilience handler, which retries a 429 three times with exponential back-off): {unlimited.Requests} requests, "
                + $"{unlimited.Throttled} × 429, {unlimited.Listed} users listed, {(unlimited.Failure is null ? "finished" : $"then the listing failed ({(unlimited.Failure is HttpRequestException { StatusCode: { } status } ? $"{(int)status} {status}" : unlimited.Failure.GetType().Name)})")} after {unlimited.Elapsed.TotalSeconds:0.0} s");

            Console.WriteLine();
            Console.WriteLine(s_failures == 0
                ? $"All steps behaved as narrated: {fake.ApiRequests} API calls, {fake.TokenRequests} token requests, {fake.DiscoveryRequests} discovery request."
                : $"{s_failures} check(s) did not hold.");
            return s_failures == 0 ? 0 : 1;
        }

        private static void Step(int number, string title)
        {
            Console.WriteLine();
            Console.WriteLine($"{number}. {title}");
        }

        private static void Say(string text) => Console.WriteLine($"   → {text}");

        private static void Check(bool condition, string claim)
        {
            Console.WriteLine($"   {(condition ? "✓" : "✗")} {claim}");
            if (!condition)
            {
                s_failures++;
            }
        }

        private static async Task<List<T>> ListAsync<T>(IAsyncEnumerable<T> items)
        {
            var list = new List<T>();
            await foreach (var item in items)
            {
                list.Add(item);
            }

            return list;
        }

        private static async Task<bool> WaitUntilAsync(Func<bool> condition, TimeSpan limit)
        {
            var watch = Stopwatch.StartNew();
            while (!condition() && watch.Elapsed < limit)
            {
                await Task.Delay(50);
            }

            return condition();
        }
    }

    /// <summary>A read-only tour of a real organisation.</summary>
    internal static class RealTour
    {
        public static async Task<int> RunAsync(IConfiguration odc)
        {
            using var services = DemoServices.Create(o => odc.Bind(o), DemoServices.ApiBase(odc["PortalDomain"]!));
            var api = services.GetRequiredService<OdcApi>();
            Console.WriteLine($"Talking to {odc["PortalDomain"]} as client {odc["ClientId"]} (read-only).");
            foreach (var stage in await api.ListEnvironmentsAsync())
            {
                Console.WriteLine($"  stage {stage.Order}: {stage.Name} ({stage.Purpose})");
            }

            var shown = 0;
            await foreach (var user in api.ListUsersAsync(pageSize: 10))
            {
                Console.WriteLine($"  user {user.Name} <{user.Email}> {user.Status}");
                if (++shown == 10)
                {
                    break;
                }
            }

            return 0;
        }
    }

    /// <summary>Prints an access token, the job the ODC documentation describes doing by hand with curl.</summary>
    internal static class TokenCommand
    {
        public static async Task<int> RunAsync(IConfiguration? odc)
        {
            await using var host = odc is null ? await FakeOdcHost.StartAsync() : null;
            var portal = odc?["PortalDomain"] ?? host!.Server.PortalDomain;
            using var services = DemoServices.Create(o =>
            {
                if (odc is null)
                {
                    o.PortalDomain = portal;
                    o.ClientId = Testing.FakeOdcServer.DefaultClientId;
                    o.ClientSecret = Testing.FakeOdcServer.DefaultClientSecret;
                }
                else
                {
                    odc.Bind(o);
                }
            }, DemoServices.ApiBase(portal));
            var token = await services.GetRequiredService<IOdcAccessTokenProvider>().GetTokenAsync(nameof(OdcApi));
            Console.Error.WriteLine(odc is null
                ? $"A token from the fake ODC at {portal} (it stops when this program exits), valid until {token.ExpiresAt:O}:"
                : $"An access token for {portal}, valid until {token.ExpiresAt:O}. Treat it as a secret:");
            Console.WriteLine(token.Value);
            Console.Error.WriteLine($"curl -H \"Authorization: Bearer $TOKEN\" {DemoServices.ApiBase(portal)}portfolios/v2/environments");
            return 0;
        }
    }
}
