namespace OdcHandler.Internal;

/// <summary>
/// One organisation's credentials as the source last gave them, and the token manager they made.
/// </summary>
/// <remarks>
/// A state is retired when its entry is evicted or the source gives other credentials. Its manager is disposed (timers
/// stopped) once retired and no request holds a lease on it, so a request that waits for this manager's token is never
/// cut off by an eviction that happens meanwhile (MemoryCache evicts on its own threads, and refuses an entry at once
/// when it is over its size limit).
/// </remarks>
internal sealed class OdcOrganizationState
{
    private readonly object _gate = new();
    private readonly Action _released;
    private int _leases;
    private bool _retired;
    private bool _isReleased;
    private volatile bool _used;

    public OdcOrganizationState(OdcOrganizationEntry entry, OdcOrganizationCredentials credentials, OdcTokenManager manager, Action released)
    {
        Entry = entry;
        Credentials = credentials;
        Manager = manager;
        _released = released;
    }

    public OdcOrganizationEntry Entry { get; }

    public OdcOrganizationCredentials Credentials { get; }

    public OdcTokenManager Manager { get; }

    public OdcEndpoints Endpoints => Manager.Settings.Endpoints;

    /// <summary>Whether an acquisition ran since the source was last asked: the next one that must fetch asks it again.</summary>
    public bool HasBeenUsed => _used;

    public bool IsReleased
    {
        get
        {
            lock (_gate)
            {
                return _isReleased;
            }
        }
    }

    public void MarkUsed() => _used = true;

    public void MarkAsked() => _used = false;

    /// <summary>Keeps the manager alive until <see cref="Release"/>; <see langword="false"/> once it has been let go.</summary>
    public bool TryLease()
    {
        lock (_gate)
        {
            if (_isReleased)
            {
                return false;
            }

            _leases++;
            return true;
        }
    }

    public void Release()
    {
        lock (_gate)
        {
            _leases--;
            if (!_retired || _leases > 0 || _isReleased)
            {
                return;
            }

            _isReleased = true;
        }

        Dispose();
    }

    public void Retire()
    {
        lock (_gate)
        {
            _retired = true;
            if (_leases > 0 || _isReleased)
            {
                return;
            }

            _isReleased = true;
        }

        Dispose();
    }

    private void Dispose()
    {
        Manager.Dispose();
        _released();
    }
}
