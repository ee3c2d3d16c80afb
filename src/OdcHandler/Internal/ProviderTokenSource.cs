using System.Diagnostics.CodeAnalysis;

namespace OdcHandler.Internal;

/// <summary>
/// Lets <see cref="BearerTokenHandler"/> run on any <see cref="IOdcAccessTokenProvider"/>, for example a
/// substitute in a user's tests. It asks the provider on every request, so it has no hot path of its own.
/// </summary>
internal sealed class ProviderTokenSource(IOdcAccessTokenProvider provider, string clientName) : ITokenSource
{
    public bool TryGetUsable([NotNullWhen(true)] out OdcAccessToken? token)
    {
        token = null;
        return false;
    }

    public ValueTask<OdcAccessToken> GetAsync(CancellationToken cancellationToken) => provider.GetTokenAsync(clientName, cancellationToken);

    public bool Invalidate(OdcAccessToken rejected)
    {
        provider.InvalidateToken(clientName, rejected);
        return true;
    }
}
