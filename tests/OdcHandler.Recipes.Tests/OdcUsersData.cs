using System.Collections.Concurrent;
using OdcHandler.Testing;

namespace OdcHandler.Recipes.Tests;

/// <summary>The users routes both recipes call: a page of users, and creating one (whose accepted bodies are kept).</summary>
public sealed class OdcUsersData
{
    public const string UsersPath = "/api/identity/v1/users";

    private readonly ConcurrentQueue<string?> _createdBodies = new();

    /// <summary>The JSON bodies of the create requests the fake accepted (a rejected one never reaches the route).</summary>
    public IReadOnlyList<string?> CreatedBodies => [.. _createdBodies];

    public void MapOnto(FakeOdcServer odc)
    {
        odc.MapGet(UsersPath, request =>
        {
            var limit = request.QueryInt("limit", 50);
            var users = new[]
            {
                new { key = "u-1", name = "Ada Lovelace", email = "ada@example.com" },
                new { key = "u-2", name = "Grace Hopper", email = "grace@example.com" },
            }.Take(limit).ToArray();
            return new { results = users, page = new { count = users.Length, limit, offset = 0 } };
        });
        odc.MapPost(UsersPath, request =>
        {
            _createdBodies.Enqueue(request.Body);
            var user = request.ReadJson<Dictionary<string, string>>()!;
            return new { key = "u-new", name = user["name"], email = user["email"] };
        });
    }
}
