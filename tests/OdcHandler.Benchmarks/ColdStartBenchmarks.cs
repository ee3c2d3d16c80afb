using BenchmarkDotNet.Attributes;
using BenchmarkDotNet.Engines;
using Microsoft.Extensions.DependencyInjection;

namespace OdcHandler.Benchmarks;

/// <summary>The first request of a fresh application: discovery and token (in memory), then the API call.</summary>
[MemoryDiagnoser]
[SimpleJob(RunStrategy.Monitoring, warmupCount: 5, iterationCount: 30, invocationCount: 1)]
public class ColdStartBenchmarks
{
    private static readonly Uri s_api = new(Contenders.ApiUrl);
    private ServiceProvider _services = null!;
    private HttpClient _odc = null!;
    private HttpClient _msal = null!;

    [IterationSetup]
    public void Setup()
    {
        var identity = new InMemoryIdentity();
        _services = Contenders.CreateServices(identity, Contenders.CreateMsal(identity));
        var factory = _services.GetRequiredService<IHttpClientFactory>();
        _odc = factory.CreateClient("OdcHandler");
        _msal = factory.CreateClient("Msal");
    }

    [IterationCleanup]
    public void Cleanup() => _services.Dispose();

    [Benchmark]
    public Task<HttpResponseMessage> OdcHandlerFirstRequest() => _odc.GetAsync(s_api);

    [Benchmark]
    public Task<HttpResponseMessage> MsalFirstRequest() => _msal.GetAsync(s_api);
}
