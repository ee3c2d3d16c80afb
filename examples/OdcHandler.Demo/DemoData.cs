using System.Collections.Concurrent;
using System.Net;
using OdcHandler.Testing;

namespace OdcHandler.Demo;

/// <summary>A small organisation for the fake ODC to serve: users, stages, assets and deployments.</summary>
public static class DemoData
{
    private static readonly OdcUser[] s_users =
    [
        new("u-1", "Ada Lovelace", "ada@example.com", "Active", true, DateTimeOffset.Parse("2026-11-29T10:00:00Z", System.Globalization.CultureInfo.InvariantCulture)),
        new("u-2", "Grace Hopper", "grace@example.com", "Active", true, null),
        new("u-3", "Alan Turing", "alan@example.com", "Invited", false, null),
        new("u-4", "Edsger Dijkstra", "edsger@example.com", "Active", true, null),
        new("u-5", "Barbara Liskov", "barbara@example.com", "Inactive", false, null),
    ];

    /// <summary>Maps the demo's routes on <paramref name="server"/>; deployments run for three polls.</summary>
    /// <param name="server">The fake.</param>
    public static void MapOnto(FakeOdcServer server)
    {
        ArgumentNullException.ThrowIfNull(server);
        var polls = new ConcurrentDictionary<string, int>();
        server.MapGet("/api/identity/v1/users", request =>
        {
            var limit = request.QueryInt("limit", 50);
            var offset = request.QueryInt("offset", 0);
            var page = s_users.Skip(offset).Take(limit).ToArray();
            var next = offset + page.Length < s_users.Length ? offset + page.Length : (int?)null;
            return new
            {
                results = page,
                page = new { count = page.Length, limit, offset, nextPageOffset = next, totalResults = s_users.Length, totalPages = (s_users.Length + limit - 1) / limit },
            };
        });
        server.MapGet("/api/identity/v1/users/{key}", request =>
            s_users.FirstOrDefault(u => u.Key == request.RouteValues["key"]) is { } user
                ? user
                : FakeOdcResponse.Problem(HttpStatusCode.NotFound, "Not Found", $"No user {request.RouteValues["key"]}.", "USER_NOT_FOUND"));
        server.MapGet("/api/portfolios/v2/environments", _ => new
        {
            results = new[]
            {
                new OdcEnvironment("env-dev", "Development", "Development", 1, "eu-central-1", "Active"),
                new OdcEnvironment("env-qa", "QA", "Test", 2, "eu-central-1", "Active"),
                new OdcEnvironment("env-prd", "Production", "Production", 3, "eu-central-1", "Active"),
            },
        });
        server.MapGet("/api/asset-repository/v1/assets", _ => new
        {
            results = new[] { new OdcAsset("a-1", "Orders", "App", 12), new OdcAsset("a-2", "Billing", "App", 7), new OdcAsset("a-3", "Common UI", "Library", 30) },
        });
        server.MapPost("/api/deployments/v1/deployment-operations", request =>
        {
            var deployment = request.ReadJson<DeploymentRequest>();
            if (deployment is null || string.IsNullOrEmpty(deployment.EnvironmentKey))
            {
                return FakeOdcResponse.Problem(HttpStatusCode.BadRequest, "Bad Request", "environmentKey is required.");
            }

            var key = "dep-" + Guid.NewGuid().ToString("N")[..8];
            polls[key] = 0;
            return FakeOdcResponse.Json(HttpStatusCode.Created, new DeploymentOperation(key, "Running"));
        });
        server.MapGet("/api/deployments/v1/deployment-operations/{key}", request =>
        {
            var key = request.RouteValues["key"];
            return polls.ContainsKey(key)
                ? new DeploymentOperation(key, polls.AddOrUpdate(key, 1, (_, n) => n + 1) >= 3 ? "Finished" : "Running")
                : FakeOdcResponse.Problem(HttpStatusCode.NotFound, "Not Found", $"No deployment operation {key}.");
        });
    }
}
