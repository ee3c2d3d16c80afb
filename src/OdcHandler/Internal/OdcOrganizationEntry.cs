namespace OdcHandler.Internal;

/// <summary>One organisation in the cache: its portal and its current <see cref="OdcOrganizationState"/>.</summary>
internal sealed class OdcOrganizationEntry(string key, string portalHost, Uri portal)
{
    private readonly object _gate = new();
    private OdcOrganizationState? _state;
    private Task<OdcOrganizationState>? _asking;
    private volatile bool _evicted;
    private volatile bool _leftCache;
    private OdcOrganizationState? _creationLease;
    private SourceFailure? _sourceFailure;

    /// <summary>The cache key: the authority, prefixed with the scheme when it is plain http.</summary>
    public string Key { get; } = key;

    /// <summary>What the credential source is asked with.</summary>
    public string PortalHost { get; } = portalHost;

    public Uri Portal { get; } = portal;

    public OdcOrganizationState State => Volatile.Read(ref _state)!;

    /// <summary>Evicted from the cache (or its cache disposed): requests look it up afresh.</summary>
    public bool IsEvicted => _evicted;

    /// <summary>
    /// Taken out of the cache by OdcHandler (to make room, or found idle past its expiration by a request), before its
    /// eviction callback has run: it no longer counts as cached.
    /// </summary>
    public bool HasLeftCache => _leftCache;

    public void LeaveCache() => _leftCache = true;

    /// <summary>
    /// When a request last touched the cache entry, in the cache's clock units: requests touch it (sliding expiration,
    /// least recently used) at most once per touch interval, so the warm path rarely reads MemoryCache.
    /// </summary>
    public long LastTouched;

    /// <summary>
    /// When a request last used the organisation, in the cache's clock units: the least recently used organisation is
    /// the one OdcHandler's own cache lets go to make room (the cache entry's own access time is only as fresh as its
    /// last touch).
    /// </summary>
    public long LastUsed;

    /// <summary>
    /// The last time the credential source failed when asked again for this organisation (its token had run out, so
    /// every request failed), until it answers again: the health check counts the organisation as failing meanwhile.
    /// </summary>
    public SourceFailure? LastSourceFailure => Volatile.Read(ref _sourceFailure);

    public void RecordSourceFailure(string message, long timestamp) => Volatile.Write(ref _sourceFailure, new SourceFailure(message, timestamp));

    public void ClearSourceFailure() => Volatile.Write(ref _sourceFailure, null);

    /// <summary>
    /// Sets the first state, leased for the request that created the entry: a full MemoryCache refuses a new entry at
    /// once and evicts it on another thread, which must not dispose the manager before that request has used it.
    /// </summary>
    public void Initialize(OdcOrganizationState state)
    {
        state.TryLease();
        Volatile.Write(ref _creationLease, state);
        Volatile.Write(ref _state, state);
    }

    /// <summary>The creating request's lease, once; <see langword="null"/> for every other caller.</summary>
    public OdcOrganizationState? TakeCreationLease() => Interlocked.Exchange(ref _creationLease, null);

    /// <summary>Starts asking the source again, or joins the ask in flight: concurrent requests make one call.</summary>
    public Task<OdcOrganizationState> AskAgain(Func<OdcOrganizationEntry, Task<OdcOrganizationState>> ask)
    {
        TaskCompletionSource<OdcOrganizationState> owner;
        lock (_gate)
        {
            if (_asking is { IsCompleted: false } asking)
            {
                return asking;
            }

            owner = new TaskCompletionSource<OdcOrganizationState>(TaskCreationOptions.RunContinuationsAsynchronously);
            _asking = owner.Task;
        }

        // Outside the lock: the application's source may do anything, synchronously too.
        _ = CompleteAsync(owner, ask);
        return owner.Task;
    }

    /// <summary>Replaces <paramref name="expected"/> by <paramref name="next"/> unless the entry was evicted or replaced meanwhile.</summary>
    public bool Replace(OdcOrganizationState expected, OdcOrganizationState next)
    {
        lock (_gate)
        {
            if (_evicted || !ReferenceEquals(_state, expected))
            {
                return false;
            }

            Volatile.Write(ref _state, next);
        }

        expected.Retire();

        // The creating request never came for its lease (it was cancelled while the source was asked): the lease must
        // not keep the replaced manager, and its old secret, alive until eviction.
        TakeCreationLease()?.Release();
        return true;
    }

    public void Evict()
    {
        OdcOrganizationState? state;
        lock (_gate)
        {
            _evicted = true;
            state = _state;
        }

        state?.Retire();

        // Nobody came for the creation lease (its requests were cancelled): it must not keep the manager alive.
        TakeCreationLease()?.Release();
    }

    public override string ToString() => $"OdcOrganizationEntry {{ PortalHost = {PortalHost} }}";

    private async Task CompleteAsync(TaskCompletionSource<OdcOrganizationState> owner, Func<OdcOrganizationEntry, Task<OdcOrganizationState>> ask)
    {
        try
        {
            owner.SetResult(await ask(this).ConfigureAwait(false));
        }
#pragma warning disable CA1031 // Every failure goes to the waiting requests.
        catch (Exception e)
#pragma warning restore CA1031
        {
            owner.SetException(e);
        }
    }

    /// <summary>A failed ask: the caller's message (never the source's own text) and when, on the cache's clock.</summary>
    public sealed record SourceFailure(string Message, long Timestamp);
}
