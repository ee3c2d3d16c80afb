using System.Net;
using System.Text;

namespace OdcHandler.Tests.RateLimiting;

/// <summary>
/// A small in-test stand-in for ODC's API limits, until FakeOdcServer enforces them: per API domain and per capped
/// endpoint, it accepts a request only if fewer than N were accepted in the 60 s before it (on fake time), and
/// otherwise answers 429 with an application/json ProblemDetails and no Retry-After. Written from the table in
/// ODC.md independently of the library's own parsing, so a mistake in one is not repeated in the other.
/// </summary>
public sealed class LimitEnforcingApi(TimeProvider time)
{
    private static readonly TimeSpan Window = TimeSpan.FromMinutes(1);
    private readonly object _gate = new();
    private readonly Dictionary<string, Queue<DateTimeOffset>> _accepted = new(StringComparer.Ordinal);
    private int _tooMany;
    private int _accepted429Free;

    public int Accepted => _accepted429Free;

    public int TooManyRequests => _tooMany;

    public DateTimeOffset LastAcceptedAt { get; private set; }

    /// <summary>The largest number of accepted requests seen in any 60 s, per limit key.</summary>
    public Dictionary<string, int> MostInAnyWindow { get; } = new(StringComparer.Ordinal);

    public HttpMessageHandler CreateHandler() => new Fakes.FakeHttpMessageHandler((request, _) => Task.FromResult(Answer(request)));

    public HttpResponseMessage Answer(HttpRequestMessage request)
    {
        var path = request.RequestUri!.AbsolutePath;
        var domain = path.Split('/', StringSplitOptions.RemoveEmptyEntries)[1];
        var limits = new List<(string Key, int Limit)> { ($"domain {domain}", domain == "environment-configurations" ? 10 : 100) };
        if (request.Method == HttpMethod.Post && (domain is "deployments" or "builds" or "external-libraries"))
        {
            limits.Add(($"POST {path}", 10));
        }
        else if (request.Method == HttpMethod.Post && path.EndsWith("/identity/v1/users/bulk", StringComparison.Ordinal))
        {
            limits.Add(($"POST {path}", 5));
        }

        var now = time.GetUtcNow();
        lock (_gate)
        {
            foreach (var (key, limit) in limits)
            {
                var times = Times(key);
                while (times.Count > 0 && times.Peek() <= now - Window)
                {
                    times.Dequeue();
                }

                if (times.Count >= limit)
                {
                    _tooMany++;
                    return new HttpResponseMessage(HttpStatusCode.TooManyRequests)
                    {
                        Content = new StringContent("""{"title":"Too Many Requests","status":429}""", Encoding.UTF8, "application/json"),
                    };
                }
            }

            foreach (var (key, _) in limits)
            {
                var times = Times(key);
                times.Enqueue(now);
                MostInAnyWindow[key] = Math.Max(MostInAnyWindow.GetValueOrDefault(key), times.Count);
            }

            _accepted429Free++;
            LastAcceptedAt = now;
        }

        return new HttpResponseMessage(HttpStatusCode.OK) { Content = new StringContent("""{"ok":true}""", Encoding.UTF8, "application/json") };
    }

    private Queue<DateTimeOffset> Times(string key)
    {
        if (!_accepted.TryGetValue(key, out var times))
        {
            _accepted[key] = times = new Queue<DateTimeOffset>();
        }

        return times;
    }
}
