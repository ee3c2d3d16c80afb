namespace OdcHandler.Internal;

/// <summary>What the handler uses of one set of options: the addresses that may receive the token and the token source.</summary>
internal sealed class OdcClientView(OdcAuthenticationOptions options, OdcEndpoints endpoints, ITokenSource tokens, OdcTokenManager? manager)
{
    public OdcAuthenticationOptions Options { get; } = options;

    public OdcEndpoints Endpoints { get; } = endpoints;

    public ITokenSource Tokens { get; } = tokens;

    /// <summary>The token manager, when tokens come from OdcHandler's own provider.</summary>
    public OdcTokenManager? Manager { get; } = manager;
}
