using Microsoft.Extensions.Diagnostics.HealthChecks;

namespace OdcHandler.Internal;

/// <summary>
/// One check for all organisations of a multi-organisation client: how many fail, and which, from what their managers
/// already know. It never fetches a token itself, so polling it costs nothing however many organisations there are.
/// </summary>
internal sealed class OdcOrganizationsHealthCheck(OdcOrganizationDirectory directory, string clientName) : IHealthCheck
{
    /// <summary>How many failing hosts are listed in the data; the count is always complete.</summary>
    internal const int MaxListedHosts = 20;

    public Task<HealthCheckResult> CheckHealthAsync(HealthCheckContext context, CancellationToken cancellationToken = default)
    {
        var organizations = 0;
        var failing = new List<string>();
        var degraded = new List<string>();
        foreach (var entry in directory.Get(clientName).Entries)
        {
            var state = entry.State;
            if (state.IsReleased)
            {
                continue;
            }

            organizations++;
            if (entry.LastSourceFailure is not null)
            {
                // Its token ran out and its credential source fails: every request to it fails, whatever the manager knows.
                failing.Add(entry.PortalHost);
                continue;
            }

            var health = state.Manager.GetHealth();
            switch (health.State)
            {
                case TokenHealthState.ServingOldToken:
                    degraded.Add(entry.PortalHost);
                    break;
                case TokenHealthState.Failing:
                case TokenHealthState.Unknown when health.Failure is not null:
                    failing.Add(entry.PortalHost);
                    break;
            }
        }

        failing.Sort(StringComparer.Ordinal);
        degraded.Sort(StringComparer.Ordinal);
        var data = new Dictionary<string, object>(StringComparer.Ordinal)
        {
            ["organizations"] = organizations,
            ["failing"] = failing.Count,
            ["degraded"] = degraded.Count,
            ["failing_hosts"] = failing.Take(MaxListedHosts).ToArray(),
            ["degraded_hosts"] = degraded.Take(MaxListedHosts).ToArray(),
        };

        // One tenant's suspended client must not take the service out of rotation for all the others: only when every
        // organisation in use fails is the client unable to do anything.
        var result = failing.Count == 0 && degraded.Count == 0
            ? HealthCheckResult.Healthy($"{organizations} ODC organisations in use; none fails.", data)
            : failing.Count > 0 && failing.Count == organizations
                ? new HealthCheckResult(context.Registration.FailureStatus, $"All {organizations} ODC organisations in use fail to get a token: {Hosts(failing)}.", data: data)
                : HealthCheckResult.Degraded(
                    $"{failing.Count} of {organizations} ODC organisations fail to get a token{(failing.Count > 0 ? $" ({Hosts(failing)})" : string.Empty)}; {degraded.Count} serve an old token because refreshing fails{(degraded.Count > 0 ? $" ({Hosts(degraded)})" : string.Empty)}.",
                    data: data);
        return Task.FromResult(result);
    }

    private static string Hosts(List<string> hosts) =>
        string.Join(", ", hosts.Take(MaxListedHosts)) + (hosts.Count > MaxListedHosts ? $" and {hosts.Count - MaxListedHosts} more" : string.Empty);
}
