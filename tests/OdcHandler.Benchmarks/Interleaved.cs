using System.Diagnostics;
using Microsoft.Extensions.DependencyInjection;

namespace OdcHandler.Benchmarks;

/// <summary>
/// This machine is noisy and BenchmarkDotNet measures contenders one after another, so a slow minute
/// can favour one of them. Here every round times every contender once, in a shuffled order, in one
/// process; the medians of the per-round ratios are what we quote.
/// </summary>
public static class Interleaved
{
    private const int Rounds = 200;
    private const int CallsPerRound = 20_000;

    public static async Task<int> RunAsync()
    {
        var identity = new InMemoryIdentity();
        var msal = Contenders.CreateMsal(identity);
        using var services = Contenders.CreateServices(identity, msal);
        var factory = services.GetRequiredService<IHttpClientFactory>();
        var api = new Uri(Contenders.ApiUrl);
        var clients = Contenders.Names.ToDictionary(name => name, factory.CreateClient);
        foreach (var client in clients.Values)
        {
            await client.GetAsync(api);
        }

        var samples = Contenders.Names.ToDictionary(name => name, _ => new List<double>());
        var random = new Random(42);
        for (var round = 0; round < Rounds + 10; round++)
        {
            foreach (var name in Contenders.Names.OrderBy(_ => random.Next()))
            {
                var client = clients[name];
                var watch = Stopwatch.StartNew();
                for (var i = 0; i < CallsPerRound; i++)
                {
                    await client.GetAsync(api);
                }

                watch.Stop();
                if (round >= 10)
                {
                    samples[name].Add(watch.Elapsed.TotalNanoseconds / CallsPerRound);
                }
            }
        }

        Console.WriteLine($"Interleaved: {Rounds} rounds x {CallsPerRound} calls per contender, shuffled order, {Environment.ProcessorCount} cores, .NET {Environment.Version}");
        Console.WriteLine("| Contender | median ns/op | median ratio to Baseline | median ratio to ConstantHeader | overhead over Baseline (ns) |");
        Console.WriteLine("|---|---:|---:|---:|---:|");
        var baseline = samples["Baseline"];
        var constant = samples["ConstantHeader"];
        foreach (var name in Contenders.Names)
        {
            var own = samples[name];
            var toBaseline = Median(own.Zip(baseline, (a, b) => a / b));
            var toConstant = Median(own.Zip(constant, (a, b) => a / b));
            var overhead = Median(own.Zip(baseline, (a, b) => a - b));
            Console.WriteLine($"| {name} | {Median(own):0.0} | {toBaseline:0.000} | {toConstant:0.000} | {overhead:0.0} |");
        }

        var perOrganisation = Median(samples["OdcOrganizations"].Zip(samples["OdcHandler"], (a, b) => a - b));
        Console.WriteLine($"Multi-organisation path over the single-organisation path: {perOrganisation:0.0} ns per request (median of per-round differences)");
        var odcOverhead = Median(samples["OdcHandler"].Zip(baseline, (a, b) => a - b));
        var msalOverhead = Median(samples["Msal"].Zip(baseline, (a, b) => a - b));
        Console.WriteLine($"MSAL overhead / OdcHandler overhead: {msalOverhead / Math.Max(odcOverhead, 0.1):0}x");
        return 0;
    }

    private static double Median(IEnumerable<double> values)
    {
        var sorted = values.Order().ToArray();
        return sorted.Length % 2 == 1 ? sorted[sorted.Length / 2] : (sorted[(sorted.Length / 2) - 1] + sorted[sorted.Length / 2]) / 2;
    }
}
