using Refit;

namespace OdcHandler.Recipes.Tests.Refit;

/// <summary>A Refit interface over ODC's identity API, as a user writes it; Refit's source generator implements it.</summary>
public interface IOdcUsers
{
    [Get("/api/identity/v1/users")]
    Task<OdcUserPage> ListAsync(int limit = 50, CancellationToken cancellationToken = default);

    [Post("/api/identity/v1/users")]
    Task<OdcUser> CreateAsync([Body] NewOdcUser user, CancellationToken cancellationToken = default);
}

public sealed record OdcUser(string Key, string Name, string Email);

public sealed record NewOdcUser(string Name, string Email);

public sealed record OdcUserPage(IReadOnlyList<OdcUser> Results);
