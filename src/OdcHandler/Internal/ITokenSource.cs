namespace OdcHandler.Internal;

/// <summary>Where <see cref="BearerTokenHandler"/> gets its tokens.</summary>
internal interface ITokenSource
{
    /// <summary>The hot path: a cached token that has not expired, without waiting or allocating.</summary>
    bool TryGetUsable([System.Diagnostics.CodeAnalysis.NotNullWhen(true)] out OdcAccessToken? token);

    ValueTask<OdcAccessToken> GetAsync(CancellationToken cancellationToken);

    void Invalidate(OdcAccessToken rejected);
}
