using Microsoft.Extensions.Options;

namespace OdcHandler.Internal;

/// <summary>Checks a client's rate-limit settings and reports every problem at once, naming the client and the setting.</summary>
internal sealed class OdcRateLimitOptionsValidator : IValidateOptions<OdcRateLimitOptions>
{
    public ValidateOptionsResult Validate(string? name, OdcRateLimitOptions options)
    {
        ArgumentNullException.ThrowIfNull(options);
        var errors = new List<string>();
        if (options.Window < TimeSpan.FromSeconds(1) || options.Window > TimeSpan.FromDays(1))
        {
            errors.Add($"Window must be between 1 second and 1 day; it is {options.Window}.");
        }

        if (options.MaxWait < TimeSpan.Zero || options.MaxWait > TimeSpan.FromDays(1))
        {
            errors.Add($"MaxWait must be between 0 and 1 day; it is {options.MaxWait}.");
        }

        if (options.MaxRateLimitedResends is < 0 or > 100)
        {
            errors.Add($"MaxRateLimitedResends must be between 0 and 100; it is {options.MaxRateLimitedResends}.");
        }

        foreach (var rule in options.EndpointLimits.Keys)
        {
            var space = rule.IndexOf(' ', StringComparison.Ordinal);
            var path = space < 0 ? string.Empty : rule[(space + 1)..].Trim().Trim('/');
            if (space <= 0 || path.Length == 0 || path.IndexOf('*', StringComparison.Ordinal) is var star && star >= 0 && star != path.Length - 1)
            {
                errors.Add($"EndpointLimits key '{rule}' must be a method and a path after /api/, such as 'POST identity/v1/users/bulk' or 'POST deployments/v1/*'.");
            }
        }

        return errors.Count == 0
            ? ValidateOptionsResult.Success
            : ValidateOptionsResult.Fail(errors.Select(error => $"OdcRateLimiting for HttpClient '{name}': {error}"));
    }
}
