using Microsoft.Extensions.Diagnostics.HealthChecks;
using OdcHandler.Internal;

namespace OdcHandler;

/// <summary>
/// Reports whether an ODC client can get a token: Healthy when one is cached or can be acquired,
/// Degraded while an old token is served because refreshing it fails, Unhealthy with the OAuth error otherwise.
/// </summary>
/// <remarks>
/// Polling it often does not hammer the identity service: a cached token answers without a call, and
/// after a failure the answer is the recorded failure until <see cref="OdcAuthenticationOptions.FailureCooldown"/>
/// has passed. Register it with <c>services.AddHealthChecks().AddOdcAuthentication("client name")</c>.
/// </remarks>
internal sealed class OdcAuthenticationHealthCheck(OdcAccessTokenProvider provider, string clientName) : IHealthCheck
{
    public async Task<HealthCheckResult> CheckHealthAsync(HealthCheckContext context, CancellationToken cancellationToken = default)
    {
        var manager = provider.GetManager(clientName);
        var health = manager.GetHealth();
        if (health.State == TokenHealthState.Unknown)
        {
            try
            {
                await manager.GetAsync(cancellationToken).ConfigureAwait(false);
            }
            catch (OdcAuthenticationException)
            {
                // Recorded by the manager; reported from its state below.
            }

            health = manager.GetHealth();
        }

        return health.State switch
        {
            TokenHealthState.Valid => HealthCheckResult.Healthy($"A token for client id '{manager.Settings.ClientId}' is valid until {health.ExpiresAt:O}."),
            TokenHealthState.ServingOldToken => HealthCheckResult.Degraded(
                $"Refreshing the token for client id '{manager.Settings.ClientId}' fails; the current one is used until it expires at {health.ExpiresAt:O}. {health.Failure!.Message}",
                data: Data(health.Failure)),
            _ => new HealthCheckResult(
                context.Registration.FailureStatus,
                health.Failure?.Message ?? $"No token could be acquired for client id '{manager.Settings.ClientId}'.",
                data: Data(health.Failure)),
        };
    }

    private static Dictionary<string, object> Data(OdcAuthenticationException? failure)
    {
        var data = new Dictionary<string, object>(StringComparer.Ordinal);
        if (failure?.Error is { } error)
        {
            data["error"] = error;
        }

        if (failure?.StatusCode is { } status)
        {
            data["status"] = (int)status;
        }

        return data;
    }
}
