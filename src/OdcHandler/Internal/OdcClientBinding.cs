using Microsoft.Extensions.Options;
using Microsoft.Extensions.Primitives;

namespace OdcHandler.Internal;

/// <summary>
/// One named client's current options, with what the handler needs from them: the addresses that may
/// receive the token and where tokens come from. Kept current across configuration reloads, for every
/// handler chain at once, without reading the options on every request.
/// </summary>
/// <remarks>
/// A reload marks the binding stale (from the options' change token, and again from the options monitor
/// once it holds the new instance); the next request, or the monitor's own notification, binds the new
/// options. Reloaded options that are not valid make requests fail with the
/// <see cref="OptionsValidationException"/> rather than keep sending the token under settings the
/// application no longer has. Without the options' change token sources (a handler built by hand over an
/// application's own token provider) the options are read on every use instead, since the monitor tells
/// nobody about a reload that fails validation.
/// </remarks>
internal sealed class OdcClientBinding : IDisposable
{
    private readonly string _clientName;
    private readonly IOptionsMonitor<OdcAuthenticationOptions> _optionsMonitor;
    private readonly Func<string, OdcAuthenticationOptions, OdcClientView> _bind;
    private readonly Action<OdcClientView?, OdcClientView>? _rebound;
    private readonly bool _readOnEveryUse;
    private readonly List<IDisposable> _subscriptions = [];
    private readonly object _gate = new();
    private volatile OdcClientView? _current;
    private volatile bool _stale = true;

    public OdcClientBinding(
        string clientName,
        IOptionsMonitor<OdcAuthenticationOptions> optionsMonitor,
        IEnumerable<IOptionsChangeTokenSource<OdcAuthenticationOptions>> changeSources,
        Func<string, OdcAuthenticationOptions, OdcClientView> bind,
        Action<OdcClientView?, OdcClientView>? rebound = null,
        bool readOnEveryUse = false)
    {
        _readOnEveryUse = readOnEveryUse;
        _clientName = clientName;
        _optionsMonitor = optionsMonitor;
        _bind = bind;
        _rebound = rebound;
        foreach (var source in changeSources)
        {
            if (string.Equals(source.Name ?? Options.DefaultName, clientName, StringComparison.Ordinal))
            {
                _subscriptions.Add(ChangeToken.OnChange(source.GetChangeToken, MarkStale));
            }
        }

        if (optionsMonitor.OnChange(OnOptionsChanged) is { } listener)
        {
            _subscriptions.Add(listener);
        }
    }

    public string ClientName => _clientName;

    /// <summary>The view for the current options; two volatile reads when nothing changed.</summary>
    /// <exception cref="OptionsValidationException">The client's current options are not valid.</exception>
    public OdcClientView Current
    {
        get
        {
            var current = _current;
            return current is not null && !_stale && !_readOnEveryUse ? current : Rebind();
        }
    }

    /// <summary>The view last bound, without binding; <see langword="null"/> before the first use.</summary>
    public OdcClientView? Bound => _current;

    public void Dispose()
    {
        foreach (var subscription in _subscriptions)
        {
            subscription.Dispose();
        }
    }

    private void MarkStale() => _stale = true;

    /// <summary>
    /// The monitor calls this once it holds the new options: bind them now, so a client that sends
    /// nothing still lets go of credentials that are no longer configured.
    /// </summary>
    private void OnOptionsChanged(OdcAuthenticationOptions options, string? name)
    {
        if (!string.Equals(name ?? Options.DefaultName, _clientName, StringComparison.Ordinal))
        {
            return;
        }

        _stale = true;
        try
        {
            _ = Rebind();
        }
#pragma warning disable CA1031 // A reload callback must not throw into the configuration system; the next request reports the problem.
        catch (Exception)
#pragma warning restore CA1031
        {
            _stale = true;
        }
    }

    private OdcClientView Rebind()
    {
        lock (_gate)
        {
            var current = _current;
            if (current is not null && !_stale && !_readOnEveryUse)
            {
                return current;
            }

            // Cleared before reading, so a reload that lands while we read marks it stale again.
            _stale = false;
            OdcAuthenticationOptions options;
            try
            {
                options = _optionsMonitor.Get(_clientName);
            }
            catch
            {
                _stale = true;
                throw;
            }

            if (current is not null && ReferenceEquals(current.Options, options))
            {
                return current;
            }

            var next = _bind(_clientName, options);
            _current = next;
            _rebound?.Invoke(current, next);
            return next;
        }
    }
}
