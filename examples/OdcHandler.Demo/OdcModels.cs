namespace OdcHandler.Demo;

// Field names and values are ODC's (see ../shared/ODC.md); keys are UUIDs. Statuses stay strings: ODC adds values.

/// <summary>An ODC user (<c>identity/v1/users</c>); <c>status</c> is <c>Active</c>, <c>Invited</c>, <c>Inactive</c> or <c>PendingRegistration</c>.</summary>
public sealed record OdcUser(Guid Key, string Name, string Email, string Status, bool IsActive, DateTimeOffset? LastLoginAt);

/// <summary>
/// An ODC stage (<c>portfolios/v2/environments</c>). <c>purpose</c> is <c>Development</c>, <c>NonProduction</c> or
/// <c>Production</c>; <c>status</c> one of <c>Pending</c>, <c>Configured</c>, <c>Deployed</c>, <c>MissingConfigurations</c>,
/// <c>Ready</c>, <c>WakingUp</c>, <c>ScheduledForDeletion</c>, <c>Hibernated</c>.
/// </summary>
public sealed record OdcEnvironment(
    Guid Key, string Name, string? BuiltinDomain, string? DefaultDomain, string? Purpose, int Order, string? Region, string? Hosting, string? Status, Guid? PortfolioKey);

/// <summary>
/// An asset's latest revision (<c>asset-repository/v1/assets</c>): note <c>assetKey</c> and <c>revision</c>. <c>assetType</c>
/// is <c>WebApplication</c>, <c>MobileApplication</c>, <c>LowCodeLibrary</c>, <c>ExtensionLibrary</c> and more.
/// </summary>
public sealed record OdcAsset(Guid AssetKey, string Name, int Revision, string? AssetType);

/// <summary>What starts a build (<c>POST builds/v1/build-operations</c>): an asset revision, as <c>Debug</c> or <c>Release</c>.</summary>
public sealed record BuildRequest(Guid AssetKey, int AssetRevision, string BuildType = "Release");

/// <summary>The answer to starting a build (201): its key, which is also the operation key to poll.</summary>
public sealed record BuildStarted(Guid BuildKey, bool IsSuccessful);

/// <summary>A build (<c>builds/v1/build-operations/{key}</c>); <c>status</c> is <c>Pending</c>, <c>Running</c>, <c>Finished</c>, <c>FinishedWithErrors</c>, <c>Deleted</c> or <c>ToBeDeleted</c>.</summary>
public sealed record BuildOperation(Guid BuildKey, Guid AssetKey, int AssetRevision, string BuildType, string Status, DateTimeOffset? StartedDateTime, DateTimeOffset? FinishedDateTime)
{
    /// <summary>Whether the build has ended, one way or the other.</summary>
    public bool IsDone => Status is "Finished" or "FinishedWithErrors" or "Deleted" or "ToBeDeleted";
}

/// <summary>What starts a deployment (<c>POST deployments/v1/deployment-operations</c>); <c>operation</c> is <c>Deploy</c>, <c>Undeploy</c> or <c>ApplyConfigs</c>.</summary>
public sealed record DeploymentRequest(Guid AssetKey, Guid BuildKey, int Revision, Guid EnvironmentKey, string Operation = "Deploy");

/// <summary>A deployment operation and its status (<c>Running</c>, <c>Finished</c> or <c>FinishedWithError</c>, singular).</summary>
public sealed record DeploymentOperation(Guid Key, string Status)
{
    /// <summary>Whether the operation has ended, one way or the other.</summary>
    public bool IsDone => Status is "Finished" or "FinishedWithError";
}

/// <summary>One user to create in bulk.</summary>
public sealed record NewUser(string Email, string? Name = null, bool IsActive = true, bool AddToBuiltInIdentityProvider = false);

/// <summary>The body of <c>POST identity/v1/users/bulk</c>: 1 to 100 records.</summary>
public sealed record BulkUsersRequest(IReadOnlyList<NewUser> Records);

/// <summary>
/// A bulk user operation (<c>identity/v1/users/bulk/{key}</c>); <c>status</c> is <c>Pending</c>, <c>Processing</c>,
/// <c>Finished</c> or <c>FinishedWithErrors</c>. <c>operations</c> are filled once it has ended.
/// </summary>
public sealed record BulkUsersOperation(Guid Key, string Status, string? ErrorCode = null, string? ErrorMessage = null, IReadOnlyList<BulkUserResult>? Operations = null)
{
    /// <summary>Whether the operation has ended, one way or the other.</summary>
    public bool IsDone => Status is "Finished" or "FinishedWithErrors";
}

/// <summary>What happened to one record of a bulk operation: <c>Inserted</c>, <c>Updated</c>, <c>Deleted</c> or <c>Error</c>.</summary>
public sealed record BulkUserResult(string Status, string? ErrorCode, string? ErrorMessage, BulkUserRecord? Record);

/// <summary>The user a bulk record became.</summary>
public sealed record BulkUserRecord(Guid? Key, string? Email);

/// <summary>A page of results with ODC's paging block.</summary>
internal sealed record OdcPage<T>(IReadOnlyList<T>? Results, OdcPageInfo? Page);

/// <summary>ODC's paging block; <c>nextPageOffset</c> is offset + limit, the totals are absent on some lists.</summary>
internal sealed record OdcPageInfo(int Count, int Limit, int? Offset, int? NextPageOffset, int? TotalResults, int? TotalPages);
