namespace OdcHandler.Internal;

/// <summary>
/// The limits of one HttpClient name: per host, a pool per API domain and the endpoint caps, replenished by one
/// timer on the injected <see cref="TimeProvider"/>.
/// </summary>
/// <remarks>
/// Finding a request's limits allocates nothing once its host and domain have been seen (a short array scan over
/// spans of the path, which <see cref="Uri"/> caches); only a capped endpoint under a "each endpoint" rule builds a key.
/// </remarks>
internal sealed class OdcRateLimiter : IDisposable
{
    private const string ApiPrefix = "/api/";

    private readonly object _gate = new();
    private readonly Dictionary<string, int> _domainLimits;
    private readonly int _defaultDomainLimit;
    private readonly EndpointRule[] _rules;
    private readonly HttpMethod[] _cappedMethods;
    private readonly ITimer _timer;
    private volatile HostLimits[] _hosts = [];
    private readonly TimeProvider _time;
    private volatile RateLimit[] _all = [];
    private readonly CancellationTokenSource _disposing = new();
    private long _sleeping;

    public OdcRateLimiter(OdcRateLimitOptions options, TimeProvider time)
    {
        _time = time;
        Window = options.Window;
        MaxWait = options.MaxWait;
        MaxResends = options.MaxRateLimitedResends;
        _domainLimits = new Dictionary<string, int>(options.DomainLimits, StringComparer.OrdinalIgnoreCase);
        _defaultDomainLimit = options.DefaultDomainLimit;
        // Keys are compared as parsed ("POST /identity/v1/users/bulk" is the table's "POST identity/v1/users/bulk"), the
        // later entry (configuration, over the table) replaces the earlier, and the most specific rule is tried first
        // (one endpoint before "each endpoint under", a longer path before a shorter), so a configured cap on one
        // endpoint is not shadowed by a broader rule of the table.
        _rules = options.EndpointLimits
            .Select(pair => (Rule: EndpointRule.Parse(pair.Key, pair.Value), Permits: pair.Value))
            .GroupBy(entry => entry.Rule.Identity, StringComparer.OrdinalIgnoreCase)
            .Select(group => group.Last())
            .Where(entry => entry.Permits > 0)
            .Select(entry => entry.Rule)
            .OrderBy(rule => rule.EachEndpoint ? 1 : 0)
            .ThenByDescending(rule => rule.Path.Length)
            .ToArray();
        _cappedMethods = _rules.Select(rule => rule.Method).Distinct().ToArray();
        var segment = Window / RateLimit.SegmentsPerWindow;
        _timer = time.CreateTimer(static state => ((OdcRateLimiter)state!).Replenish(), this, segment, segment);
    }

    public TimeSpan Window { get; }

    public TimeSpan MaxWait { get; }

    public int MaxResends { get; }

    /// <summary>Where permits come from first when the fleet shares a budget; null when this instance limits itself alone.</summary>
    public FleetPermits? Fleet { get; set; }

    /// <summary>
    /// Requests waiting for a permit, across all limits, or sleeping before asking the fleet's store again or before a
    /// resend: what a test driving fake time waits for.
    /// </summary>
    public long Queued => _all.Sum(limit => limit.Queued) + Interlocked.Read(ref _sleeping);

    /// <summary>
    /// Waits <paramref name="delay"/> on the injected <see cref="TimeProvider"/>. Counted in <see cref="Queued"/> until
    /// the timer fires, not until the waiter runs again, so a test that moves fake time sees released waiters at once.
    /// </summary>
    public Task SleepAsync(TimeSpan delay, CancellationToken cancellationToken)
    {
        if (delay <= TimeSpan.Zero)
        {
            return Task.CompletedTask;
        }

        cancellationToken.ThrowIfCancellationRequested();
        if (IsDisposed)
        {
            throw DisposedWhileWaiting();
        }

        var sleep = new Sleep(this);
        Interlocked.Increment(ref _sleeping);
        sleep.Start(delay, cancellationToken);
        return sleep.Task;
    }

    /// <summary>The endpoint cap and domain pool a request counts against; false when it counts against none.</summary>
    public bool TryGetLimits(HttpRequestMessage request, out RateLimit? endpoint, out RateLimit? domain)
    {
        endpoint = null;
        domain = null;
        if (request.RequestUri is not { IsAbsoluteUri: true } uri)
        {
            return false;
        }

        var path = uri.AbsolutePath;
        if (!path.StartsWith(ApiPrefix, StringComparison.OrdinalIgnoreCase))
        {
            return false;
        }

        var rest = path.AsSpan(ApiPrefix.Length);
        var slash = rest.IndexOf('/');
        var domainName = slash < 0 ? rest : rest[..slash];
        if (domainName.IsEmpty)
        {
            return false;
        }

        var host = FindHost(uri);
        if (!host.TryFindDomain(domainName, out domain))
        {
            domain = AddDomain(host, domainName.ToString());
        }

        endpoint = FindEndpoint(host, request.Method, rest);
        return domain is not null || endpoint is not null;
    }

    /// <summary>Cancelled when the limiter is disposed (its service provider was): every wait ends, unsent.</summary>
    public CancellationToken Disposing => _disposing.Token;

    public bool IsDisposed => _disposing.IsCancellationRequested;

    /// <summary>What a request that was waiting, or would have to wait, gets once the limiter is disposed.</summary>
    public static ObjectDisposedException DisposedWhileWaiting() => new(
        "OdcHandler rate limiter",
        "The service provider that owns this HttpClient's OdcHandler rate limits was disposed while the request waited for a permit; the request was not sent.");

    public void Dispose()
    {
        _timer.Dispose();
        _disposing.Cancel();
    }

    /// <summary>Granted waiters whose requests have not left yet; see <see cref="PermitHandoffs"/>.</summary>
    public PermitHandoffs Handoffs { get; } = new();

    private void Replenish()
    {
        if (Handoffs.AnyPending())
        {
            // The window waits for the requests it let through (a fake clock's back-to-back ticks); see PermitHandoffs.
            return;
        }

        foreach (var limit in _all)
        {
            if (!limit.IsHeld)
            {
                limit.Limiter.TryReplenish();
            }
        }
    }

    private HostLimits FindHost(Uri uri)
    {
        // Most requests are written the way the Uri prints its origin ("https://acme.outsystems.dev/api/..."): the
        // original string's prefix finds the host without building Host, a comparison of a few characters.
        var hosts = _hosts;
        var original = uri.OriginalString;
        foreach (var candidate in hosts)
        {
            if (original.StartsWith(candidate.Prefix, StringComparison.Ordinal))
            {
                return candidate;
            }
        }

        // One organisation however its host is written: Uri keeps it in lower case, IdnHost is the same for its
        // Unicode and punycode spellings, and a fully qualified name's trailing dot names the same host.
        var host = WithoutTrailingDot(uri.IdnHost);
        var port = uri.Port;
        foreach (var candidate in hosts)
        {
            if (candidate.Port == port && string.Equals(candidate.Host, host, StringComparison.Ordinal))
            {
                return candidate;
            }
        }

        lock (_gate)
        {
            foreach (var candidate in _hosts)
            {
                if (candidate.Port == port && string.Equals(candidate.Host, host, StringComparison.Ordinal))
                {
                    return candidate;
                }
            }

            var added = new HostLimits(host, port, uri.GetLeftPart(UriPartial.Authority) + "/");
            _hosts = [.. _hosts, added];
            return added;
        }
    }

    private static string WithoutTrailingDot(string host) =>
        host.Length > 1 && host[^1] == '.' ? host[..^1] : host;

    private RateLimit? AddDomain(HostLimits host, string name)
    {
        lock (_gate)
        {
            if (host.TryFindDomain(name, out var existing))
            {
                return existing;
            }

            var permits = _domainLimits.TryGetValue(name, out var configured) ? configured : _defaultDomainLimit;
            var limit = permits > 0 ? new RateLimit(name, permits, Window, host.StoreKeyPrefix + name.ToLowerInvariant()) : null;
            host.Domains = [.. host.Domains, new DomainEntry(name, limit)];
            Track(limit);
            return limit;
        }
    }

    private RateLimit? FindEndpoint(HostLimits host, HttpMethod method, ReadOnlySpan<char> rest)
    {
        if (!IsCapped(method))
        {
            // ODC caps only some POST (and PATCH) endpoints: a GET, the bulk of the traffic, skips the rules.
            return null;
        }

        foreach (var rule in _rules)
        {
            if (!rule.Matches(method, rest))
            {
                continue;
            }

            var key = rule.EachEndpoint ? rule.KeyFor(rest) : rule.Key;
            if (host.Endpoints.TryGetValue(key, out var found))
            {
                return found;
            }

            lock (_gate)
            {
                if (!host.Endpoints.TryGetValue(key, out found))
                {
                    found = new RateLimit(key, rule.PermitLimit, Window, host.StoreKeyPrefix + key.ToLowerInvariant());
                    host.Endpoints[key] = found;
                    Track(found);
                }

                return found;
            }
        }

        return null;
    }

    private bool IsCapped(HttpMethod method)
    {
        foreach (var capped in _cappedMethods)
        {
            if (ReferenceEquals(capped, method))
            {
                return true;
            }
        }

        foreach (var capped in _cappedMethods)
        {
            if (capped.Equals(method))
            {
                return true;
            }
        }

        return false;
    }

    private void Track(RateLimit? limit)
    {
        if (limit is not null)
        {
            _all = [.. _all, limit];
        }
    }

    private sealed class HostLimits(string host, int port, string prefix)
    {
        public string Host { get; } = host;

        public int Port { get; } = port;

        /// <summary>The origin as the Uri prints it, with the slash that ends it: <c>https://acme.outsystems.dev/</c>.</summary>
        public string Prefix { get; } = prefix;

        public string StoreKeyPrefix { get; } = string.Create(System.Globalization.CultureInfo.InvariantCulture, $"{host.ToLowerInvariant()}:{port}/");

        public volatile DomainEntry[] Domains = [];

        public System.Collections.Concurrent.ConcurrentDictionary<string, RateLimit> Endpoints { get; } = new(StringComparer.OrdinalIgnoreCase);

        /// <summary>The domain's pool (null for an unlimited domain); false for a domain not seen yet.</summary>
        public bool TryFindDomain(ReadOnlySpan<char> name, out RateLimit? limit)
        {
            var domains = Domains;
            foreach (var entry in domains)
            {
                if (name.SequenceEqual(entry.Name))
                {
                    limit = entry.Limit;
                    return true;
                }
            }

            foreach (var entry in domains)
            {
                if (name.Equals(entry.Name, StringComparison.OrdinalIgnoreCase))
                {
                    limit = entry.Limit;
                    return true;
                }
            }

            limit = null;
            return false;
        }
    }

    private sealed class Sleep(OdcRateLimiter owner) : TaskCompletionSource(TaskCreationOptions.RunContinuationsAsynchronously)
    {
        private int _finished;
        private ITimer? _timer;
        private CancellationTokenRegistration _cancellation;
        private CancellationTokenRegistration _disposal;

        public void Start(TimeSpan delay, CancellationToken cancellationToken)
        {
            _timer = owner._time.CreateTimer(static state => ((Sleep)state!).Finish(default), this, Timeout.InfiniteTimeSpan, Timeout.InfiniteTimeSpan);
            _cancellation = cancellationToken.UnsafeRegister(static (state, token) => ((Sleep)state!).Finish(token), this);
            _disposal = owner.Disposing.UnsafeRegister(static state => ((Sleep)state!).Finish(default, disposed: true), this);
            _timer.Change(delay, Timeout.InfiniteTimeSpan);
        }

        private void Finish(CancellationToken cancelled, bool disposed = false)
        {
            if (Interlocked.Exchange(ref _finished, 1) != 0)
            {
                return;
            }

            Interlocked.Decrement(ref owner._sleeping);
            _timer?.Dispose();
            _cancellation.Unregister();
            _disposal.Unregister();
            if (cancelled.IsCancellationRequested)
            {
                TrySetCanceled(cancelled);
            }
            else if (disposed)
            {
                TrySetException(DisposedWhileWaiting());
            }
            else
            {
                TrySetResult();
            }
        }
    }

    private sealed record DomainEntry(string Name, RateLimit? Limit);

    /// <summary>"POST deployments/v1/*" (each endpoint under the prefix) or "POST identity/v1/users/bulk" (that one).</summary>
    private sealed class EndpointRule
    {
        private EndpointRule(HttpMethod method, string path, bool eachEndpoint, int permitLimit, string key)
        {
            Method = method;
            Path = path;
            EachEndpoint = eachEndpoint;
            PermitLimit = permitLimit;
            Key = key;
        }

        public HttpMethod Method { get; }

        public string Path { get; }

        public bool EachEndpoint { get; }

        public int PermitLimit { get; }

        public string Key { get; }

        /// <summary>What the rule covers, whatever way its key was written.</summary>
        public string Identity => EachEndpoint ? Key + "/*" : Key;

        public static EndpointRule Parse(string rule, int permitLimit)
        {
            var space = rule.IndexOf(' ', StringComparison.Ordinal);
            var method = HttpMethod.Parse(rule[..space].Trim());
            var path = rule[(space + 1)..].Trim().Trim('/');
            var each = path.EndsWith('*');
            path = each ? path.TrimEnd('*') : path;
            return new EndpointRule(method, path, each, permitLimit, $"{method.Method} {path}");
        }

        public bool Matches(HttpMethod method, ReadOnlySpan<char> rest)
        {
            if (!method.Equals(Method))
            {
                return false;
            }

            rest = rest.TrimEnd('/');
            return EachEndpoint
                ? rest.Length > Path.Length && rest.StartsWith(Path, StringComparison.OrdinalIgnoreCase)
                : rest.Equals(Path, StringComparison.OrdinalIgnoreCase);
        }

        /// <summary>One cap per endpoint: keys (GUIDs, numbers) in the path are one endpoint, not one each.</summary>
        public string KeyFor(ReadOnlySpan<char> rest)
        {
            var segments = rest.TrimEnd('/').ToString().Split('/');
            for (var i = 0; i < segments.Length; i++)
            {
                if (Guid.TryParse(segments[i], out _) || (segments[i].Length > 0 && segments[i].All(char.IsAsciiDigit)))
                {
                    segments[i] = "{key}";
                }
            }

            return $"{Method.Method} {string.Join('/', segments)}";
        }
    }
}
