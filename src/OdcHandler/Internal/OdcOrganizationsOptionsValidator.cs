using Microsoft.Extensions.Options;

namespace OdcHandler.Internal;

/// <summary>
/// Checks the cache settings, and the lifecycle settings by the single-organisation rules (the same ranges,
/// the same messages), so a wrong value fails at start rather than at the first organisation's request.
/// </summary>
internal sealed class OdcOrganizationsOptionsValidator : IValidateOptions<OdcOrganizationsOptions>
{
    private static readonly OdcOrganizationCredentials s_probe = new("probe", "probe");

    public ValidateOptionsResult Validate(string? name, OdcOrganizationsOptions options)
    {
        ArgumentNullException.ThrowIfNull(options);
        var client = string.IsNullOrEmpty(name) ? "the default HttpClient" : $"HttpClient '{name}'";
        var errors = new List<string>();
        if (options.SizeLimit < 1)
        {
            errors.Add($"OdcOrganizations for {client}: SizeLimit is {options.SizeLimit}; it must be at least 1.");
        }

        if (options.IdleExpiration <= TimeSpan.Zero)
        {
            errors.Add($"OdcOrganizations for {client}: IdleExpiration is {options.IdleExpiration}; it must be positive.");
        }

        var lifecycle = new OdcAuthenticationOptionsValidator().Validate(name, options.ForOrganization("https://organization.outsystems.dev", s_probe));
        if (lifecycle.Failed)
        {
            errors.AddRange(lifecycle.Failures.Select(f => f.Replace("OdcAuthentication for", "OdcOrganizations for", StringComparison.Ordinal)));
        }

        return errors.Count == 0 ? ValidateOptionsResult.Success : ValidateOptionsResult.Fail(errors);
    }
}
