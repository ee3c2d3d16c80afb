using BenchmarkDotNet.Running;
using OdcHandler.Benchmarks;

// dotnet run -c Release --project tests/OdcHandler.Benchmarks -- --filter '*'   BenchmarkDotNet (warm path, cold start)
// dotnet run -c Release --project tests/OdcHandler.Benchmarks -- interleaved    all contenders in one process, shuffled rounds
// dotnet run -c Release --project tests/OdcHandler.Benchmarks -- ratelimit      the rate limiter with free permits vs a plain client, interleaved
// dotnet run -c Release --project tests/OdcHandler.Benchmarks -- counts         token requests under stampede and failure; throughput
return args.FirstOrDefault() switch
{
    "interleaved" => await Interleaved.RunAsync(),
    "counts" => await Counts.RunAsync(),
    "ratelimit" => await RateLimitBenchmarks.RunInterleavedAsync(),
    _ => Run(args),
};

static int Run(string[] args)
{
    BenchmarkSwitcher.FromAssembly(typeof(WarmPathBenchmarks).Assembly).Run(args);
    return 0;
}
