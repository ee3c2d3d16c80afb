using Microsoft.Extensions.Diagnostics.HealthChecks;
using OdcHandler.Internal;

namespace Microsoft.Extensions.DependencyInjection;

/// <summary>Adds one health check for all the organisations of a multi-organisation ODC client.</summary>
public static class OdcOrganizationsHealthChecksBuilderExtensions
{
    private static readonly string[] DefaultTags = ["ready"];

    /// <summary>
    /// Adds a health check named <c>odc-organizations-{clientName}</c> over the organisations in the client's cache:
    /// Healthy when none fails, Degraded when some fail or serve an old token, <paramref name="failureStatus"/> (by
    /// default Unhealthy) only when every organisation in use fails. Its data holds <c>organizations</c>, <c>failing</c>,
    /// <c>degraded</c>, and the first 20 hosts of each in <c>failing_hosts</c> and <c>degraded_hosts</c>.
    /// </summary>
    /// <param name="builder">The health checks builder.</param>
    /// <param name="clientName">The name of the HttpClient <c>AddOdcAuthentication&lt;TCredentialSource&gt;</c> was called on.</param>
    /// <param name="failureStatus">The status when every organisation fails; by default Unhealthy.</param>
    /// <param name="tags">Tags for filtering health checks; by default <c>["ready"]</c>. Given tags replace the default.</param>
    /// <returns>The value of <paramref name="builder"/>.</returns>
    /// <remarks>
    /// One check, not one per tenant: a thousand organisations make one entry in the health report. It reports what
    /// the organisations' own requests found and never fetches a token, so an organisation nobody has used yet, or one
    /// evicted, is not counted.
    /// </remarks>
    public static IHealthChecksBuilder AddOdcOrganizations(
        this IHealthChecksBuilder builder,
        string clientName,
        HealthStatus? failureStatus = null,
        IEnumerable<string>? tags = null)
    {
        ArgumentNullException.ThrowIfNull(builder);
        ArgumentException.ThrowIfNullOrEmpty(clientName);
        return builder.Add(new HealthCheckRegistration(
            $"odc-organizations-{clientName}",
            services => new OdcOrganizationsHealthCheck(services.GetRequiredService<OdcOrganizationDirectory>(), clientName),
            failureStatus,
            tags ?? DefaultTags));
    }
}
