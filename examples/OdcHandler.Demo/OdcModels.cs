namespace OdcHandler.Demo;

/// <summary>An ODC user, as the identity API returns it.</summary>
public sealed record OdcUser(string Key, string Name, string Email, string Status, bool IsActive, DateTimeOffset? LastLoginAt);

/// <summary>An ODC stage (environment), as the portfolio API returns it.</summary>
public sealed record OdcEnvironment(string Key, string Name, string? Purpose, int Order, string? Region, string? Status);

/// <summary>An app or library in the asset repository.</summary>
public sealed record OdcAsset(string Key, string Name, string? AssetType, int? LastRevision);

/// <summary>What starts a deployment: which asset build goes to which stage.</summary>
public sealed record DeploymentRequest(string AssetKey, string BuildKey, int Revision, string EnvironmentKey, string Operation = "Deploy");

/// <summary>A deployment operation and its status (<c>Running</c>, <c>Finished</c> or <c>FinishedWithError</c>).</summary>
public sealed record DeploymentOperation(string Key, string Status)
{
    /// <summary>Whether the operation has ended, one way or the other.</summary>
    public bool IsDone => Status is "Finished" or "FinishedWithError";
}

/// <summary>A page of results with ODC's paging block.</summary>
internal sealed record OdcPage<T>(IReadOnlyList<T>? Results, OdcPageInfo? Page);

/// <summary>ODC's paging block: where the next page starts, if there is one.</summary>
internal sealed record OdcPageInfo(int Count, int Limit, int Offset, int? NextPageOffset, int? TotalResults, int? TotalPages);
