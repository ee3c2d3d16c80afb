namespace OdcHandler.Internal;

/// <summary>Where a <see cref="OdcHandler.BearerTokenHandler"/> gets its tokens: OdcHandler's own manager, or an application's provider.</summary>
internal interface ITokenSource
{
    /// <summary>A cached token that may be sent now, without waiting; the hot path.</summary>
    bool TryGetUsable([System.Diagnostics.CodeAnalysis.NotNullWhen(true)] out OdcAccessToken? token);

    /// <summary>A token that may be sent, waiting for a fetch if none is cached.</summary>
    ValueTask<OdcAccessToken> GetAsync(CancellationToken cancellationToken);

    /// <summary>The API answered 401 to <paramref name="rejected"/>: drop it.</summary>
    /// <returns>Whether a retry would get another token.</returns>
    bool Invalidate(OdcAccessToken rejected);
}
