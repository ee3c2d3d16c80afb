using System.Diagnostics;
using Microsoft.Extensions.DependencyInjection;

namespace OdcHandler.Benchmarks;

/// <summary>
/// Deterministic figures rather than times: how many token requests reach the identity service when a
/// crowd arrives on a cold cache or while it fails, and the warm path's throughput with parallel callers.
/// </summary>
public static class Counts
{
    public static async Task<int> RunAsync()
    {
        Console.WriteLine("| Scenario | OdcHandler token requests | MSAL token requests |");
        Console.WriteLine("|---|---:|---:|");
        var cold = await CrowdAsync(1000, fail: false);
        Console.WriteLine($"| 1,000 concurrent requests, cold cache | {cold.Odc} (discovery {cold.OdcDiscovery}) | {cold.Msal} |");
        var failing = await CrowdAsync(50, fail: true);
        Console.WriteLine($"| 50 concurrent requests, token endpoint answers 500 | {failing.Odc} | {failing.Msal} |");
        Console.WriteLine();
        Console.WriteLine("| Parallel callers | Contender | requests/s (median of 7 shuffled 1-second rounds) |");
        Console.WriteLine("|---:|---|---:|");
        var random = new Random(7);
        foreach (var threads in new[] { 1, 2 })
        {
            var rounds = Contenders.Names.ToDictionary(name => name, _ => new List<double>());
            for (var round = 0; round < 7; round++)
            {
                foreach (var name in Contenders.Names.OrderBy(_ => random.Next()))
                {
                    rounds[name].Add(await ThroughputAsync(name, threads));
                }
            }

            foreach (var name in Contenders.Names)
            {
                Console.WriteLine($"| {threads} | {name} | {rounds[name].Order().ElementAt(3):N0} |");
            }
        }

        return 0;
    }

    private static async Task<(int Odc, int OdcDiscovery, int Msal)> CrowdAsync(int callers, bool fail)
    {
        var odcIdentity = new InMemoryIdentity { Fail = fail, Gate = new TaskCompletionSource(TaskCreationOptions.RunContinuationsAsynchronously) };
        var msalIdentity = new InMemoryIdentity { Fail = fail, Gate = new TaskCompletionSource(TaskCreationOptions.RunContinuationsAsynchronously) };
        using var odcServices = Contenders.CreateServices(odcIdentity, Contenders.CreateMsal(odcIdentity));
        using var msalServices = Contenders.CreateServices(msalIdentity, Contenders.CreateMsal(msalIdentity));
        var api = new Uri(Contenders.ApiUrl);
        var odc = odcServices.GetRequiredService<IHttpClientFactory>().CreateClient("OdcHandler");
        var msal = msalServices.GetRequiredService<IHttpClientFactory>().CreateClient("Msal");

        async Task Crowd(HttpClient client, InMemoryIdentity identity)
        {
            var calls = Enumerable.Range(0, callers).Select(_ => Task.Run(async () =>
            {
                try
                {
                    await client.GetAsync(api);
                }
                catch (Exception exception) when (exception is HttpRequestException or OdcAuthenticationException)
                {
                    // Counted below from the identity side; a failure is expected when the endpoint fails.
                }
                catch (Microsoft.Identity.Client.MsalException)
                {
                }
            })).ToArray();

            // Let the crowd gather on the held token endpoint before it answers.
            await Task.Delay(500);
            identity.Gate!.SetResult();
            await Task.WhenAll(calls);
        }

        await Crowd(odc, odcIdentity);
        await Crowd(msal, msalIdentity);
        return (odcIdentity.TokenRequests, odcIdentity.DiscoveryRequests, msalIdentity.TokenRequests);
    }

    private static async Task<double> ThroughputAsync(string name, int threads)
    {
        var identity = new InMemoryIdentity();
        using var services = Contenders.CreateServices(identity, Contenders.CreateMsal(identity));
        var client = services.GetRequiredService<IHttpClientFactory>().CreateClient(name);
        var api = new Uri(Contenders.ApiUrl);
        await client.GetAsync(api);
        var duration = TimeSpan.FromSeconds(1);
        var watch = Stopwatch.StartNew();
        var counts = await Task.WhenAll(Enumerable.Range(0, threads).Select(_ => Task.Run(async () =>
        {
            long done = 0;
            while (watch.Elapsed < duration)
            {
                for (var i = 0; i < 1000; i++)
                {
                    await client.GetAsync(api);
                }

                done += 1000;
            }

            return done;
        })));
        return counts.Sum() / watch.Elapsed.TotalSeconds;
    }
}
