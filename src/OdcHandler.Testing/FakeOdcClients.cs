using System.Collections.Concurrent;

namespace OdcHandler.Testing;

/// <summary>The API clients a <see cref="FakeOdcServer"/> accepts: id, secret and whether it is suspended. Thread-safe.</summary>
public sealed class FakeOdcClients
{
    private readonly ConcurrentDictionary<string, Entry> _clients = new(StringComparer.Ordinal);

    /// <summary>The number of clients.</summary>
    public int Count => _clients.Count;

    /// <summary>Adds a client, or replaces the secret of an existing one (as regenerating a secret in the ODC Portal does; issued tokens stay valid).</summary>
    /// <param name="clientId">The client id.</param>
    /// <param name="clientSecret">The secret, unencoded, exactly as a user would configure it.</param>
    public void Add(string clientId, string clientSecret)
    {
        ArgumentException.ThrowIfNullOrEmpty(clientId);
        ArgumentException.ThrowIfNullOrEmpty(clientSecret);
        _clients[clientId] = new Entry(clientSecret, Suspended: false);
    }

    /// <summary>Removes a client; its tokens stop working at the next request.</summary>
    /// <param name="clientId">The client id.</param>
    /// <returns>Whether it existed.</returns>
    public bool Remove(string clientId) => _clients.TryRemove(clientId, out _);

    /// <summary>Tells whether a client with this id exists.</summary>
    /// <param name="clientId">The client id.</param>
    /// <returns><see langword="true"/> if it exists.</returns>
    public bool Contains(string clientId) => _clients.ContainsKey(clientId);

    internal void SetSuspended(string clientId, bool suspended)
    {
        if (!_clients.TryGetValue(clientId, out var entry))
        {
            throw new ArgumentException($"No fake ODC client '{clientId}' exists; add it with Clients.Add first.", nameof(clientId));
        }

        _clients[clientId] = entry with { Suspended = suspended };
    }

    internal bool IsActive(string clientId) => _clients.TryGetValue(clientId, out var entry) && !entry.Suspended;

    /// <summary>Compares in constant time, as a real identity service must.</summary>
    internal bool Authenticates(string clientId, string clientSecret) =>
        _clients.TryGetValue(clientId, out var entry)
        && !entry.Suspended
        && System.Security.Cryptography.CryptographicOperations.FixedTimeEquals(
            System.Text.Encoding.UTF8.GetBytes(entry.Secret), System.Text.Encoding.UTF8.GetBytes(clientSecret));

    private sealed record Entry(string Secret, bool Suspended);
}
