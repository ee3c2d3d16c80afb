using System.Collections.Concurrent;
using System.Globalization;
using System.Net;
using OdcHandler.Testing;

namespace OdcHandler.Demo;

/// <summary>
/// A small organisation for the fake ODC to serve: users, stages, assets, builds, deployments and bulk user
/// imports. Its answers are written as ODC's JSON (field names, enum values, status codes, paging blocks), not
/// from <see cref="OdcApi"/>'s records, so the demo checks that the client reads ODC's shapes.
/// </summary>
public sealed class DemoData
{
    /// <summary>How long a build runs, on the demo's clock.</summary>
    public static readonly TimeSpan BuildDuration = TimeSpan.FromSeconds(20);

    /// <summary>How long a deployment runs, on the demo's clock.</summary>
    public static readonly TimeSpan DeploymentDuration = TimeSpan.FromSeconds(45);

    /// <summary>The first user's key.</summary>
    public static readonly Guid Ada = Guid.Parse("5b0f2a44-6a53-4c7a-9d1e-0a7c1f0e1a01");

    /// <summary>The second user's key.</summary>
    public static readonly Guid Grace = Guid.Parse("5b0f2a44-6a53-4c7a-9d1e-0a7c1f0e1a02");

    private static readonly string[] s_buildTypes = ["Debug", "Release"];
    private static readonly string[] s_deploymentOperations = ["Deploy", "Undeploy", "ApplyConfigs"];

    private readonly TimeProvider _time;
    private readonly List<Dictionary<string, object?>> _users =
    [
        User(Ada, "Ada Lovelace", "ada@example.com", "Active", true, "2026-11-29T10:00:00Z"),
        User(Grace, "Grace Hopper", "grace@example.com", "Active", true, null),
        User(Guid.Parse("5b0f2a44-6a53-4c7a-9d1e-0a7c1f0e1a03"), "Alan Turing", "alan@example.com", "Invited", false, null),
        User(Guid.Parse("5b0f2a44-6a53-4c7a-9d1e-0a7c1f0e1a04"), "Edsger Dijkstra", "edsger@example.com", "Active", true, null),
        User(Guid.Parse("5b0f2a44-6a53-4c7a-9d1e-0a7c1f0e1a05"), "Barbara Liskov", "barbara@example.com", "Inactive", false, null),
    ];

    private readonly object[] _environments =
    [
        Environment("0d6e7c2e-1b7a-4c55-8a3f-3e2d1c0b0001", "Development", "Development", 1),
        Environment("0d6e7c2e-1b7a-4c55-8a3f-3e2d1c0b0002", "QA", "NonProduction", 2),
        Environment("0d6e7c2e-1b7a-4c55-8a3f-3e2d1c0b0003", "Production", "Production", 3),
    ];

    private readonly (Guid Key, string Name, int Revision, string Type)[] _assets =
    [
        (Guid.Parse("9a1d6f3b-2c4e-4f7a-8b9c-1d2e3f4a0001"), "Orders", 12, "WebApplication"),
        (Guid.Parse("9a1d6f3b-2c4e-4f7a-8b9c-1d2e3f4a0002"), "Field Service", 7, "MobileApplication"),
        (Guid.Parse("9a1d6f3b-2c4e-4f7a-8b9c-1d2e3f4a0003"), "Common UI", 30, "LowCodeLibrary"),
        (Guid.Parse("9a1d6f3b-2c4e-4f7a-8b9c-1d2e3f4a0004"), "PDF Tools", 3, "ExtensionLibrary"),
    ];

    private readonly ConcurrentDictionary<Guid, (DateTimeOffset Started, Guid AssetKey, int Revision, string Type)> _builds = new();
    private readonly ConcurrentDictionary<Guid, DateTimeOffset> _deployments = new();
    private readonly ConcurrentDictionary<Guid, (DateTimeOffset Started, Dictionary<string, object?>[] Users)> _bulkImports = new();
    private readonly ConcurrentQueue<TimeSpan> _deploymentPolls = new();

    private DemoData(TimeProvider time) => _time = time;

    /// <summary>The stages' keys, in order.</summary>
    public static IReadOnlyList<Guid> EnvironmentKeys { get; } =
        [Guid.Parse("0d6e7c2e-1b7a-4c55-8a3f-3e2d1c0b0001"), Guid.Parse("0d6e7c2e-1b7a-4c55-8a3f-3e2d1c0b0002"), Guid.Parse("0d6e7c2e-1b7a-4c55-8a3f-3e2d1c0b0003")];

    /// <summary>When each poll of a deployment arrived, counted from its start on the demo's clock.</summary>
    public IReadOnlyCollection<TimeSpan> DeploymentPolls => _deploymentPolls;

    /// <summary>Maps the demo's routes on <paramref name="server"/>; operations run on <paramref name="time"/>.</summary>
    /// <param name="server">The fake.</param>
    /// <param name="time">The clock builds, deployments and bulk imports run on.</param>
    /// <param name="moreUsers">Users to add after the five named ones, for a listing long enough to meet the rate limits.</param>
    /// <returns>The organisation, to check what happened.</returns>
    public static DemoData MapOnto(FakeOdcServer server, TimeProvider time, int moreUsers = 0)
    {
        ArgumentNullException.ThrowIfNull(server);
        ArgumentNullException.ThrowIfNull(time);
        ArgumentOutOfRangeException.ThrowIfNegative(moreUsers);
        var data = new DemoData(time);
        for (var i = 1; i <= moreUsers; i++)
        {
            var number = (i + 5).ToString("000", CultureInfo.InvariantCulture);
            data._users.Add(User(Guid.NewGuid(), $"User {number}", $"user{number}@example.com", "Active", true, null));
        }

        data.Map(server);
        return data;
    }

    private void Map(FakeOdcServer server)
    {
        server.MapGet("/api/identity/v1/users", request =>
        {
            var filter = request.Query.GetValueOrDefault("nameOrEmailContains");
            lock (_users)
            {
                var users = _users.Where(u => filter is null || ((string)u["name"]!).Contains(filter, StringComparison.OrdinalIgnoreCase)
                    || ((string)u["email"]!).Contains(filter, StringComparison.OrdinalIgnoreCase)).ToList();
                return Page(request, users, maxLimit: 100);
            }
        });
        server.MapGet("/api/identity/v1/users/{key}", request =>
        {
            lock (_users)
            {
                return _users.FirstOrDefault(u => string.Equals(u["key"]!.ToString(), request.RouteValues["key"], StringComparison.OrdinalIgnoreCase)) is { } user
                    ? user
                    : FakeOdcResponse.Problem(HttpStatusCode.NotFound, "Not Found", $"No user {request.RouteValues["key"]}.");
            }
        });
        server.MapPost("/api/identity/v1/users/bulk", request =>
        {
            var body = request.ReadJson<BulkBody>();
            if (body?.Records is not { Length: >= 1 and <= 100 } records || records.Any(r => string.IsNullOrEmpty(r.Email)))
            {
                return FakeOdcResponse.Problem(HttpStatusCode.BadRequest, "Bad Request", "records must hold 1 to 100 users, each with an email.");
            }

            var key = Guid.NewGuid();
            _bulkImports[key] = (_time.GetUtcNow(), [.. records.Select(r => User(Guid.NewGuid(), r.Name ?? r.Email!, r.Email!, r.IsActive ? "Active" : "Inactive", r.IsActive, null))]);
            return FakeOdcResponse.Json(HttpStatusCode.Accepted, new { key, status = "Pending" });
        });
        server.MapGet("/api/identity/v1/users/bulk/{key}", request =>
        {
            if (!Guid.TryParse(request.RouteValues["key"], out var key) || !_bulkImports.TryGetValue(key, out var import))
            {
                return FakeOdcResponse.Problem(HttpStatusCode.NotFound, "Not Found", $"No bulk operation {request.RouteValues["key"]}.");
            }

            var elapsed = _time.GetUtcNow() - import.Started;
            if (elapsed < TimeSpan.FromSeconds(10))
            {
                return new { key, status = elapsed < TimeSpan.FromSeconds(5) ? "Pending" : "Processing", operations = Array.Empty<object>() };
            }

            lock (_users)
            {
                foreach (var user in import.Users.Where(u => !_users.Contains(u)))
                {
                    _users.Add(user);
                }
            }

            return new
            {
                key,
                status = "Finished",
                operations = import.Users.Select(u => new { status = "Inserted", errorCode = (string?)null, errorMessage = (string?)null, record = new { key = u["key"], email = u["email"] } }),
            };
        });
        server.MapGet("/api/portfolios/v2/environments", _ => new { results = _environments });
        server.MapGet("/api/asset-repository/v1/assets", request =>
        {
            var name = request.Query.GetValueOrDefault("nameContains");
            var types = request.QueryValues("assetTypes");
            var assets = _assets
                .Where(a => (name is null || a.Name.Contains(name, StringComparison.OrdinalIgnoreCase)) && (types.Count == 0 || types.Contains(a.Type)))
                .Select(a => new { assetKey = a.Key, name = a.Name, revision = a.Revision, assetType = a.Type })
                .ToList();
            return Page(request, assets, maxLimit: 1000);
        });
        server.MapPost("/api/builds/v1/build-operations", request =>
        {
            var body = request.ReadJson<BuildBody>();
            if (body is null || !s_buildTypes.Contains(body.BuildType ?? "Debug"))
            {
                return FakeOdcResponse.Problem(HttpStatusCode.BadRequest, "Bad Request", "buildType must be Debug or Release.");
            }

            if (!_assets.Any(a => a.Key == body.AssetKey && a.Revision >= body.AssetRevision && body.AssetRevision > 0))
            {
                return FakeOdcResponse.Problem(HttpStatusCode.NotFound, "Not Found", "No such asset or revision.");
            }

            var buildKey = Guid.NewGuid();
            _builds[buildKey] = (_time.GetUtcNow(), body.AssetKey, body.AssetRevision, body.BuildType ?? "Debug");
            return FakeOdcResponse.Json(HttpStatusCode.Created, new { buildKey, isSuccessful = true });
        });
        server.MapGet("/api/builds/v1/build-operations/{operationKey}", request =>
        {
            if (!Guid.TryParse(request.RouteValues["operationKey"], out var key) || !_builds.TryGetValue(key, out var build))
            {
                return FakeOdcResponse.Problem(HttpStatusCode.NotFound, "Not Found", $"No build {request.RouteValues["operationKey"]}.");
            }

            var finished = _time.GetUtcNow() - build.Started >= BuildDuration;
            return new
            {
                buildKey = key,
                assetKey = build.AssetKey,
                assetRevision = build.Revision,
                buildType = build.Type,
                startedDateTime = build.Started,
                finishedDateTime = finished ? build.Started + BuildDuration : (DateTimeOffset?)null,
                builtBy = request.ClientId,
                status = finished ? "Finished" : "Running",
            };
        });
        server.MapPost("/api/deployments/v1/deployment-operations", request =>
        {
            var body = request.ReadJson<DeploymentBody>();
            if (body is null || !s_deploymentOperations.Contains(body.Operation) || body.AssetKey == Guid.Empty || body.BuildKey == Guid.Empty)
            {
                return FakeOdcResponse.Problem(HttpStatusCode.BadRequest, "Bad Request", "operation (Deploy, Undeploy or ApplyConfigs), assetKey and buildKey are required.");
            }

            if (!EnvironmentKeys.Contains(body.EnvironmentKey) || !_builds.ContainsKey(body.BuildKey))
            {
                return FakeOdcResponse.Problem(HttpStatusCode.NotFound, "Not Found", "No such stage or build.");
            }

            var key = Guid.NewGuid();
            _deployments[key] = _time.GetUtcNow();
            return FakeOdcResponse.Json(HttpStatusCode.Created, new { key, status = "Running" });
        });
        server.MapGet("/api/deployments/v1/deployment-operations/{operationKey}", request =>
        {
            if (!Guid.TryParse(request.RouteValues["operationKey"], out var key) || !_deployments.TryGetValue(key, out var started))
            {
                return FakeOdcResponse.Problem(HttpStatusCode.NotFound, "Not Found", $"No deployment operation {request.RouteValues["operationKey"]}.");
            }

            var elapsed = _time.GetUtcNow() - started;
            _deploymentPolls.Enqueue(elapsed);
            return new { key, status = elapsed >= DeploymentDuration ? "Finished" : "Running" };
        });
    }

    private static FakeOdcResponse Page<T>(FakeOdcRequest request, IReadOnlyList<T> all, int maxLimit)
    {
        var limit = request.QueryInt("limit", 100);
        var offset = request.QueryInt("offset", 0);
        if (limit < 1 || limit > maxLimit || offset < 0)
        {
            return FakeOdcResponse.Problem(HttpStatusCode.BadRequest, "Bad Request", $"limit must be 1 to {maxLimit} and offset 0 or more.");
        }

        var results = all.Skip(offset).Take(limit).ToList();
        return FakeOdcResponse.Json(HttpStatusCode.OK, new
        {
            results,
            page = new { count = results.Count, limit, offset, nextPageOffset = offset + limit, totalResults = all.Count, totalPages = (all.Count + limit - 1) / limit },
        });
    }

    private static Dictionary<string, object?> User(Guid key, string name, string email, string status, bool isActive, string? lastLoginAt) => new()
    {
        ["key"] = key,
        ["name"] = name,
        ["email"] = email,
        ["status"] = status,
        ["lastLoginAt"] = lastLoginAt is null ? null : DateTimeOffset.Parse(lastLoginAt, CultureInfo.InvariantCulture),
        ["isActive"] = isActive,
    };

    private static object Environment(string key, string name, string purpose, int order) => new
    {
        key = Guid.Parse(key),
        name,
        builtinDomain = $"myorg-{name.ToLowerInvariant()}.outsystems.app",
        defaultDomain = $"myorg-{name.ToLowerInvariant()}.outsystems.app",
        purpose,
        order,
        region = (string?)null,
        hosting = (string?)null,
        status = "Ready",
        portfolioKey = (Guid?)null,
    };

    private sealed record BulkBody(BulkRecord[]? Records);

    private sealed record BulkRecord(string? Email, string? Name, bool IsActive = true);

    private sealed record BuildBody(Guid AssetKey, int AssetRevision, string? BuildType);

    private sealed record DeploymentBody(string? Operation, Guid AssetKey, Guid BuildKey, int Revision, Guid EnvironmentKey);
}
