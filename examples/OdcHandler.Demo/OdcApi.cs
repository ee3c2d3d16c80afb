using System.Net.Http.Json;
using System.Runtime.CompilerServices;
using System.Text.Json;

namespace OdcHandler.Demo;

/// <summary>
/// A typed client over a few ODC public APIs. It knows nothing of tokens: <c>AddOdcAuthentication</c>
/// puts them on its requests. Register it with <c>services.AddHttpClient&lt;OdcApi&gt;(…)</c> and a base
/// address of <c>https://{portal}/api/</c>.
/// </summary>
public sealed class OdcApi(HttpClient http)
{
    private static readonly JsonSerializerOptions s_json = new(JsonSerializerDefaults.Web);

    /// <summary>
    /// Lists users page by page (<c>limit</c>/<c>offset</c>, the <c>page</c> block), fetching the next page only when
    /// the caller gets to it.
    /// </summary>
    /// <param name="nameOrEmailContains">A filter, or <see langword="null"/> for all users.</param>
    /// <param name="pageSize">Users per request, 1 to 100; ODC's default is 100.</param>
    /// <param name="cancellationToken">Stops the listing.</param>
    /// <returns>The users.</returns>
    public IAsyncEnumerable<OdcUser> ListUsersAsync(string? nameOrEmailContains = null, int pageSize = 100, CancellationToken cancellationToken = default) =>
        PagesAsync<OdcUser>("identity/v1/users", nameOrEmailContains is null ? null : $"nameOrEmailContains={Uri.EscapeDataString(nameOrEmailContains)}", pageSize, 100, cancellationToken);

    /// <summary>Gets one user.</summary>
    /// <param name="key">The user's key.</param>
    /// <param name="cancellationToken">Stops the request.</param>
    /// <returns>The user.</returns>
    public Task<OdcUser> GetUserAsync(Guid key, CancellationToken cancellationToken = default) =>
        GetAsync<OdcUser>($"identity/v1/users/{key}", cancellationToken);

    /// <summary>Lists the organization's stages (one answer, not paged).</summary>
    /// <param name="cancellationToken">Stops the request.</param>
    /// <returns>The stages, in order.</returns>
    public async Task<IReadOnlyList<OdcEnvironment>> ListEnvironmentsAsync(CancellationToken cancellationToken = default) =>
        (await GetAsync<OdcPage<OdcEnvironment>>("portfolios/v2/environments", cancellationToken).ConfigureAwait(false)).Results ?? [];

    /// <summary>Lists the latest revision of each asset, page by page.</summary>
    /// <param name="nameContains">A filter, or <see langword="null"/> for all assets.</param>
    /// <param name="assetTypes">Only these types (<c>WebApplication</c>, <c>MobileApplication</c>, <c>LowCodeLibrary</c>…), or all.</param>
    /// <param name="pageSize">Assets per request, 1 to 1000; ODC's default is 100.</param>
    /// <param name="cancellationToken">Stops the listing.</param>
    /// <returns>The assets.</returns>
    public IAsyncEnumerable<OdcAsset> ListAssetsAsync(string? nameContains = null, IEnumerable<string>? assetTypes = null, int pageSize = 100, CancellationToken cancellationToken = default)
    {
        var filters = (assetTypes ?? []).Select(type => $"assetTypes={Uri.EscapeDataString(type)}").ToList();
        if (nameContains is not null)
        {
            filters.Insert(0, $"nameContains={Uri.EscapeDataString(nameContains)}");
        }

        return PagesAsync<OdcAsset>("asset-repository/v1/assets", filters.Count == 0 ? null : string.Join('&', filters), pageSize, 1000, cancellationToken);
    }

    /// <summary>Starts building an asset revision (201 with the build's key). Not retried: it must not run twice.</summary>
    /// <param name="build">Which revision, and Debug or Release.</param>
    /// <param name="cancellationToken">Stops the request.</param>
    /// <returns>The build's key, to poll with <see cref="GetBuildAsync"/>.</returns>
    public Task<BuildStarted> StartBuildAsync(BuildRequest build, CancellationToken cancellationToken = default) =>
        StartAsync<BuildRequest, BuildStarted>("builds/v1/build-operations", build, cancellationToken);

    /// <summary>Gets a build's status.</summary>
    /// <param name="buildKey">The build's key.</param>
    /// <param name="cancellationToken">Stops the request.</param>
    /// <returns>The build.</returns>
    public Task<BuildOperation> GetBuildAsync(Guid buildKey, CancellationToken cancellationToken = default) =>
        GetAsync<BuildOperation>($"builds/v1/build-operations/{buildKey}", cancellationToken);

    /// <summary>Polls a build until it has ended, at ODC's cadence (<see cref="OdcPolling"/>).</summary>
    /// <param name="buildKey">The build's key.</param>
    /// <param name="time">The clock to wait on; by default, the system's.</param>
    /// <param name="cancellationToken">Stops the polling.</param>
    /// <returns>The ended build.</returns>
    public Task<BuildOperation> WaitForBuildAsync(Guid buildKey, TimeProvider? time = null, CancellationToken cancellationToken = default) =>
        OdcPolling.UntilDoneAsync(ct => GetBuildAsync(buildKey, ct), build => build.IsDone, time ?? TimeProvider.System, cancellationToken);

    /// <summary>Starts a deployment (201 with the operation's key). Not retried: it must not run twice.</summary>
    /// <param name="deployment">What to deploy where.</param>
    /// <param name="cancellationToken">Stops the request.</param>
    /// <returns>The operation, to poll with <see cref="GetDeploymentAsync"/>.</returns>
    public Task<DeploymentOperation> StartDeploymentAsync(DeploymentRequest deployment, CancellationToken cancellationToken = default) =>
        StartAsync<DeploymentRequest, DeploymentOperation>("deployments/v1/deployment-operations", deployment, cancellationToken);

    /// <summary>Gets a deployment operation's status.</summary>
    /// <param name="key">The operation's key.</param>
    /// <param name="cancellationToken">Stops the request.</param>
    /// <returns>The operation.</returns>
    public Task<DeploymentOperation> GetDeploymentAsync(Guid key, CancellationToken cancellationToken = default) =>
        GetAsync<DeploymentOperation>($"deployments/v1/deployment-operations/{key}", cancellationToken);

    /// <summary>Polls a deployment until it has ended, at ODC's cadence (<see cref="OdcPolling"/>).</summary>
    /// <param name="key">The operation's key.</param>
    /// <param name="time">The clock to wait on; by default, the system's.</param>
    /// <param name="cancellationToken">Stops the polling.</param>
    /// <returns>The ended operation.</returns>
    public Task<DeploymentOperation> WaitForDeploymentAsync(Guid key, TimeProvider? time = null, CancellationToken cancellationToken = default) =>
        OdcPolling.UntilDoneAsync(ct => GetDeploymentAsync(key, ct), operation => operation.IsDone, time ?? TimeProvider.System, cancellationToken);

    /// <summary>Starts creating up to 100 users (202 with the operation's key). ODC allows 5 of these a minute.</summary>
    /// <param name="users">1 to 100 users.</param>
    /// <param name="cancellationToken">Stops the request.</param>
    /// <returns>The operation, to poll with <see cref="GetBulkUsersAsync"/>.</returns>
    public Task<BulkUsersOperation> StartBulkUsersAsync(IReadOnlyList<NewUser> users, CancellationToken cancellationToken = default)
    {
        ArgumentNullException.ThrowIfNull(users);
        ArgumentOutOfRangeException.ThrowIfLessThan(users.Count, 1);
        ArgumentOutOfRangeException.ThrowIfGreaterThan(users.Count, 100);
        return StartAsync<BulkUsersRequest, BulkUsersOperation>("identity/v1/users/bulk", new BulkUsersRequest(users), cancellationToken);
    }

    /// <summary>Gets a bulk user operation's status, with each record's result once it has ended.</summary>
    /// <param name="key">The operation's key.</param>
    /// <param name="cancellationToken">Stops the request.</param>
    /// <returns>The operation.</returns>
    public Task<BulkUsersOperation> GetBulkUsersAsync(Guid key, CancellationToken cancellationToken = default) =>
        GetAsync<BulkUsersOperation>($"identity/v1/users/bulk/{key}", cancellationToken);

    /// <summary>Polls a bulk user operation until it has ended, at ODC's cadence (<see cref="OdcPolling"/>).</summary>
    /// <param name="key">The operation's key.</param>
    /// <param name="time">The clock to wait on; by default, the system's.</param>
    /// <param name="cancellationToken">Stops the polling.</param>
    /// <returns>The ended operation.</returns>
    public Task<BulkUsersOperation> WaitForBulkUsersAsync(Guid key, TimeProvider? time = null, CancellationToken cancellationToken = default) =>
        OdcPolling.UntilDoneAsync(ct => GetBulkUsersAsync(key, ct), operation => operation.IsDone, time ?? TimeProvider.System, cancellationToken);

    // Starting an operation must never happen twice: no 401 retry here, and DemoServices' resilience pipeline spares POSTs.
    private async Task<TResult> StartAsync<TBody, TResult>(string path, TBody body, CancellationToken cancellationToken)
    {
        using var request = new HttpRequestMessage(HttpMethod.Post, path)
        {
            Content = JsonContent.Create(body, options: s_json),
        };
        request.Options.Set(OdcHttpRequestOptions.DisableUnauthorizedRetry, true);
        using var response = await http.SendAsync(request, cancellationToken).ConfigureAwait(false);
        return await ReadAsync<TResult>(response, cancellationToken).ConfigureAwait(false);
    }

    private async Task<T> GetAsync<T>(string path, CancellationToken cancellationToken)
    {
        using var response = await http.GetAsync(path, cancellationToken).ConfigureAwait(false);
        return await ReadAsync<T>(response, cancellationToken).ConfigureAwait(false);
    }

    private async IAsyncEnumerable<T> PagesAsync<T>(string path, string? filter, int pageSize, int maxPageSize, [EnumeratorCancellation] CancellationToken cancellationToken)
    {
        ArgumentOutOfRangeException.ThrowIfLessThan(pageSize, 1);
        ArgumentOutOfRangeException.ThrowIfGreaterThan(pageSize, maxPageSize);
        int? offset = 0;
        while (offset is { } current)
        {
            var query = $"limit={pageSize}&offset={current}" + (filter is null ? string.Empty : "&" + filter);
            var page = await GetAsync<OdcPage<T>>($"{path}?{query}", cancellationToken).ConfigureAwait(false);
            var results = page.Results ?? [];
            foreach (var item in results)
            {
                yield return item;
            }

            // nextPageOffset is offset + limit even past the end, and some lists have no totals: stop at the total
            // when there is one, else at a short or empty page, so the last page costs no extra request.
            var next = page.Page?.NextPageOffset ?? current + results.Count;
            offset = results.Count == 0 || next <= current || (page.Page?.TotalResults is { } total ? next >= total : results.Count < pageSize)
                ? null
                : next;
        }
    }

    private static async Task<T> ReadAsync<T>(HttpResponseMessage response, CancellationToken cancellationToken)
    {
        if (!response.IsSuccessStatusCode)
        {
            throw await ProblemAsync(response, cancellationToken).ConfigureAwait(false);
        }

        return await response.Content.ReadFromJsonAsync<T>(s_json, cancellationToken).ConfigureAwait(false)
            ?? throw new OdcApiException(response.StatusCode, "Empty answer", $"{response.RequestMessage?.RequestUri?.AbsolutePath} returned no JSON body.", null, null);
    }

    private static async Task<OdcApiException> ProblemAsync(HttpResponseMessage response, CancellationToken cancellationToken)
    {
        try
        {
            var problem = await response.Content.ReadFromJsonAsync<JsonElement>(s_json, cancellationToken).ConfigureAwait(false);
            string? Text(string name) => problem.ValueKind == JsonValueKind.Object && problem.TryGetProperty(name, out var value) && value.ValueKind == JsonValueKind.String ? value.GetString() : null;
            return new OdcApiException(response.StatusCode, Text("title") ?? response.ReasonPhrase, Text("detail"), Text("errorCode"), Text("traceId"));
        }
        catch (JsonException)
        {
            return new OdcApiException(response.StatusCode, response.ReasonPhrase, "The error body was not ProblemDetails JSON.", null, null);
        }
    }
}
