using System.Globalization;
using Microsoft.Extensions.Diagnostics.HealthChecks;
using OdcHandler.Internal;

namespace OdcHandler;

/// <summary>
/// Reports whether an ODC client can get a token: Healthy when one is cached or can be acquired,
/// Degraded while an old token is served because refreshing it fails, Unhealthy with the OAuth error otherwise.
/// With <see cref="OdcAuthenticationOptions.ClientSecretExpiresAt"/> set, a Healthy client is Degraded from 14 days
/// before the secret expires.
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

        var result = health.State switch
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
        return WithSecretLife(result, provider.GetSecretExpiry(clientName));
    }

    /// <summary>
    /// In the reminder period a Healthy client is Degraded, and a worse status keeps its own reason with the secret's
    /// date added. Past the date it stays Degraded while tokens still come: the date may be stale while the secret
    /// works, and a refused secret already makes the check Unhealthy through the failed acquisition.
    /// </summary>
    private static HealthCheckResult WithSecretLife(HealthCheckResult result, ClientSecretExpiry expiry)
    {
        if (expiry.Current is not { } life)
        {
            return result;
        }

        var data = new Dictionary<string, object>(result.Data, StringComparer.Ordinal) { ["client_secret_expires_at"] = life.ExpiresAt };
        var now = expiry.TimeProvider.GetUtcNow();
        if (!life.IsReminderDue(now))
        {
            return new HealthCheckResult(result.Status, result.Description, result.Exception, data);
        }

        var date = life.Date.ToString("yyyy-MM-dd", CultureInfo.InvariantCulture);
        var note = life.IsExpired(now)
            ? $"The client secret of client id '{life.ClientId}' (HttpClient '{expiry.ClientName}') expired on {date} at 23:59 UTC by ClientSecretExpiresAt."
            : $"The client secret of client id '{life.ClientId}' (HttpClient '{expiry.ClientName}') expires on {date} at 23:59 UTC, in {(int)life.TimeLeft(now).TotalDays} days: rotate it.";
        return result.Status == HealthStatus.Healthy
            ? HealthCheckResult.Degraded(note, data: data)
            : new HealthCheckResult(result.Status, $"{result.Description} {note}", result.Exception, data);
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
