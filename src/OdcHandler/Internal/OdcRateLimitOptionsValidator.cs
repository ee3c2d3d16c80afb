using Microsoft.Extensions.Configuration;
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

        if (options.DefaultDomainLimit < 0)
        {
            errors.Add($"DefaultDomainLimit must be 0 (no limit) or more; it is {options.DefaultDomainLimit}.");
        }

        foreach (var (domain, permits) in options.DomainLimits)
        {
            if (string.IsNullOrWhiteSpace(domain) || domain.Trim().Contains('/', StringComparison.Ordinal) || !string.Equals(domain, domain.Trim(), StringComparison.Ordinal))
            {
                errors.Add($"DomainLimits key '{domain}' must be an API domain: the one path segment after /api/, such as 'identity' or 'environment-configurations', without a version.");
            }

            if (permits < 0)
            {
                errors.Add($"DomainLimits '{domain}' must be 0 (no limit) or more; it is {permits}.");
            }
        }

        foreach (var (rule, permits) in options.EndpointLimits)
        {
            if (EndpointRuleProblem(rule) is { } problem)
            {
                errors.Add($"EndpointLimits key '{rule}' {problem}; write a method and the path after /api/, such as 'POST identity/v1/users/bulk' or 'POST deployments/v1/*'.");
            }

            if (permits < 0)
            {
                errors.Add($"EndpointLimits '{rule}' must be 0 (no limit) or more; it is {permits}.");
            }
        }

        return errors.Count == 0
            ? ValidateOptionsResult.Success
            : ValidateOptionsResult.Fail(errors.Select(error => $"OdcRateLimiting for HttpClient '{name}': {error}"));
    }

    private static string? EndpointRuleProblem(string rule)
    {
        var space = rule.IndexOf(' ', StringComparison.Ordinal);
        if (space <= 0)
        {
            return "has no method";
        }

        var method = rule[..space].Trim();
        if (method.Length == 0 || !method.All(IsTokenChar))
        {
            return $"starts with '{method}', which is not an HTTP method";
        }

        var path = rule[(space + 1)..].Trim().Trim('/');
        if (path.Length == 0)
        {
            return "has no path";
        }

        if (path.StartsWith("api/", StringComparison.OrdinalIgnoreCase) || path.Contains("/api/", StringComparison.OrdinalIgnoreCase) || path.Contains("://", StringComparison.Ordinal))
        {
            // Requests are matched on the path after /api/: a key that repeats it, or names a host, would never match one.
            return "repeats the /api/ prefix or names a host";
        }

        if (path.IndexOfAny(['?', '#']) >= 0)
        {
            return "has a query or fragment, which requests are not matched on";
        }

        var star = path.IndexOf('*', StringComparison.Ordinal);
        return star >= 0 && star != path.Length - 1 ? "has a '*' that is not at its end" : null;
    }

    // RFC 9110 token characters: what HttpMethod accepts.
    private static bool IsTokenChar(char c) =>
        char.IsAsciiLetterOrDigit(c) || "!#$%&'*+-.^_`|~".Contains(c, StringComparison.Ordinal);
}

/// <summary>
/// A limit key written with a ':' in configuration (a URL such as <c>POST https://host/api/…</c>) is split there into
/// nested sections, which bind to no key at all: the limit would be ignored without a word. Such keys are refused.
/// </summary>
internal sealed class OdcRateLimitConfigurationKeysValidator(string clientName, IConfiguration section) : IValidateOptions<OdcRateLimitOptions>
{
    public ValidateOptionsResult Validate(string? name, OdcRateLimitOptions options)
    {
        if (!string.Equals(name, clientName, StringComparison.Ordinal))
        {
            return ValidateOptionsResult.Skip;
        }

        var errors = (
            from setting in new[] { nameof(OdcRateLimitOptions.DomainLimits), nameof(OdcRateLimitOptions.EndpointLimits) }
            from key in section.GetSection(setting).GetChildren()
            where key.GetChildren().Any()
            select $"OdcRateLimiting for HttpClient '{name}': {setting} key '{key.Key}:…' contains ':', which configuration reads as a nested section, so it would match nothing; write a method and the path after /api/, such as 'POST identity/v1/users/bulk', or an API domain such as 'identity'.").ToList();
        return errors.Count == 0 ? ValidateOptionsResult.Success : ValidateOptionsResult.Fail(errors);
    }
}
