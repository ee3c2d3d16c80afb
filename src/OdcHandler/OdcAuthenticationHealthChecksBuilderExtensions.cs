using Microsoft.Extensions.Diagnostics.HealthChecks;
using OdcHandler;
using OdcHandler.Internal;

namespace Microsoft.Extensions.DependencyInjection;

/// <summary>Adds a health check for an ODC client's access token.</summary>
public static class OdcAuthenticationHealthChecksBuilderExtensions
{
    private static readonly string[] DefaultTags = ["ready"];

    /// <summary>
    /// Adds a health check named <c>odc-{clientName}</c> that reports Healthy when a token is cached or
    /// can be acquired, Degraded while an old token is served because refreshing it fails, and
    /// <paramref name="failureStatus"/> (by default Unhealthy) with the OAuth error otherwise.
    /// </summary>
    /// <param name="builder">The health checks builder.</param>
    /// <param name="clientName">The name of the HttpClient <c>AddOdcAuthentication</c> was called on.</param>
    /// <param name="failureStatus">The status to report when no token can be had; by default Unhealthy.</param>
    /// <param name="tags">
    /// Tags for filtering health checks; by default <c>["ready"]</c>. Given tags replace the default.
    /// </param>
    /// <returns>The value of <paramref name="builder"/>.</returns>
    /// <remarks>
    /// <para>
    /// It is a readiness check, never a liveness one: without a token the application cannot call ODC, but
    /// restarting it does not bring a token back. Map it with a filter on the tag, for example
    /// <c>app.MapHealthChecks("/health/ready", new HealthCheckOptions { Predicate = c =&gt; c.Tags.Contains("ready") })</c>.
    /// With <see cref="OdcAuthenticationOptions.ClientSecretExpiresAt"/> set, it is Degraded from 14 days before
    /// the secret expires.
    /// </para>
    /// <para>
    /// It does not hammer the token endpoint when polled every second: a cached token answers without a
    /// call, and after a failure the recorded failure is reported until the failure cool-down has passed.
    /// </para>
    /// </remarks>
    public static IHealthChecksBuilder AddOdcAuthentication(
        this IHealthChecksBuilder builder,
        string clientName,
        HealthStatus? failureStatus = null,
        IEnumerable<string>? tags = null)
    {
        ArgumentNullException.ThrowIfNull(builder);
        ArgumentException.ThrowIfNullOrEmpty(clientName);
        return builder.Add(new HealthCheckRegistration(
            $"odc-{clientName}",
            services => new OdcAuthenticationHealthCheck(services.GetRequiredService<OdcAccessTokenProvider>(), clientName),
            failureStatus,
            tags ?? DefaultTags));
    }
}
