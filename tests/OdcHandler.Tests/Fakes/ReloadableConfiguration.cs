using Microsoft.Extensions.Configuration;

namespace OdcHandler.Tests.Fakes;

/// <summary>A configuration source whose whole content can be replaced, raising the reload token as a file provider does.</summary>
public sealed class ReloadableConfiguration : ConfigurationProvider, IConfigurationSource
{
    public IConfigurationProvider Build(IConfigurationBuilder builder) => this;

    public void Replace(Dictionary<string, string?> settings)
    {
        Data = new Dictionary<string, string?>(settings, StringComparer.OrdinalIgnoreCase);
        OnReload();
    }
}
