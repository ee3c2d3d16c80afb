namespace OdcHandler.Internal;

/// <summary>
/// The addresses derived from <see cref="OdcAuthenticationOptions"/>: where discovery is, and which
/// origins may receive the token. Parsed once per options instance, never per request.
/// </summary>
internal sealed class OdcEndpoints
{
    private readonly ApiOrigin[] _apiOrigins;
    private readonly bool _requireHttps;

    private OdcEndpoints(Uri portal, Uri discovery, ApiOrigin[] apiOrigins, bool requireHttps)
    {
        Portal = portal;
        Discovery = discovery;
        _apiOrigins = apiOrigins;
        _requireHttps = requireHttps;
    }

    public Uri Portal { get; }

    public Uri Discovery { get; }

    /// <summary>
    /// Tells whether the token may go with a request to <paramref name="uri"/>: one of the allowed
    /// origins (exact scheme, host and port, no look-alikes), over https, or plain http on loopback.
    /// </summary>
    public bool MayReceiveToken(Uri? uri)
    {
        if (uri is null || !uri.IsAbsoluteUri || !IsSecureEnough(uri, _requireHttps))
        {
            return false;
        }

        foreach (var origin in _apiOrigins)
        {
            if (origin.Matches(uri))
            {
                return true;
            }
        }

        return false;
    }

    public static bool IsSecureEnough(Uri uri, bool requireHttps) =>
        uri.Scheme == Uri.UriSchemeHttps
        || (uri.Scheme == Uri.UriSchemeHttp && (!requireHttps || uri.IsLoopback));

    /// <summary>Parses the options, or says what is wrong with them in words a user can act on.</summary>
    public static OdcEndpoints? TryCreate(OdcAuthenticationOptions options, List<string> errors)
    {
        var portal = ParsePortal(options.PortalDomain, options.RequireHttps, errors);
        var discovery = options.DiscoveryEndpoint;
        if (discovery is not null)
        {
            if (!discovery.IsAbsoluteUri || (discovery.Scheme != Uri.UriSchemeHttps && discovery.Scheme != Uri.UriSchemeHttp))
            {
                errors.Add($"DiscoveryEndpoint '{WithoutUserInfo(discovery)}' must be an absolute http(s) address.");
                discovery = null;
            }
            else if (discovery.UserInfo.Length > 0)
            {
                // The user info is never echoed: it is a credential, and this message is logged.
                errors.Add($"DiscoveryEndpoint '{WithoutUserInfo(discovery)}' must not carry credentials before the host (user:password@); the client id and secret are set with ClientId and ClientSecret.");
                discovery = null;
            }
            else if (!IsSecureEnough(discovery, options.RequireHttps))
            {
                errors.Add($"DiscoveryEndpoint '{discovery}' must use https (plain http is allowed only on loopback or with RequireHttps = false).");
                discovery = null;
            }
        }
        else if (portal is not null)
        {
            discovery = new Uri(portal, OdcAuthenticationDefaults.DiscoveryPath);
        }

        var origins = new List<ApiOrigin>();
        if (portal is not null)
        {
            origins.Add(ApiOrigin.Of(portal));
        }

        foreach (var entry in options.AdditionalApiHosts)
        {
            if (TryParseHost(entry, out var host))
            {
                // An entry names https (default port 443); plain http only where the options allow it at all:
                // on loopback, or with RequireHttps = false (default port 80, or the entry's own port).
                origins.Add(ApiOrigin.Of(host));
                if (host.IsLoopback || !options.RequireHttps)
                {
                    origins.Add(new ApiOrigin(Uri.UriSchemeHttp, host.IdnHost, HasExplicitPort(entry!) ? host.Port : 80));
                }
            }
            else
            {
                errors.Add($"AdditionalApiHosts entry '{Shown(entry)}' must be a host name, optionally with a port (\"api.example.com\" or \"api.example.com:8443\"), without scheme or path.");
            }
        }

        // A secret pasted into an address setting by mistake is not repeated by the message that quotes it.
        if (options.ClientSecret is { Length: >= 4 } secret)
        {
            for (var i = 0; i < errors.Count; i++)
            {
                errors[i] = errors[i].Replace(secret, "***", StringComparison.Ordinal);
            }
        }

        return portal is null || discovery is null || errors.Count > 0
            ? null
            : new OdcEndpoints(portal, discovery, [.. origins], options.RequireHttps);
    }

    private static Uri? ParsePortal(string? portalDomain, bool requireHttps, List<string> errors)
    {
        if (string.IsNullOrWhiteSpace(portalDomain))
        {
            errors.Add("PortalDomain is required: your ODC portal's domain, for example \"myorg.outsystems.dev\".");
            return null;
        }

        var text = portalDomain.Trim();
        var hasScheme = text.Contains("://", StringComparison.Ordinal);
        if (!Uri.TryCreate(hasScheme ? text : "https://" + text, UriKind.Absolute, out var uri)
            || (uri.Scheme != Uri.UriSchemeHttps && uri.Scheme != Uri.UriSchemeHttp)
            || uri.HostNameType == UriHostNameType.Unknown)
        {
            errors.Add($"PortalDomain '{Shown(portalDomain)}' is not a domain or an http(s) address; use the form \"myorg.outsystems.dev\".");
            return null;
        }

        if (uri.UserInfo.Length > 0 || uri.AbsolutePath != "/" || uri.Query.Length > 0 || uri.Fragment.Length > 0)
        {
            errors.Add($"PortalDomain '{Shown(portalDomain)}' must be only a domain (with an optional scheme and port), without user info, path or query; use the form \"myorg.outsystems.dev\".");
            return null;
        }

        if (!IsSecureEnough(uri, requireHttps))
        {
            errors.Add($"PortalDomain '{Shown(portalDomain)}' uses plain http, which is allowed only on loopback or with RequireHttps = false; the token would travel unencrypted.");
            return null;
        }

        return new Uri(uri.GetLeftPart(UriPartial.Authority) + "/");
    }

    /// <summary>
    /// A setting as it may be quoted in a message: anything before an '@' could be a user name and password
    /// (someone wrote the credentials into the address), and messages are logged, so it is masked.
    /// </summary>
    private static string Shown(string? value)
    {
        if (value is null || !value.Contains('@', StringComparison.Ordinal))
        {
            return value ?? string.Empty;
        }

        var scheme = value.IndexOf("://", StringComparison.Ordinal);
        var start = scheme >= 0 ? scheme + 3 : 0;
        var last = value.LastIndexOf('@');
        return last < start ? value : string.Concat(value.AsSpan(0, start), "***", value.AsSpan(last));
    }

    /// <summary>The address without anything before the host, for messages.</summary>
    private static string WithoutUserInfo(Uri uri) =>
        uri.IsAbsoluteUri && uri.UserInfo.Length > 0
            ? new UriBuilder(uri) { UserName = string.Empty, Password = string.Empty }.Uri.ToString()
            : uri.ToString();

    private static bool HasExplicitPort(string entry)
    {
        var text = entry.Trim();
        var afterBracket = text.LastIndexOf(']');
        return text.IndexOf(':', afterBracket + 1) >= 0;
    }

    private static bool TryParseHost(string? entry, [System.Diagnostics.CodeAnalysis.NotNullWhen(true)] out Uri? host)
    {
        host = null;
        if (string.IsNullOrWhiteSpace(entry) || entry.Contains("://", StringComparison.Ordinal))
        {
            return false;
        }

        if (!Uri.TryCreate("https://" + entry.Trim(), UriKind.Absolute, out var uri)
            || uri.UserInfo.Length > 0 || uri.AbsolutePath != "/" || uri.Query.Length > 0 || uri.Fragment.Length > 0
            || uri.HostNameType == UriHostNameType.Unknown || entry.Trim().EndsWith('/'))
        {
            return false;
        }

        host = uri;
        return true;
    }
}
