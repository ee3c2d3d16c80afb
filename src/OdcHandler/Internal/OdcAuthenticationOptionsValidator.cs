using Microsoft.Extensions.Options;

namespace OdcHandler.Internal;

/// <summary>
/// Checks every setting of a named client and reports all problems at once, each naming the setting
/// and the client, so a wrong configuration fails at start with a message that says what to fix.
/// </summary>
internal sealed class OdcAuthenticationOptionsValidator : IValidateOptions<OdcAuthenticationOptions>
{
    /// <summary>
    /// The longest <see cref="OdcAuthenticationOptions.BackchannelTimeout"/> accepted; the backchannel pipeline's
    /// own total timeout is set to it, so the per-client setting is always the bound that applies.
    /// </summary>
    public static readonly TimeSpan MaxBackchannelTimeout = TimeSpan.FromMinutes(10);

    public ValidateOptionsResult Validate(string? name, OdcAuthenticationOptions options)
    {
        ArgumentNullException.ThrowIfNull(options);
        var errors = new List<string>();
        OdcEndpoints.TryCreate(options, errors);

        if (string.IsNullOrWhiteSpace(options.ClientId))
        {
            errors.Add("ClientId is required: the API client's id from the ODC Portal.");
        }

        if (string.IsNullOrWhiteSpace(options.ClientSecret))
        {
            errors.Add("ClientSecret is required: the API client's secret from the ODC Portal, unencoded.");
        }

        CheckRange(errors, nameof(options.RefreshBeforeExpiry), options.RefreshBeforeExpiry, TimeSpan.Zero, TimeSpan.FromDays(1));
        CheckRange(errors, nameof(options.DiscoveryCacheDuration), options.DiscoveryCacheDuration, TimeSpan.FromSeconds(1), TimeSpan.FromDays(30));
        CheckRange(errors, nameof(options.RefreshJitter), options.RefreshJitter, TimeSpan.Zero, TimeSpan.FromHours(1));
        CheckRange(errors, nameof(options.FailureCooldown), options.FailureCooldown, TimeSpan.Zero, TimeSpan.FromMinutes(5));
        CheckRange(errors, nameof(options.BackchannelTimeout), options.BackchannelTimeout, TimeSpan.FromSeconds(1), MaxBackchannelTimeout);

        if (!Enum.IsDefined(options.CredentialStyle))
        {
            errors.Add($"CredentialStyle '{options.CredentialStyle}' is not one of {string.Join(", ", Enum.GetNames<ClientCredentialStyle>())}.");
        }

        if (errors.Count == 0)
        {
            return ValidateOptionsResult.Success;
        }

        var client = string.IsNullOrEmpty(name) ? "the default HttpClient" : $"HttpClient '{name}'";
        return ValidateOptionsResult.Fail(errors.Select(error => $"OdcAuthentication for {client}: {error}"));
    }

    private static void CheckRange(List<string> errors, string setting, TimeSpan value, TimeSpan min, TimeSpan max)
    {
        if (value < min || value > max)
        {
            errors.Add($"{setting} is {value}; it must be between {min} and {max}.");
        }
    }
}
