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

    /// <summary>Lists users page by page (<c>limit</c>/<c>offset</c>), fetching the next page only when the caller gets to it.</summary>
    /// <param name="nameOrEmailContains">A filter, or <see langword="null"/> for all users.</param>
    /// <param name="pageSize">Users per request, 1 to 100.</param>
    /// <param name="cancellationToken">Stops the listing.</param>
    /// <returns>The users.</returns>
    public IAsyncEnumerable<OdcUser> ListUsersAsync(string? nameOrEmailContains = null, int pageSize = 50, CancellationToken cancellationToken = default) =>
        PagesAsync<OdcUser>("identity/v1/users", nameOrEmailContains is null ? null : $"nameOrEmailContains={Uri.EscapeDataString(nameOrEmailContains)}", pageSize, cancellationToken);

    /// <summary>Gets one user.</summary>
    /// <param name="key">The user's key.</param>
    /// <param name="cancellationToken">Stops the request.</param>
    /// <returns>The user.</returns>
    public Task<OdcUser> GetUserAsync(string key, CancellationToken cancellationToken = default) =>
        GetAsync<OdcUser>($"identity/v1/users/{Uri.EscapeDataString(key)}", cancellationToken);

    /// <summary>Lists the organization's stages.</summary>
    /// <param name="cancellationToken">Stops the request.</param>
    /// <returns>The stages, in order.</returns>
    public async Task<IReadOnlyList<OdcEnvironment>> ListEnvironmentsAsync(CancellationToken cancellationToken = default) =>
        (await GetAsync<OdcPage<OdcEnvironment>>("portfolios/v2/environments", cancellationToken).ConfigureAwait(false)).Results ?? [];

    /// <summary>Lists assets page by page.</summary>
    /// <param name="nameContains">A filter, or <see langword="null"/> for all assets.</param>
    /// <param name="pageSize">Assets per request, 1 to 100.</param>
    /// <param name="cancellationToken">Stops the listing.</param>
    /// <returns>The assets.</returns>
    public IAsyncEnumerable<OdcAsset> ListAssetsAsync(string? nameContains = null, int pageSize = 50, CancellationToken cancellationToken = default) =>
        PagesAsync<OdcAsset>("asset-repository/v1/assets", nameContains is null ? null : $"nameContains={Uri.EscapeDataString(nameContains)}", pageSize, cancellationToken);

    /// <summary>Starts a deployment. It is not retried on 401 nor by a resilience pipeline that spares unsafe methods: it must not run twice.</summary>
    /// <param name="deployment">What to deploy where.</param>
    /// <param name="cancellationToken">Stops the request.</param>
    /// <returns>The operation, to poll with <see cref="GetDeploymentAsync"/>.</returns>
    public async Task<DeploymentOperation> StartDeploymentAsync(DeploymentRequest deployment, CancellationToken cancellationToken = default)
    {
        using var request = new HttpRequestMessage(HttpMethod.Post, "deployments/v1/deployment-operations")
        {
            Content = JsonContent.Create(deployment, options: s_json),
        };
        request.Options.Set(OdcHttpRequestOptions.DisableUnauthorizedRetry, true);
        using var response = await http.SendAsync(request, cancellationToken).ConfigureAwait(false);
        return await ReadAsync<DeploymentOperation>(response, cancellationToken).ConfigureAwait(false);
    }

    /// <summary>Gets a deployment operation's status.</summary>
    /// <param name="key">The operation's key.</param>
    /// <param name="cancellationToken">Stops the request.</param>
    /// <returns>The operation.</returns>
    public Task<DeploymentOperation> GetDeploymentAsync(string key, CancellationToken cancellationToken = default) =>
        GetAsync<DeploymentOperation>($"deployments/v1/deployment-operations/{Uri.EscapeDataString(key)}", cancellationToken);

    /// <summary>Polls a deployment until it has ended.</summary>
    /// <param name="key">The operation's key.</param>
    /// <param name="interval">The time between polls.</param>
    /// <param name="cancellationToken">Stops the polling.</param>
    /// <returns>The ended operation.</returns>
    public async Task<DeploymentOperation> WaitForDeploymentAsync(string key, TimeSpan interval, CancellationToken cancellationToken = default)
    {
        while (true)
        {
            var operation = await GetDeploymentAsync(key, cancellationToken).ConfigureAwait(false);
            if (operation.IsDone)
            {
                return operation;
            }

            await Task.Delay(interval, cancellationToken).ConfigureAwait(false);
        }
    }

    private async Task<T> GetAsync<T>(string path, CancellationToken cancellationToken)
    {
        using var response = await http.GetAsync(path, cancellationToken).ConfigureAwait(false);
        return await ReadAsync<T>(response, cancellationToken).ConfigureAwait(false);
    }

    private async IAsyncEnumerable<T> PagesAsync<T>(string path, string? filter, int pageSize, [EnumeratorCancellation] CancellationToken cancellationToken)
    {
        ArgumentOutOfRangeException.ThrowIfLessThan(pageSize, 1);
        ArgumentOutOfRangeException.ThrowIfGreaterThan(pageSize, 100);
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

            // Paging shapes differ between ODC APIs: follow nextPageOffset when given, else stop at a short page.
            offset = page.Page is { } info
                ? info.NextPageOffset
                : results.Count == pageSize ? current + pageSize : null;
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
