using System.Diagnostics;
using System.Net;
using BenchmarkDotNet.Attributes;
using Microsoft.Extensions.DependencyInjection;

namespace OdcHandler.Benchmarks;

/// <summary>
/// One GET on an ODC API path through a plain client and through one with <c>AddOdcRateLimiting</c> whose permits
/// are always free (a limit no benchmark reaches), the API answering at once from memory: the difference is what the
/// limiter costs a request that does not have to wait.
/// </summary>
[MemoryDiagnoser]
public class RateLimitBenchmarks
{
    private static readonly Uri s_api = new(Contenders.ApiUrl);
    private ServiceProvider _services = null!;
    private HttpClient _plain = null!;
    private HttpClient _limited = null!;

    [GlobalSetup]
    public void Setup()
    {
        _services = CreateServices();
        var factory = _services.GetRequiredService<IHttpClientFactory>();
        _plain = factory.CreateClient("Plain");
        _limited = factory.CreateClient("RateLimited");
        _limited.GetAsync(s_api).GetAwaiter().GetResult();
    }

    [GlobalCleanup]
    public void Cleanup() => _services.Dispose();

    [Benchmark(Baseline = true)]
    public Task<HttpResponseMessage> Plain() => _plain.GetAsync(s_api);

    [Benchmark]
    public Task<HttpResponseMessage> RateLimited() => _limited.GetAsync(s_api);

    public static ServiceProvider CreateServices()
    {
        var services = new ServiceCollection();
        var answer = Task.FromResult(new HttpResponseMessage(HttpStatusCode.OK));
        services.AddHttpClient("Plain").ConfigurePrimaryHttpMessageHandler(() => new Answering(answer));
        services.AddHttpClient("PassThrough").AddHttpMessageHandler(() => new PassThrough()).ConfigurePrimaryHttpMessageHandler(() => new Answering(answer));
        services.AddHttpClient("RateLimited")
            .AddOdcRateLimiting(o =>
            {
                o.DomainLimits.Clear();
                o.DefaultDomainLimit = 1_000_000_000;
                o.Window = TimeSpan.FromSeconds(1);
            })
            .ConfigurePrimaryHttpMessageHandler(() => new Answering(answer));
        return services.BuildServiceProvider();
    }

    /// <summary>Both clients in one process, timed in alternating shuffled rounds; the median per-round difference is quoted.</summary>
    public static async Task<int> RunInterleavedAsync(int rounds = 200, int callsPerRound = 20_000, int warmUpRounds = 10)
    {
        using var services = CreateServices();
        var factory = services.GetRequiredService<IHttpClientFactory>();
        // PassThrough has one DelegatingHandler that does nothing: the part of the limiter's cost any handler has.
        var clients = new Dictionary<string, HttpClient>
        {
            ["Plain"] = factory.CreateClient("Plain"),
            ["PassThrough"] = factory.CreateClient("PassThrough"),
            ["RateLimited"] = factory.CreateClient("RateLimited"),
        };
        var samples = clients.Keys.ToDictionary(name => name, _ => new List<double>());
        var bytes = clients.Keys.ToDictionary(name => name, _ => 0.0);
        var random = new Random(42);
        for (var round = 0; round < rounds + warmUpRounds; round++)
        {
            foreach (var name in clients.Keys.OrderBy(_ => random.Next()))
            {
                var client = clients[name];
                var allocated = GC.GetAllocatedBytesForCurrentThread();
                var watch = Stopwatch.StartNew();
                for (var i = 0; i < callsPerRound; i++)
                {
                    await client.GetAsync(s_api);
                }

                watch.Stop();
                if (round >= warmUpRounds)
                {
                    samples[name].Add(watch.Elapsed.TotalNanoseconds / callsPerRound);
                    bytes[name] = (GC.GetAllocatedBytesForCurrentThread() - allocated) / (double)callsPerRound;
                }
            }
        }

        var overhead = samples["RateLimited"].Zip(samples["Plain"], (a, b) => a - b).Order().ToArray()[rounds / 2];
        Console.WriteLine($"Rate limiter, interleaved: {rounds} rounds x {callsPerRound} calls, {Environment.ProcessorCount} cores, .NET {Environment.Version}");
        Console.WriteLine("| Client | median ns/op | B/op |");
        Console.WriteLine("|---|---:|---:|");
        foreach (var name in clients.Keys)
        {
            Console.WriteLine($"| {name} | {samples[name].Order().ToArray()[rounds / 2]:0.0} | {bytes[name]:0} |");
        }

        var handler = samples["PassThrough"].Zip(samples["Plain"], (a, b) => a - b).Order().ToArray()[rounds / 2];
        Console.WriteLine($"Limiter overhead (median of per-round differences): {overhead:0.0} ns, of which a do-nothing handler costs {handler:0.0} ns; allocation difference {bytes["RateLimited"] - bytes["Plain"]:0} B/op");
        return 0;
    }

    private sealed class PassThrough : DelegatingHandler;

    private sealed class Answering(Task<HttpResponseMessage> answer) : HttpMessageHandler
    {
        protected override Task<HttpResponseMessage> SendAsync(HttpRequestMessage request, CancellationToken cancellationToken) => answer;
    }
}
