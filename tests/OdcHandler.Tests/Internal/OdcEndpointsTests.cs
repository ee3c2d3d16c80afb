using OdcHandler.Internal;

namespace OdcHandler.Tests.Internal;

public sealed class OdcEndpointsTests
{
    private static OdcEndpoints Create(string portal, bool requireHttps = true, params string[] additional)
    {
        var options = new OdcAuthenticationOptions { PortalDomain = portal, ClientId = "id", ClientSecret = "s", RequireHttps = requireHttps };
        foreach (var host in additional)
        {
            options.AdditionalApiHosts.Add(host);
        }

        var errors = new List<string>();
        var endpoints = OdcEndpoints.TryCreate(options, errors);
        Assert.Empty(errors);
        return endpoints!;
    }

    [Theory]
    [InlineData("myorg.outsystems.dev", "https://myorg.outsystems.dev/identity/.well-known/openid-configuration")]
    [InlineData("https://MyOrg.outsystems.dev/", "https://myorg.outsystems.dev/identity/.well-known/openid-configuration")]
    [InlineData("http://127.0.0.1:5000", "http://127.0.0.1:5000/identity/.well-known/openid-configuration")]
    public void Discovery_DefaultsUnderThePortal(string portal, string expected)
    {
        Assert.Equal(new Uri(expected), Create(portal).Discovery);
    }

    [Theory]
    [InlineData("https://myorg.outsystems.dev/api/users", true)]
    [InlineData("https://MYORG.outsystems.dev:443/api/users", true)]
    [InlineData("http://myorg.outsystems.dev/api/users", false)]
    [InlineData("https://myorg.outsystems.dev:444/api/users", false)]
    [InlineData("https://myorg.outsystems.dev.evil.com/api/users", false)]
    [InlineData("https://evilmyorg.outsystems.dev/api/users", false)]
    [InlineData("https://myorg.outsystems.dev@evil.com/api/users", false)]
    [InlineData("https://evil.com/?https://myorg.outsystems.dev/", false)]
    [InlineData("https://api.other.dev/x", true)]
    [InlineData("https://api.other.dev:8443/x", false)]
    public void MayReceiveToken_OnlyExactOriginsOverHttps(string address, bool expected)
    {
        var endpoints = Create("myorg.outsystems.dev", true, "api.other.dev");

        Assert.Equal(expected, endpoints.MayReceiveToken(new Uri(address)));
    }

    [Theory]
    [InlineData("http://127.0.0.1:5000/api", true)]
    [InlineData("http://127.0.0.1:5001/api", false)]
    [InlineData("http://localhost:5000/api", false)]
    public void MayReceiveToken_LoopbackPortal_AllowsPlainHttpOnItsOwnPort(string address, bool expected)
    {
        Assert.Equal(expected, Create("http://127.0.0.1:5000").MayReceiveToken(new Uri(address)));
    }

    [Theory]
    [InlineData("http://[::1]:5000/api", true)]
    [InlineData("http://[::2]:5000/api", false)]
    [InlineData("http://127.0.0.1:5000/api", false)]
    public void MayReceiveToken_Ipv6LoopbackPortal_MatchesItsOwnAddress(string address, bool expected)
    {
        Assert.Equal(expected, Create("http://[::1]:5000").MayReceiveToken(new Uri(address)));
    }

    [Fact]
    public void MayReceiveToken_RelativeOrMissingAddress_IsFalse()
    {
        var endpoints = Create("myorg.outsystems.dev");

        Assert.False(endpoints.MayReceiveToken(null));
        Assert.False(endpoints.MayReceiveToken(new Uri("/api/users", UriKind.Relative)));
    }
}
