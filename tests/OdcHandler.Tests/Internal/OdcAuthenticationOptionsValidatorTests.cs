using OdcHandler.Internal;

namespace OdcHandler.Tests.Internal;

public sealed class OdcAuthenticationOptionsValidatorTests
{
    private static OdcAuthenticationOptions Valid(Action<OdcAuthenticationOptions>? change = null)
    {
        var options = new OdcAuthenticationOptions { PortalDomain = "myorg.outsystems.dev", ClientId = "id", ClientSecret = "secret" };
        change?.Invoke(options);
        return options;
    }

    private static string Failure(OdcAuthenticationOptions options)
    {
        var result = new OdcAuthenticationOptionsValidator().Validate("odc", options);
        Assert.True(result.Failed);
        return result.FailureMessage;
    }

    [Theory]
    [InlineData("myorg.outsystems.dev")]
    [InlineData("https://myorg.outsystems.dev")]
    [InlineData("https://myorg.outsystems.dev/")]
    [InlineData("http://127.0.0.1:5000")]
    [InlineData("http://localhost:5000")]
    [InlineData("http://[::1]:5000")]
    public void Validate_AcceptedPortalDomain_Succeeds(string portal)
    {
        var result = new OdcAuthenticationOptionsValidator().Validate("odc", Valid(o => o.PortalDomain = portal));

        Assert.True(result.Succeeded, result.FailureMessage);
    }

    [Fact]
    public void Validate_NothingSet_NamesEveryMissingSettingAndTheClient()
    {
        var message = Failure(new OdcAuthenticationOptions());

        Assert.Contains("HttpClient 'odc'", message, StringComparison.Ordinal);
        Assert.Contains("PortalDomain is required", message, StringComparison.Ordinal);
        Assert.Contains("ClientId is required", message, StringComparison.Ordinal);
        Assert.Contains("ClientSecret is required", message, StringComparison.Ordinal);
    }

    [Theory]
    [InlineData(" ")]
    [InlineData("   ")]
    [InlineData("\t")]
    [InlineData("\r\n")]
    [InlineData("\u00A0\u2003")]
    public void Validate_WhitespaceOnlyClientSecretAndClientId_FailWithTheUsualOneLineMessages(string blank)
    {
        var result = new OdcAuthenticationOptionsValidator().Validate("odc", Valid(o =>
        {
            o.ClientId = blank;
            o.ClientSecret = blank;
        }));

        Assert.True(result.Failed);
        Assert.Equal(
            [
                "OdcAuthentication for HttpClient 'odc': ClientId is required: the API client's id from the ODC Portal.",
                "OdcAuthentication for HttpClient 'odc': ClientSecret is required: the API client's secret from the ODC Portal, unencoded.",
            ],
            result.Failures);
    }

    [Theory]
    [InlineData("http://myorg.outsystems.dev", "plain http")]
    [InlineData("https://myorg.outsystems.dev/api", "without user info, path or query")]
    [InlineData("https://user@myorg.outsystems.dev", "without user info, path or query")]
    [InlineData("ftp://myorg.outsystems.dev", "is not a domain")]
    [InlineData("my org", "is not a domain")]
    public void Validate_BadPortalDomain_SaysWhatIsWrong(string portal, string expected)
    {
        Assert.Contains(expected, Failure(Valid(o => o.PortalDomain = portal)), StringComparison.Ordinal);
    }

    [Fact]
    public void Validate_PlainHttpPortalWithRequireHttpsOff_Succeeds()
    {
        var result = new OdcAuthenticationOptionsValidator().Validate("odc", Valid(o =>
        {
            o.PortalDomain = "http://odc.internal:8080";
            o.RequireHttps = false;
        }));

        Assert.True(result.Succeeded, result.FailureMessage);
    }

    [Fact]
    public void Validate_PlainHttpDiscoveryEndpoint_IsRefused()
    {
        var message = Failure(Valid(o => o.DiscoveryEndpoint = new Uri("http://idp.example.com/.well-known/openid-configuration")));

        Assert.Contains("DiscoveryEndpoint", message, StringComparison.Ordinal);
        Assert.Contains("must use https", message, StringComparison.Ordinal);
    }

    [Theory]
    [InlineData("https://api.example.com")]
    [InlineData("api.example.com/path")]
    [InlineData("")]
    public void Validate_BadAdditionalApiHost_NamesTheEntry(string entry)
    {
        var message = Failure(Valid(o => o.AdditionalApiHosts.Add(entry)));

        Assert.Contains($"AdditionalApiHosts entry '{entry}'", message, StringComparison.Ordinal);
    }

    [Fact]
    public void Validate_OutOfRangeDurations_NameTheSettingAndTheRange()
    {
        var message = Failure(Valid(o =>
        {
            o.RefreshBeforeExpiry = TimeSpan.FromSeconds(-1);
            o.DiscoveryCacheDuration = TimeSpan.Zero;
            o.FailureCooldown = TimeSpan.FromHours(1);
            o.BackchannelTimeout = TimeSpan.Zero;
            o.CredentialStyle = (ClientCredentialStyle)7;
        }));

        Assert.Contains("RefreshBeforeExpiry is -00:00:01", message, StringComparison.Ordinal);
        Assert.Contains("DiscoveryCacheDuration", message, StringComparison.Ordinal);
        Assert.Contains("FailureCooldown", message, StringComparison.Ordinal);
        Assert.Contains("BackchannelTimeout", message, StringComparison.Ordinal);
        Assert.Contains("CredentialStyle '7'", message, StringComparison.Ordinal);
    }

    [Theory]
    [InlineData(10 * 60, true)]
    [InlineData((10 * 60) + 1, false)]
    [InlineData(24 * 60 * 60, false)]
    public void Validate_BackchannelTimeout_IsAcceptedUpToTenMinutesAndRefusedAbove(int seconds, bool accepted)
    {
        var result = new OdcAuthenticationOptionsValidator().Validate("odc", Valid(o => o.BackchannelTimeout = TimeSpan.FromSeconds(seconds)));

        Assert.Equal(accepted, result.Succeeded);
        if (!accepted)
        {
            Assert.Equal(
                $"OdcAuthentication for HttpClient 'odc': BackchannelTimeout is {TimeSpan.FromSeconds(seconds)}; it must be between 00:00:01 and 00:10:00.",
                Assert.Single(result.Failures!));
        }
    }

    [Fact]
    public void ToString_NeverShowsTheSecret()
    {
        var options = Valid(o => o.ClientSecret = "s3cr3t-value");

        var text = options.ToString();

        Assert.DoesNotContain("s3cr3t-value", text, StringComparison.Ordinal);
        Assert.Contains("ClientSecret = ***", text, StringComparison.Ordinal);
        Assert.Contains("myorg.outsystems.dev", text, StringComparison.Ordinal);
    }
}
