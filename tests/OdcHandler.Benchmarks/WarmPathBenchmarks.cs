using BenchmarkDotNet.Attributes;
using Microsoft.Extensions.DependencyInjection;
using Microsoft.Identity.Client;

namespace OdcHandler.Benchmarks;

/// <summary>
/// One GET through each pipeline with a valid token cached, the API answering at once from memory.
/// The difference to Baseline is what authentication adds to every request.
/// </summary>
[MemoryDiagnoser]
public class WarmPathBenchmarks
{
    private static readonly Uri s_api = new(Contenders.ApiUrl);
    private ServiceProvider _services = null!;
    private IConfidentialClientApplication _msal = null!;
    private HttpClient _baseline = null!;
    private HttpClient _constant = null!;
    private HttpClient _odc = null!;
    private HttpClient _organizations = null!;
    private HttpClient _msalClient = null!;
    private HttpMessageInvoker _rawBaseline = null!;
    private HttpMessageInvoker _rawConstant = null!;
    private HttpMessageInvoker _rawOdc = null!;

    [GlobalSetup]
    public void Setup()
    {
        var identity = new InMemoryIdentity();
        _msal = Contenders.CreateMsal(identity);
        _services = Contenders.CreateServices(identity, _msal);
        var factory = _services.GetRequiredService<IHttpClientFactory>();
        _baseline = factory.CreateClient("Baseline");
        _constant = factory.CreateClient("ConstantHeader");
        _odc = factory.CreateClient("OdcHandler");
        _organizations = factory.CreateClient("OdcOrganizations");
        _msalClient = factory.CreateClient("Msal");
        _rawBaseline = Contenders.CreateRawInvoker("Baseline", _services, _msal);
        _rawConstant = Contenders.CreateRawInvoker("ConstantHeader", _services, _msal);
        _rawOdc = Contenders.CreateRawInvoker("OdcHandler", _services, _msal);

        // Warm every cache: the token is fetched once here, never inside a measured operation.
        foreach (var client in new[] { _odc, _organizations, _msalClient })
        {
            client.GetAsync(s_api).GetAwaiter().GetResult();
        }
    }

    [GlobalCleanup]
    public void Cleanup() => _services.Dispose();

    [Benchmark(Baseline = true)]
    public Task<HttpResponseMessage> Baseline() => _baseline.GetAsync(s_api);

    [Benchmark]
    public Task<HttpResponseMessage> ConstantHeader() => _constant.GetAsync(s_api);

    [Benchmark]
    public Task<HttpResponseMessage> OdcHandler() => _odc.GetAsync(s_api);

    [Benchmark]
    public Task<HttpResponseMessage> OdcOrganizations() => _organizations.GetAsync(s_api);

    [Benchmark]
    public Task<HttpResponseMessage> Msal() => _msalClient.GetAsync(s_api);

    [Benchmark]
    public Task<HttpResponseMessage> RawBaseline() => _rawBaseline.SendAsync(new HttpRequestMessage(HttpMethod.Get, s_api), CancellationToken.None);

    [Benchmark]
    public Task<HttpResponseMessage> RawConstantHeader() => _rawConstant.SendAsync(new HttpRequestMessage(HttpMethod.Get, s_api), CancellationToken.None);

    [Benchmark]
    public Task<HttpResponseMessage> RawOdcHandler() => _rawOdc.SendAsync(new HttpRequestMessage(HttpMethod.Get, s_api), CancellationToken.None);
}
